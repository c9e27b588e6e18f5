// Loading Gateway API YAML: the conformance manifests and Istio's samples load without errors, the two
// kinds named Gateway stay apart, and mistakes the API server would reject are reported at their line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadPaths, parseDocuments } from '../load.js';
import { fixture } from '../testing.js';
import { formatProblem, resourceKey, type ConfigProblem } from '../types.js';

const errors = (ps: ConfigProblem[]) => ps.filter((p) => p.severity === 'error');
const show = (ps: ConfigProblem[]) => ps.map(formatProblem).join('\n');

async function yamlFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.yaml')).map((f) => path.join(dir, f));
}

test('conformance and Istio Gateway API manifests load without errors, one file at a time', async () => {
  const files = [
    fixture('gateway-api/base-manifests.yaml'),
    ...(await yamlFiles(fixture('gateway-api/tests'))),
    ...(await yamlFiles(fixture('gateway-api/mesh'))),
    ...(await yamlFiles(fixture('istio-bookinfo/gateway-api'))),
    fixture('istio-validation/gateway-api-translation/http.yaml'),
  ];
  assert.ok(files.length > 40, `${files.length} files`);
  let routes = 0;
  for (const f of files) {
    const { resources, problems } = parseDocuments(await readFile(f, 'utf8'), f);
    assert.deepEqual(errors(problems), [], show(problems));
    // Only kinds Weft does not model are skipped: Namespace, Deployment, GatewayClass, InferencePool...
    for (const w of problems)
      assert.doesNotMatch(w.message, /^(Gateway|HTTPRoute|GRPCRoute|ReferenceGrant) \(/);
    routes += resources.filter((r) => r.kind === 'HTTPRoute').length;
  }
  assert.ok(routes > 50, `${routes} HTTPRoutes`);
});

test('the Gateway API Gateway is stored as KubernetesGateway, Istio Gateway stays Gateway', async () => {
  const { resources, problems } = await loadPaths([
    fixture('gateway-api/base-manifests.yaml'),
    fixture('istio-bookinfo/bookinfo-gateway.yaml'),
  ]);
  assert.deepEqual(errors(problems), [], show(problems));
  const kinds = resources.filter((r) => r.kind.endsWith('Gateway')).map((r) => `${r.kind} ${r.apiVersion}`);
  assert.ok(kinds.includes('Gateway networking.istio.io/v1'), kinds.join('\n'));
  assert.ok(kinds.includes('KubernetesGateway gateway.networking.k8s.io/v1'), kinds.join('\n'));
  const same = parseDocuments(
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec: { selector: { istio: ingressgateway }, servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }] }
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata: { name: gw, creationTimestamp: "2024-05-01T10:00:00Z" }
spec: { gatewayClassName: istio, listeners: [{ name: http, port: 80, protocol: HTTP }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: KubernetesGateway
metadata: { name: again }
spec: { gatewayClassName: weft, listeners: [{ name: http, port: 8081, protocol: HTTP }] }`,
    'both.yaml',
  );
  assert.deepEqual(same.problems, [], show(same.problems));
  assert.deepEqual(same.resources.map(resourceKey), [
    'Gateway/default/gw',
    'KubernetesGateway/default/gw',
    'KubernetesGateway/default/again',
  ]);
  const k8s = same.resources[1];
  assert.ok(k8s?.kind === 'KubernetesGateway');
  assert.equal(k8s.metadata.creationTimestamp, '2024-05-01T10:00:00Z');
});

/** Problems for one document, as "line: field: message". */
function problemsOf(yaml: string): string[] {
  return parseDocuments(yaml, 'bad.yaml').problems.map((p) => `${p.line}: ${p.field ?? ''}: ${p.message}`);
}

test('mistakes are reported at their line, for both Gateway kinds', () => {
  assert.deepEqual(
    problemsOf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  gatewayClassName: weft
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    hostnme: example.com`),
    ['10: spec.listeners[0].hostnme: unknown field "hostnme" (did you mean "hostname"?)'],
  );
  assert.deepEqual(
    problemsOf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hots: ["*"]`),
    [
      '7: spec.servers[0].hosts: missing required field "hosts"',
      '8: spec.servers[0].hots: unknown field "hots" (did you mean "hosts"?)',
    ],
  );
});

test('HTTPRoute checks from the CRD: paths, redirects with backends, prefix rewrites, ports, durations', () => {
  const route = (rules: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: gw }]
  rules:
${rules}`;
  assert.deepEqual(problemsOf(route(`  - matches: [{ path: { type: PathPrefix, value: foo } }]`)), [
    "7: spec.rules[0].matches[0].path.value: must be an absolute path and start with '/'",
  ]);
  assert.deepEqual(
    problemsOf(
      route(`  - filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org } }]
    backendRefs: [{ name: svc, port: 80 }]`),
    ),
    ['7: spec.rules[0].filters: a RequestRedirect filter must not be used together with backendRefs'],
  );
  assert.deepEqual(
    problemsOf(
      route(`  - matches: [{ path: { type: Exact, value: /a } }]
    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }]
    backendRefs: [{ name: svc, port: 80 }]`),
    ),
    [
      '7: spec.rules[0].matches: with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
    ],
  );
  assert.deepEqual(problemsOf(route(`  - backendRefs: [{ name: svc }]`)), [
    '7: spec.rules[0].backendRefs[0].port: is required when referring to a Service',
  ]);
  assert.deepEqual(problemsOf(route(`  - timeouts: { request: 1s, backendRequest: 2s }`)), [
    '7: spec.rules[0].timeouts: backendRequest timeout cannot be longer than request timeout',
  ]);
  assert.deepEqual(problemsOf(route(`  - timeouts: { request: 1.5s }`)), [
    '7: spec.rules[0].timeouts.request: must be a Gateway API duration such as "10s", "500ms" or "1h30m" (got "1.5s")',
  ]);
  assert.deepEqual(problemsOf(route(`  - filters: [{ type: RequestHeaderModifier }]`)), [
    '7: spec.rules[0].filters[0].requestHeaderModifier: is required when type is RequestHeaderModifier',
  ]);
});

test('GRPCRoute checks: a method match needs a service or a method, with valid names', () => {
  const grpc = (match: string) => `apiVersion: gateway.networking.k8s.io/v1alpha2
kind: GRPCRoute
metadata: { name: g }
spec:
  rules:
  - matches: [{ method: ${match} }]`;
  assert.deepEqual(problemsOf(grpc('{ service: grpc.Echo, method: Ping }')), []);
  assert.deepEqual(problemsOf(grpc('{ type: Exact }')), [
    '6: spec.rules[0].matches[0].method: one or both of service or method must be set',
  ]);
  assert.deepEqual(problemsOf(grpc('{ method: "not a name" }')), [
    '6: spec.rules[0].matches[0].method.method: must be a valid gRPC method name (got "not a name")',
  ]);
});
