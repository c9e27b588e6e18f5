// weft analyze on Telemetry: providers that export nothing, overrides Weft keeps but cannot act on, and
// tag values that do not parse refused at load with their field, and those naming attributes Weft lacks
// warned about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from './load.js';
import { analyze } from './analyze.js';

const MESH = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  extensionProviders:
  - name: sd
    stackdriver: {}
  - name: prom2
    prometheus: {}
---
`;
const telemetry = (metrics: string) => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: t, namespace: istio-system }
spec:
  metrics:
${metrics}`;

function findings(yaml: string): string[] {
  const { resources, problems } = parseDocuments(yaml, 'mesh.yaml');
  assert.deepEqual(problems, []);
  return analyze(resources)
    .filter((p) => p.kind === 'Telemetry')
    .map((p) => `${p.severity} ${p.field}: ${p.message}`);
}

test('metrics providers: prometheus ones are fine, others and unknown names are warned about', () => {
  assert.deepEqual(findings(MESH + telemetry('  - providers: [{ name: prometheus }, { name: prom2 }]')), []);
  const got = findings(MESH + telemetry('  - providers: [{ name: sd }, { name: nope }]'));
  assert.equal(got.length, 2, got.join('\n'));
  assert.match(got[0]!, /^warning spec\.metrics\[0\]\.providers\[0\]\.name: .*kind stackdriver/);
  assert.match(
    got[1]!,
    /^warning spec\.metrics\[0\]\.providers\[1\]\.name: .*neither the built-in prometheus/,
  );
});

test('overrides of metrics Weft does not export are warned about', () => {
  const got = findings(
    MESH +
      telemetry(`  - overrides:
    - match: { customMetric: my_metric }
      disabled: true
    - match: { metric: GRPC_REQUEST_MESSAGES }
      disabled: true
    - match: { metric: REQUEST_COUNT }
      disabled: true`),
  );
  assert.equal(got.length, 2, got.join('\n'));
  assert.match(got[0]!, /overrides\[0\]\.match\.customMetric: customMetric "my_metric"/);
  assert.match(got[1]!, /overrides\[1\]\.match\.metric: GRPC_REQUEST_MESSAGES/);
});

test('a tag value that does not parse, or a tag that is no label name, is refused at its field', () => {
  const { problems } = parseDocuments(
    telemetry(`  - overrides:
    - tagOverrides:
        ok: { value: "request.headers['x-user']" }
        peer: { value: "upstream_peer.labels['app'].value" }
        broken: { value: "request.host ==" }
        bad-name: { value: request.host }
        empty: {}`),
    'mesh.yaml',
  );
  const got = problems.map((p) => `${p.file}:${p.line} ${p.field}: ${p.message} [${p.code}]`);
  assert.equal(got.length, 3, got.join('\n'));
  assert.match(
    got.join('\n'),
    /mesh\.yaml:\d+ spec\.metrics\[0\]\.overrides\[0\]\.tagOverrides\.broken\.value: value /,
  );
  assert.match(got.join('\n'), /tagOverrides\.bad-name: "bad-name" is not a Prometheus label name/);
  assert.match(got.join('\n'), /tagOverrides\.empty\.value: value must be set/);
});

test('a tag value naming an attribute Weft lacks loads (as in Istio, it is exported as "unknown"); analyze says so', () => {
  const got = findings(
    telemetry(`  - overrides:
    - tagOverrides:
        ok: { value: "request.headers['x-user']" }
        peer: { value: "upstream_peer.labels['app'].value" }
        gone: { operation: REMOVE }`),
  );
  assert.equal(got.length, 1, got.join('\n'));
  assert.match(
    got[0]!,
    /^warning spec\.metrics\[0\]\.overrides\[0\]\.tagOverrides\.peer\.value: tag peer is exported as "unknown" for every request: unknown attribute upstream_peer/,
  );
});
