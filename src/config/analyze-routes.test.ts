// Unreachable rules, Gateways without routes: line, field and wording. Istio's own analyzer test data
// (expected.json) for these checks is analyze-istio.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from './analyze.js';
import { parseDocuments } from './load.js';
import { formatProblem, type Resource } from './types.js';

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

test('a rule after a catch-all is unreachable, with the line and a plain reason', () => {
  const problems = analyze(
    parse(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
`),
  ).filter((p) => p.code === 'WEFT_ERR_ANALYZE_UNREACHABLE_RULE');
  assert.equal(problems.length, 1);
  const p = problems[0]!;
  assert.equal(p.severity, 'warning');
  assert.equal(p.field, 'spec.http[1]');
  assert.equal(p.line, 8);
  assert.match(p.message, /http rule #1 is never used \(rule #0 before it has no matches/);
});

test('a Gateway no VirtualService binds is reported; binding it by ns/name clears the warning', () => {
  const gw = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
`;
  const unbound = analyze(parse(gw)).filter((p) => p.code === 'WEFT_ERR_ANALYZE_GATEWAY_NO_ROUTES');
  assert.equal(unbound.length, 1);
  assert.match(unbound[0]!.message, /Gateway istio-system\/edge has no routes/);
  const vs = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [istio-system/edge]
  http: [{route: [{destination: {host: web}}]}]
`;
  assert.deepEqual(
    analyze(parse(gw + vs)).filter((p) => p.code === 'WEFT_ERR_ANALYZE_GATEWAY_NO_ROUTES'),
    [],
  );
});
