// weft analyze on connectionPool fields Weft accepts but cannot act on: tcpKeepalive's interval and probes,
// in a DestinationRule (rule, port, subset) and in MeshConfig, each with its field and line.
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

test('tcpKeepalive.time alone is applied and says nothing; interval and probes are warned about where they are', () => {
  assert.deepEqual(
    findings(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r, namespace: default}
spec:
  host: echo
  trafficPolicy:
    connectionPool: {tcp: {tcpKeepalive: {time: 30s}}}
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
        tcp:
          tcpKeepalive:
            interval: 75s
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool: {tcp: {tcpKeepalive: {time: 10s, probes: 3}}}
---
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  tcpKeepalive: {probes: 9}
`);
  assert.equal(got.length, 3, got.join('\n'));
  assert.match(
    got[0]!,
    /^warning 12 DestinationRule spec\.trafficPolicy\.portLevelSettings\[0\]\.connectionPool\.tcp\.tcpKeepalive\.interval: tcpKeepalive\.interval is not applied: Node 20 sends keep-alive probes 1 s apart/,
  );
  assert.match(
    got[1]!,
    /^warning 17 DestinationRule spec\.subsets\[0\]\.trafficPolicy\.connectionPool\.tcp\.tcpKeepalive\.probes: /,
  );
  assert.match(
    got[2]!,
    /^warning 23 MeshConfig spec\.tcpKeepalive\.probes: tcpKeepalive\.probes is not applied/,
  );
});
