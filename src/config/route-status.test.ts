// Route status as `weft get httproute X -o yaml` shows it: Accepted and ResolvedRefs per parentRef with
// the spec's reasons, on the conformance manifests and on Istio's own invalid-route cases (whose expected
// statuses are in ../shared/fixtures/istio-validation/gateway-api-translation/invalid.status.yaml.golden).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { GatewayApiRoute } from './gateway-api-types.js';
import { loadPaths, parseDocuments } from './load.js';
import { routeStatus, withRouteStatus } from './route-status.js';
import { fixture } from './testing.js';
import { formatProblem, type Resource } from './types.js';

async function load(...paths: string[]): Promise<Resource[]> {
  const { resources, problems } = await loadPaths(paths);
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(
    problems.filter((p) => p.severity === 'error'),
    [],
    problems.map(formatProblem).join('\n'),
  );
  return resources;
}

const route = (rs: Resource[], name: string) => {
  const r = rs.find(
    (x): x is GatewayApiRoute =>
      (x.kind === 'HTTPRoute' || x.kind === 'GRPCRoute') && x.metadata.name === name,
  );
  assert.ok(r, name);
  return r;
};

/** "Accepted:True:Accepted ResolvedRefs:False:BackendNotFound" for each parent, for compact asserts. */
const summary = (rs: Resource[], name: string) =>
  routeStatus(route(rs, name), rs).parents.map((p) =>
    p.conditions.map((c) => `${c.type}:${c.status}:${c.reason}`).join(' '),
  );

const OK = 'Accepted:True:Accepted ResolvedRefs:True:ResolvedRefs';

test('conformance routes: valid routes are Accepted with all references resolved', async () => {
  const rs = await load(
    fixture('gateway-api/base-manifests.yaml'),
    fixture('gateway-api/tests/httproute-matching.yaml'),
  );
  const status = routeStatus(route(rs, 'matching'), rs);
  assert.deepEqual(status.parents[0]?.parentRef, { name: 'same-namespace' });
  assert.equal(status.parents[0]?.controllerName, 'weft.dev/gateway-controller');
  assert.deepEqual(summary(rs, 'matching'), [OK]);
});

test('a backendRef to a Service that does not exist: ResolvedRefs False, BackendNotFound', async () => {
  const rs = await load(
    fixture('gateway-api/base-manifests.yaml'),
    fixture('gateway-api/tests/httproute-invalid-nonexistent-backendref.yaml'),
  );
  assert.deepEqual(summary(rs, 'invalid-nonexistent-backend-ref'), [
    'Accepted:True:Accepted ResolvedRefs:False:BackendNotFound',
  ]);
  const msg = routeStatus(route(rs, 'invalid-nonexistent-backend-ref'), rs).parents[0]!.conditions[1]!
    .message;
  assert.match(
    msg,
    /spec\.rules\[0\]\.backendRefs\[0\]: backend\(nonexistent\.gateway-conformance-infra\.svc\.cluster\.local\) not found/,
  );
});

test('parents: missing listener, namespace not allowed, no hostname in common, Service parents', async () => {
  const base = await load(fixture('gateway-api/base-manifests.yaml'));
  const rs = [
    ...base,
    ...parse(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: other-ns, namespace: gateway-conformance-web-backend }
spec:
  parentRefs:
  - { name: same-namespace, namespace: gateway-conformance-infra }
  - { name: all-namespaces, namespace: gateway-conformance-infra }
  - { name: all-namespaces, namespace: gateway-conformance-infra, sectionName: nope }
  - { name: all-namespaces, namespace: gateway-conformance-infra, port: 8443 }
  - { name: missing, namespace: gateway-conformance-infra }
  - { group: "", kind: Service, name: web-backend, port: 8080 }
  - { group: "", kind: Service, name: web-backend, port: 9999 }
  - { group: networking.istio.io, kind: ServiceEntry, name: se }
  rules: [{ backendRefs: [{ name: web-backend, port: 8080 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: wrong-host, namespace: gateway-conformance-infra }
spec:
  parentRefs: [{ name: same-namespace-with-https-listener, sectionName: https-with-hostname }]
  hostnames: [other.example.org]
  rules: [{ backendRefs: [{ name: infra-backend-v1, port: 8080 }] }]
`),
  ];
  const accepted = (name: string) =>
    routeStatus(route(rs, name), rs).parents.map(
      (p) => `${p.conditions[0]!.reason}: ${p.conditions[0]!.message}`,
    );
  assert.deepEqual(accepted('other-ns'), [
    'NotAllowedByListeners: no listener of gateway gateway-conformance-infra/same-namespace allows this HTTPRoute',
    'Accepted: Route was valid',
    'NoMatchingParent: sectionName "nope" not found',
    'NoMatchingParent: port 8443 not found',
    'NoMatchingParent: gateway gateway-conformance-infra/missing not found',
    'Accepted: Route was valid',
    'NoMatchingParent: port 9999 not found on service gateway-conformance-web-backend/web-backend',
    'NoMatchingParent: unsupported parentRef: group "networking.istio.io" kind "ServiceEntry"',
  ]);
  assert.deepEqual(accepted('wrong-host'), [
    'NoMatchingListenerHostname: no hostnames matched parent hostname "second-example.org"',
  ]);
});

test('cross-namespace backendRefs need a ReferenceGrant in the target namespace (RefNotPermitted)', async () => {
  const base = await load(fixture('gateway-api/base-manifests.yaml'));
  const routeYaml = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cross, namespace: gateway-conformance-infra }
spec:
  parentRefs: [{ name: same-namespace }]
  rules: [{ backendRefs: [{ name: web-backend, namespace: gateway-conformance-web-backend, port: 8080 }] }]`;
  const without = [...base, ...parse(routeYaml)];
  assert.deepEqual(summary(without, 'cross'), ['Accepted:True:Accepted ResolvedRefs:False:RefNotPermitted']);
  const grant = `
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: allow, namespace: gateway-conformance-web-backend }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: gateway-conformance-infra }]
  to: [{ group: "", kind: Service }]`;
  assert.deepEqual(summary([...base, ...parse(routeYaml + grant)], 'cross'), [OK]);
  // A grant for GRPCRoutes, or for another Service name, does not cover this reference.
  const narrow = grant.replace('kind: HTTPRoute', 'kind: GRPCRoute');
  assert.deepEqual(summary([...base, ...parse(routeYaml + narrow)], 'cross'), [
    'Accepted:True:Accepted ResolvedRefs:False:RefNotPermitted',
  ]);
  const otherName = grant.replace('kind: Service }', 'kind: Service, name: other }');
  assert.deepEqual(summary([...base, ...parse(routeYaml + otherName)], 'cross'), [
    'Accepted:True:Accepted ResolvedRefs:False:RefNotPermitted',
  ]);
});

// Where Weft differs from Istio on purpose: Istio accepts a Service parent it cannot find yet (it may come
// from a ServiceEntry), and backend kinds Istio has (Hostname, ServiceImport) are InvalidKind to Weft.
const ISTIO_ONLY = new Set([
  'invalid-parentref-service',
  'invalid-backendref-hostname',
  'invalid-backendref-serviceimport',
]);

test("Istio's invalid routes: the same Accepted and ResolvedRefs reasons as Istio's golden status", async () => {
  const dir = 'istio-validation/gateway-api-translation';
  // Istio's test names are not valid Kubernetes names (upper case); lower-case them on both sides.
  const lower = (t: string) =>
    t.replace(/name: (invalid-[A-Za-z-]+)/g, (_m, n: string) => `name: ${n.toLowerCase()}`);
  const { resources } = parseDocuments(
    lower(await readFile(fixture(dir, 'invalid.yaml'), 'utf8')),
    'invalid.yaml',
  );
  const services = ['httpbin', 'httpbin-other']
    .map((n) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${n} }\nspec: { ports: [{ port: 80 }] }`)
    .join('\n---\n');
  const rs = [...resources, ...parse(services)];
  const golden = parseAllDocuments(lower(await readFile(fixture(dir, 'invalid.status.yaml.golden'), 'utf8')));
  let compared = 0;
  for (const doc of golden) {
    const g = doc.toJS() as null | {
      kind: string;
      metadata: { name: string };
      status: { parents: Array<{ conditions: Array<{ type: string; reason: string }> }> };
    };
    if (g?.kind !== 'HTTPRoute') continue;
    const r = rs.find((x) => x.kind === 'HTTPRoute' && x.metadata.name === g.metadata.name);
    if (!r || ISTIO_ONLY.has(g.metadata.name)) continue;
    const want = g.status.parents.map((p) => p.conditions.map((c) => `${c.type}:${c.reason}`).join(' '));
    const got = routeStatus(r as GatewayApiRoute, rs).parents.map((p) =>
      p.conditions.map((c) => `${c.type}:${c.reason}`).join(' '),
    );
    assert.deepEqual(got, want, g.metadata.name);
    compared++;
  }
  assert.ok(compared >= 8, `compared ${compared} routes`);
});

test('withRouteStatus: the admin API adds status to routes and Gateway API Gateways only', async () => {
  const rs = await load(
    fixture('gateway-api/base-manifests.yaml'),
    fixture('gateway-api/tests/httproute-matching.yaml'),
  );
  const out = withRouteStatus(rs, rs);
  const routes = out.filter((r) => r.kind === 'HTTPRoute');
  assert.ok(routes.every((r) => r.status && 'parents' in r.status && r.status.parents.length === 1));
  const gateways = out.filter((r) => r.kind === 'KubernetesGateway');
  assert.ok(gateways.length > 0 && gateways.every((r) => r.status && 'listeners' in r.status));
  assert.ok(
    out
      .filter((r) => r.kind !== 'HTTPRoute' && r.kind !== 'KubernetesGateway')
      .every((r) => r.status === undefined),
  );
});
