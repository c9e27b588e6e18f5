// weft analyze on connectionPool fields Weft accepts but cannot act on (http.maxConcurrentStreams), in a
// DestinationRule (rule, port, subset), each with its field and line; tcpKeepalive, applied in full, says
// nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from './load.js';
import { analyze } from './analyze.js';

function findings(yaml: string): string[] {
  const { resources, problems } = parseDocuments(yaml, 'pool.yaml');
  assert.deepEqual(problems, []);
  return analyze(resources)
    .filter((p) => p.code === 'WEFT_ERR_ANALYZE_FIELD_NO_EFFECT')
    .map((p) => `${p.severity} ${p.line} ${p.kind} ${p.field}: ${p.message}`);
}

test('tcpKeepalive (time, interval, probes) says nothing; maxConcurrentStreams is warned about where it is', () => {
  assert.deepEqual(
    findings(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r, namespace: default}
spec:
  host: echo
  trafficPolicy:
    connectionPool: {tcp: {tcpKeepalive: {time: 30s, interval: 75s, probes: 9}}, http: {http2MaxRequests: 10}}
`),
    [],
  );
  const got = findings(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r, namespace: default}
spec:
  host: echo
  trafficPolicy:
    portLevelSettings:
    - port: {number: 8080}
      connectionPool:
        http:
          maxConcurrentStreams: 100
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool: {http: {maxConcurrentStreams: 10}}
`);
  assert.equal(got.length, 2, got.join('\n'));
  assert.match(
    got[0]!,
    /^warning 11 DestinationRule spec\.trafficPolicy\.portLevelSettings\[0\]\.connectionPool\.http\.maxConcurrentStreams: http\.maxConcurrentStreams is not applied: Weft does not cap/,
  );
  assert.match(
    got[1]!,
    /^warning 16 DestinationRule spec\.subsets\[0\]\.trafficPolicy\.connectionPool\.http\.maxConcurrentStreams: /,
  );
});
