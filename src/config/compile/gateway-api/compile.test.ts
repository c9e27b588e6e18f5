// Gateway API beyond the ingress conformance cases: GAMMA mesh routes on sidecars (bookinfo's HTTPRoutes,
// the conformance mesh manifests), VirtualService precedence, GRPCRoute, hostname intersection, and the
// filters of Istio's own translation test input (pilot/pkg/config/kube/gateway/testdata/http.yaml).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Route, RouteAction, VirtualHost } from '../../../model/snapshot.js';
import { RouteTable } from '../../../proxy/http/router.js';
import { loadPaths, parseDocuments } from '../../load.js';
import { fixture } from '../../testing.js';
import { formatProblem, type Resource } from '../../types.js';
import { MeshIndex } from '../inputs.js';
import { gatewayListeners, sidecarVirtualHosts } from '../virtual-hosts.js';

const INGRESS = { istio: 'ingressgateway' };
const BOOKINFO = ['platform-kube/bookinfo.yaml', 'platform-kube/bookinfo-versions.yaml'].map((f) =>
  fixture('istio-bookinfo', f),
);

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

const sidecar = (rs: Resource[], ns = 'default') => sidecarVirtualHosts(new MeshIndex(rs, []), ns, {});
const ingress = (rs: Resource[]) => gatewayListeners(new MeshIndex(rs, []), INGRESS);
const vhost = (vhs: VirtualHost[], name: string) => {
  const v = vhs.find((x) => x.name === name);
  assert.ok(v, `no vhost ${name} in ${vhs.map((x) => x.name).join(', ')}`);
  return v;
};
const forward = (a: RouteAction | undefined) => {
  assert.ok(a?.kind === 'forward', JSON.stringify(a));
  return a;
};
const shortClusters = (r: Route) =>
  forward(r.action).clusters.map(
    (c) => `${c.cluster.split('|')[3]?.split('.')[0] ?? ''}=${c.weight}${c.status ? `/${c.status}` : ''}`,
  );

function find(vhs: VirtualHost[], host: string, path: string, headers: Record<string, string> = {}) {
  const vh = new RouteTable(vhs).findHost(host);
  if (!vh) return undefined;
  return RouteTable.findRoute(vh, {
    method: 'GET',
    path,
    query: '',
    scheme: 'http',
    authority: host,
    headers,
  })?.route;
}

test('bookinfo route-reviews-90-10: the reviews service splits 90/10 between reviews-v1 and reviews-v2', async () => {
  const rs = await load(...BOOKINFO, fixture('istio-bookinfo/gateway-api/route-reviews-90-10.yaml'));
  const reviews = vhost(sidecar(rs), 'reviews.default.svc.cluster.local:9080');
  assert.deepEqual(reviews.routes.map(shortClusters), [['reviews-v1=90', 'reviews-v2=10']]);
  assert.equal(
    forward(reviews.routes[0]!.action).retry,
    undefined,
    'Gateway API routes get no default retries',
  );
  assert.deepEqual(reviews.routes[0]!.matches, [{ path: { segmentPrefix: '/' } }]);
  // Other services keep their default route.
  assert.equal(vhost(sidecar(rs), 'ratings.default.svc.cluster.local:9080').routes[0]!.name, 'default');
});

test('bookinfo: every Gateway API sample compiles; the Gateway serves productpage on port 80', async () => {
  for (const f of ['route-all-v1', 'route-reviews-50-v3', 'route-reviews-v1', 'route-reviews-v3']) {
    const rs = await load(...BOOKINFO, fixture(`istio-bookinfo/gateway-api/${f}.yaml`));
    const routes = sidecar(rs).flatMap((v) => v.routes);
    assert.ok(
      routes.some((r) => r.name.startsWith('HTTPRoute/default/')),
      f,
    );
  }
  const rs = await load(...BOOKINFO, fixture('istio-bookinfo/gateway-api/bookinfo-gateway.yaml'));
  const l = ingress(rs).find((x) => x.port === 80);
  assert.ok(l && l.bind === '127.0.0.1', JSON.stringify(ingress(rs)));
  assert.equal(
    find(l.virtualHosts, 'localhost', '/productpage')?.name,
    'HTTPRoute/default/bookinfo#rules[0]',
  );
  assert.equal(
    find(l.virtualHosts, 'localhost', '/static/x.css')?.name,
    'HTTPRoute/default/bookinfo#rules[0]',
  );
  assert.equal(find(l.virtualHosts, 'localhost', '/productpage/x'), undefined, 'Exact /productpage');
  assert.deepEqual(shortClusters(find(l.virtualHosts, 'localhost', '/login')!), ['productpage=1']);
  // Only the ingress gateway serves Gateway API Gateways.
  assert.deepEqual(gatewayListeners(new MeshIndex(rs, []), { istio: 'egressgateway' }), []);
});

test('a VirtualService for the same host wins over a GAMMA HTTPRoute (Istio precedence)', async () => {
  const rs = await load(
    ...BOOKINFO,
    fixture('istio-bookinfo/gateway-api/route-reviews-90-10.yaml'),
    fixture('istio-bookinfo/virtual-service-reviews-v3.yaml'),
  );
  const reviews = vhost(sidecar(rs), 'reviews.default.svc.cluster.local:9080');
  assert.ok(
    reviews.routes.every((r) => r.name.startsWith('VirtualService/')),
    reviews.routes[0]?.name,
  );
});

test('GAMMA: consumer routes apply to their own namespace only; producer routes to everyone else', async () => {
  const mesh = fixture('gateway-api/mesh/mesh-manifests.yaml');
  const rs = await load(mesh, fixture('gateway-api/mesh/mesh-consumer-route.yaml'));
  const name = 'echo-v1.gateway-conformance-mesh.svc.cluster.local:80';
  const consumer = vhost(sidecar(rs, 'gateway-conformance-mesh-consumer'), name).routes;
  assert.equal(
    consumer[0]?.name,
    'HTTPRoute/gateway-conformance-mesh-consumer/mesh-echo-add-header#rules[0]',
  );
  assert.deepEqual(consumer[0]?.responseHeaders, { set: [['x-header-set', 'set']] });
  // Its backend is its parent Service in another namespace: allowed without a ReferenceGrant.
  assert.deepEqual(shortClusters(consumer[0]!), ['echo-v1=1']);
  assert.equal(vhost(sidecar(rs, 'gateway-conformance-mesh'), name).routes[0]?.name, 'default');

  const split = await load(mesh, fixture('gateway-api/mesh/mesh-split.yaml'));
  const echo = vhost(
    sidecar(split, 'elsewhere'),
    'echo.gateway-conformance-mesh.svc.cluster.local:80',
  ).routes;
  assert.deepEqual(
    echo.map((r) => r.matches[0]?.path),
    [{ exact: '/v1' }, { exact: '/v2' }],
  );
  assert.deepEqual(echo.map(shortClusters), [['echo-v1=1'], ['echo-v2=1']]);
  // No port in the parentRef: every port of the Service takes the route.
  const alt = vhost(
    sidecar(split, 'elsewhere'),
    'echo.gateway-conformance-mesh.svc.cluster.local:8080',
  ).routes;
  assert.equal(alt[0]?.name, 'HTTPRoute/gateway-conformance-mesh/mesh-split#rules[0]');
});

test('GAMMA: a parentRef port narrows the route to that Service port', async () => {
  const rs = await load(
    fixture('gateway-api/mesh/mesh-manifests.yaml'),
    fixture('gateway-api/mesh/mesh-ports.yaml'),
  );
  const vhs = sidecar(rs, 'gateway-conformance-mesh');
  const v1 = (port: number) =>
    vhost(vhs, `echo-v1.gateway-conformance-mesh.svc.cluster.local:${port}`).routes[0]!;
  assert.deepEqual(v1(80).responseHeaders, { set: [['x-header-set', 'v1']] });
  assert.equal(v1(8080).name, 'default');
  const v2 = vhost(vhs, 'echo-v2.gateway-conformance-mesh.svc.cluster.local:8080').routes[0]!;
  assert.deepEqual(v2.responseHeaders, { set: [['x-header-set', 'v2']] });
});

test('hostname intersection: route hostnames are cut down to what the listener accepts', async () => {
  const rs = await load(
    fixture('gateway-api/base-manifests.yaml'),
    fixture('gateway-api/tests/httproute-hostname-intersection.yaml'),
  );
  const vhs = ingress(rs).find((l) => l.port === 80)!.virtualHosts;
  const backend = (host: string, path: string) => {
    const r = find(vhs, host, path);
    return r ? shortClusters(r).join() : '404';
  };
  assert.equal(backend('very.specific.com', '/s1'), 'infra-backend-v1=1');
  assert.equal(backend('non.matching.com', '/s1'), '404');
  assert.equal(backend('foo.wildcard.io', '/s2'), 'infra-backend-v2=1');
  assert.equal(backend('foo.bar.wildcard.io', '/s2'), 'infra-backend-v2=1');
  assert.equal(backend('wildcard.io', '/s2'), '404');
  assert.equal(backend('very.specific.com', '/s3'), 'infra-backend-v3=1');
  assert.equal(backend('anything.anotherwildcard.io', '/s4'), 'infra-backend-v1=1');
  assert.equal(backend('specific.but.wrong.com', '/s5'), '404');
  assert.equal(backend('sub.second.com', '/'), 'infra-backend-v2=1');
});

test('GRPCRoute: method matches become paths; headers and backends as for HTTPRoute', () => {
  const rs = parse(`
apiVersion: v1
kind: Service
metadata: { name: echo }
spec: { ports: [{ port: 7070, name: grpc }], selector: { app: echo } }
---
apiVersion: v1
kind: Service
metadata: { name: echo-v2 }
spec: { ports: [{ port: 7070, name: grpc }], selector: { app: echo, version: v2 } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 7070 }]
  rules:
  - matches: [{ method: { service: grpc.testing.TestService } }]
    backendRefs: [{ name: echo-v2, port: 7070 }]
  - matches: [{ method: { service: grpc.testing.TestService, method: UnaryCall }, headers: [{ name: X-Test, value: a }] }]
    backendRefs: [{ name: echo, port: 7070 }]
  - matches: [{ method: { type: RegularExpression, method: "Stream.*" } }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-via, value: grpc }] } }]
    backendRefs: [{ name: echo, port: 7070 }]
`);
  const routes = vhost(sidecar(rs), 'echo.default.svc.cluster.local:7070').routes;
  assert.deepEqual(
    routes.map((r) => r.matches[0]),
    [
      {
        path: { exact: '/grpc.testing.TestService/UnaryCall' },
        headers: [{ name: 'x-test', match: { exact: 'a' } }],
      },
      { path: { prefix: '/grpc.testing.TestService/' } },
      { path: { regex: '/[^/]+/(?:Stream.*)' } },
    ],
  );
  assert.deepEqual(routes[2]!.requestHeaders, { set: [['x-via', 'grpc']] });
  assert.deepEqual(routes.map(shortClusters), [['echo=1'], ['echo-v2=1'], ['echo=1']]);
});

test('matching precedence ties: oldest route first, then namespace/name, then rule order', () => {
  const route = (name: string, created?: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}${created ? `, creationTimestamp: "${created}"` : ''} }
spec:
  parentRefs: [{ group: "", kind: Service, name: svc }]
  rules: [{ matches: [{ path: { value: /a } }], backendRefs: [{ name: svc, port: 80 }] }]
---`;
  const svc = 'apiVersion: v1\nkind: Service\nmetadata: { name: svc }\nspec: { ports: [{ port: 80 }] }\n---';
  const rs = parse(
    [
      svc,
      route('b'),
      route('a'),
      route('z', '2024-01-02T00:00:00Z'),
      route('y', '2024-01-01T00:00:00Z'),
    ].join('\n'),
  );
  const names = vhost(sidecar(rs), 'svc.default.svc.cluster.local:80').routes.map(
    (r) => r.name.split('/')[2],
  );
  assert.deepEqual(names, ['y#rules[0]', 'z#rules[0]', 'a#rules[0]', 'b#rules[0]']);
});

test("Istio's translation input: CORS, retries, timeouts, mirrors, redirects and rewrites", async () => {
  const services = ['httpbin', 'httpbin-second', 'httpbin-mirror', 'httpbin-wildcard'].map(
    (n) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${n} }\nspec: { ports: [{ port: 80 }] }`,
  );
  const rs = [
    ...(await load(fixture('istio-validation/gateway-api-translation/http.yaml'))),
    ...parse(services.join('\n---\n')),
  ];
  const vhs = ingress(rs).find((l) => l.port === 80)!.virtualHosts;
  const at = (host: string, path: string, headers: Record<string, string> = {}) => {
    const r = find(vhs, host, path, headers);
    assert.ok(r, `${host}${path}`);
    return r;
  };
  assert.deepEqual(at('cors.domain.example', '/').cors?.allowOrigins, [
    { regex: 'https://.*\\.xpto\\.com' },
    { exact: 'https://example.com' },
  ]);
  assert.equal(at('cors.domain.example', '/').cors?.maxAgeSeconds, 50);
  const explicit = forward(at('retry.domain.example', '/explicit').action).retry;
  assert.deepEqual(explicit, {
    attempts: 3,
    retryOn: ['connect-failure', 'refused-stream', 'retriable-status-codes'],
    retriableStatusCodes: [503, 429],
    nonIdempotent: false,
    backoffBaseMs: 3,
    backoffMaxMs: 30,
  });
  assert.equal(forward(at('retry.domain.example', '/empty').action).retry?.attempts, 2);
  assert.equal(forward(at('retry.domain.example', '/disable').action).retry, undefined);
  const backend = forward(at('timeout-backend.domain.example', '/get').action);
  assert.equal(backend.timeoutMs, 2);
  assert.equal(backend.retry?.perTryTimeoutMs, 1);
  const redirect = at('redirect.domain.example', '/original/x').action;
  assert.deepEqual(redirect, {
    kind: 'redirect',
    redirect: {
      scheme: 'https',
      port: 8080,
      prefix: { matched: '/original', replacement: '/replacement' },
      status: 302,
    },
  });
  const rewrite = forward(at('first.domain.example', '/prefix-original/a').action).rewrite;
  assert.deepEqual(rewrite, {
    authority: 'new.example.com',
    prefix: { matched: '/prefix-original', replacement: '/replacement' },
  });
  // "mirror" and "redirect" both match everything on *.domain.example: the tie goes to namespace/name.
  const mirrored = at('other.domain.example', '/anything');
  assert.equal(mirrored.name, 'HTTPRoute/default/mirror#rules[0]');
  assert.deepEqual(forward(mirrored.action).mirrors, [
    { cluster: 'outbound|80||httpbin-mirror.default.svc.cluster.local', percentage: 50 },
    { cluster: 'outbound|80||httpbin-second.default.svc.cluster.local', percentage: 80 },
  ]);
  // A route naming the exact host comes before the wildcard ones on that host.
  assert.equal(at('first.domain.example', '/get').name, 'HTTPRoute/default/mirror#rules[0]');
  assert.equal(
    at('first.domain.example', '/get', { 'my-header': 'some-value' }).name,
    'HTTPRoute/default/http#rules[0]',
  );
});

test('backendRefs that cannot be resolved keep their share of traffic and answer 500', async () => {
  const text = (
    await readFile(fixture('istio-validation/gateway-api-translation/invalid.yaml'), 'utf8')
  ).replace(
    /name: (invalid-[A-Za-z-]+)/g,
    (_m, n: string) => `name: ${n.toLowerCase()}`, // Istio's test names are not valid Kubernetes names
  );
  const { resources } = parseDocuments(text, 'invalid.yaml');
  const httpbin = parse(
    'apiVersion: v1\nkind: Service\nmetadata: { name: httpbin }\nspec: { ports: [{ port: 80 }] }',
  );
  const vhs = ingress([...resources, ...httpbin]).find((l) => l.port === 80)!.virtualHosts;
  const mixed = find(vhs, 'third.domain.example', '/');
  assert.deepEqual(shortClusters(mixed!), ['=1/500', 'httpbin=1', '=1/500']);
});
