// The compiler on real config: the bookinfo demo's Services and Workloads, Istio's own bookinfo
// DestinationRules and VirtualServices, and fake registry instances (some ready, some not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadPaths, parseDocuments } from '../load.js';
import { fixture, projectRoot } from '../testing.js';
import { formatProblem, type Resource } from '../types.js';
import type { Cluster, ProxyIdentity, Route, RouteMatch, VirtualHost } from '../../model/snapshot.js';
import { RouteTable, type RequestView } from '../../proxy/http/router.js';
import { MeshIndex, type InstanceView } from './inputs.js';
import { compileSnapshot } from './snapshot.js';

const root = projectRoot();
const SERVICES = path.join(root, 'examples/bookinfo/services.yaml');
const WORKLOADS = path.join(root, 'examples/bookinfo/workloads.yaml');
const GATEWAY = path.join(root, 'examples/bookinfo/gateway.yaml');
const DR_ALL = fixture('istio-bookinfo/destination-rule-all.yaml');
const VS_90_10 = fixture('istio-bookinfo/virtual-service-reviews-90-10.yaml');
const VS_JASON = fixture('istio-bookinfo/virtual-service-reviews-jason-v2-v3.yaml');
const VS_V3 = fixture('istio-bookinfo/virtual-service-reviews-v3.yaml');
const ISTIO_GATEWAY = fixture('istio-bookinfo/bookinfo-gateway.yaml');

const REVIEWS = 'reviews.default.svc.cluster.local';
const PRODUCTPAGE = 'productpage.default.svc.cluster.local';

async function load(...paths: string[]): Promise<Resource[]> {
  const { resources, problems } = await loadPaths(paths);
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

let nextPort = 20000;
function instance(
  app: string,
  version: string,
  n: number,
  ready: boolean,
  over: Partial<InstanceView> = {},
): InstanceView {
  const namespace = over.namespace ?? 'default';
  return {
    id: `${app}-${version}-${n}.${namespace}`,
    workload: `${app}-${version}`,
    namespace,
    labels: { app, version },
    spiffeId: `spiffe://cluster.local/ns/${namespace}/sa/bookinfo-${app}`,
    kind: 'sidecar',
    address: '127.0.0.1',
    inboundPort: nextPort++,
    ready,
    ...over,
  };
}

const reviewsV1a = instance('reviews', 'v1', 0, true);
const reviewsV1b = instance('reviews', 'v1', 1, false);
const reviewsV2 = instance('reviews', 'v2', 0, true);
const reviewsV3 = instance('reviews', 'v3', 0, false);
const productpage = instance('productpage', 'v1', 0, true);
const ratings = instance('ratings', 'v1', 0, true);
// Same labels as reviews, but in another namespace: never an endpoint of default/reviews.
const reviewsElsewhere = instance('reviews', 'v1', 0, true, { namespace: 'staging' });
const ingress: InstanceView = {
  id: 'istio-ingressgateway-0.default',
  workload: 'istio-ingressgateway',
  namespace: 'default',
  labels: { istio: 'ingressgateway', app: 'reviews' }, // a gateway is never a sidecar endpoint
  spiffeId: 'spiffe://cluster.local/ns/default/sa/istio-ingressgateway',
  kind: 'gateway',
  address: '127.0.0.1',
  inboundPort: 19999,
  ready: true,
};
const INSTANCES = [
  reviewsV1a,
  reviewsV1b,
  reviewsV2,
  reviewsV3,
  productpage,
  ratings,
  reviewsElsewhere,
  ingress,
];

function proxyOf(i: InstanceView, serviceAccount = i.spiffeId.split('/').pop()!): ProxyIdentity {
  return {
    id: i.id,
    workload: i.workload,
    namespace: i.namespace,
    serviceAccount,
    spiffeId: i.spiffeId,
    labels: i.labels,
    kind: i.kind,
  };
}

function cluster(clusters: Cluster[], name: string): Cluster {
  const c = clusters.find((x) => x.name === name);
  assert.ok(c, `no cluster ${name}; have ${clusters.map((x) => x.name).join(', ')}`);
  return c;
}

function vhost(vhosts: VirtualHost[], name: string): VirtualHost {
  const v = vhosts.find((x) => x.name === name);
  assert.ok(v, `no virtual host ${name}; have ${vhosts.map((x) => x.name).join(', ')}`);
  return v;
}

function forwardTo(route: Route | undefined): Array<{ cluster: string; weight: number }> {
  assert.ok(route, 'no route');
  assert.equal(route.action.kind, 'forward', JSON.stringify(route.action));
  return route.action.kind === 'forward'
    ? route.action.clusters.map(({ cluster, weight }) => ({ cluster, weight }))
    : [];
}

/** A request as the proxy's router sees it. */
function GET(p: string, authority: string): RequestView {
  return { method: 'GET', path: p, query: '', scheme: 'http', authority, headers: {} };
}

const ids = (c: Cluster) => c.endpoints.map((e) => e.instance).sort();

/** Every match clause of a virtual host with the route that holds it ("*" for a route without matches).
 *  The same whether the compiler emits one route per rule or one per match clause. */
function clauses(vh: VirtualHost): Array<[string, RouteMatch | '*']> {
  return vh.routes.flatMap((r): Array<[string, RouteMatch | '*']> =>
    r.matches.length === 0 ? [[r.name, '*']] : r.matches.map((m): [string, RouteMatch] => [r.name, m]),
  );
}

// ---- clusters ----------------------------------------------------------------------------------------

test('without DestinationRules: one cluster per service port, named as Istio names it', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS), INSTANCES);
  const snap = compileSnapshot(index, proxyOf(productpage));
  assert.deepEqual(snap.clusters.map((c) => c.name).sort(), [
    'outbound|9080||details.default.svc.cluster.local',
    'outbound|9080||productpage.default.svc.cluster.local',
    'outbound|9080||ratings.default.svc.cluster.local',
    'outbound|9080||reviews.default.svc.cluster.local',
  ]);
  const reviews = cluster(snap.clusters, `outbound|9080||${REVIEWS}`);
  assert.equal(reviews.service, REVIEWS);
  assert.equal(reviews.port, 9080);
  assert.equal(reviews.subset, undefined);
  assert.equal(reviews.lbPolicy, 'ROUND_ROBIN');
  assert.equal(reviews.sni, `outbound_.9080_._.${REVIEWS}`);
  // Every reviews sidecar in its namespace, ready or not; not the gateway, not the other namespace.
  assert.deepEqual(ids(reviews), [reviewsV1a.id, reviewsV1b.id, reviewsV2.id, reviewsV3.id].sort());
  assert.deepEqual(cluster(snap.clusters, 'outbound|9080||details.default.svc.cluster.local').endpoints, []);
});

test('endpoints carry the instance address, inbound port, identity and labels; unready is unhealthy', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS), INSTANCES);
  const reviews = cluster(compileSnapshot(index, proxyOf(productpage)).clusters, `outbound|9080||${REVIEWS}`);
  const byId = new Map(reviews.endpoints.map((e) => [e.instance, e]));
  assert.deepEqual(byId.get(reviewsV1a.id), {
    address: '127.0.0.1',
    port: reviewsV1a.inboundPort,
    identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
    instance: reviewsV1a.id,
    labels: { app: 'reviews', version: 'v1' },
    healthy: true,
  });
  assert.equal(byId.get(reviewsV1b.id)?.healthy, false);
  assert.equal(byId.get(reviewsV2.id)?.healthy, true);
  assert.equal(byId.get(reviewsV3.id)?.healthy, false);
});

test('destination-rule-all.yaml: a cluster per subset, holding only the instances with its labels', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS, DR_ALL), INSTANCES);
  const clusters = compileSnapshot(index, proxyOf(productpage)).clusters;
  // details 1+2, ratings 1+4, reviews 1+3, productpage 1+1
  assert.equal(clusters.length, 14, clusters.map((c) => c.name).join('\n'));
  assert.deepEqual(
    clusters.filter((c) => c.service === REVIEWS).map((c) => c.name),
    [
      `outbound|9080||${REVIEWS}`,
      `outbound|9080|v1|${REVIEWS}`,
      `outbound|9080|v2|${REVIEWS}`,
      `outbound|9080|v3|${REVIEWS}`,
    ],
  );
  const v1 = cluster(clusters, `outbound|9080|v1|${REVIEWS}`);
  assert.equal(v1.subset, 'v1');
  assert.equal(v1.sni, `outbound_.9080_.v1_.${REVIEWS}`);
  assert.deepEqual(ids(v1), [reviewsV1a.id, reviewsV1b.id].sort());
  assert.deepEqual(
    v1.endpoints.map((e) => [e.instance, e.healthy]),
    [
      [reviewsV1a.id, true],
      [reviewsV1b.id, false],
    ],
  );
  assert.deepEqual(ids(cluster(clusters, `outbound|9080|v2|${REVIEWS}`)), [reviewsV2.id]);
  const v3 = cluster(clusters, `outbound|9080|v3|${REVIEWS}`);
  assert.deepEqual(
    v3.endpoints.map((e) => [e.instance, e.healthy]),
    [[reviewsV3.id, false]],
  );
  // The service-wide cluster still holds every version.
  assert.equal(cluster(clusters, `outbound|9080||${REVIEWS}`).endpoints.length, 4);
  // Subsets nobody runs are compiled, empty.
  assert.deepEqual(
    cluster(clusters, 'outbound|9080|v2-mysql-vm|ratings.default.svc.cluster.local').endpoints,
    [],
  );
  assert.deepEqual(ids(cluster(clusters, `outbound|9080|v1|${PRODUCTPAGE}`)), [productpage.id]);
});

test('load balancer: subset policy wins over the rule-wide one; LEAST_CONN means LEAST_REQUEST', async () => {
  const dr = parse(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy: { loadBalancer: { simple: LEAST_CONN } }
  subsets:
    - name: v1
      labels: { version: v1 }
      trafficPolicy: { loadBalancer: { simple: RANDOM } }
    - name: v2
      labels: { version: v2 }
    - name: v3
      labels: { version: v3 }
      trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }
`);
  const index = new MeshIndex([...(await load(SERVICES, WORKLOADS)), ...dr], INSTANCES);
  const clusters = compileSnapshot(index, proxyOf(productpage)).clusters;
  assert.equal(cluster(clusters, `outbound|9080||${REVIEWS}`).lbPolicy, 'LEAST_REQUEST');
  assert.equal(cluster(clusters, `outbound|9080|v1|${REVIEWS}`).lbPolicy, 'RANDOM');
  assert.equal(cluster(clusters, `outbound|9080|v2|${REVIEWS}`).lbPolicy, 'LEAST_REQUEST');
  assert.equal(cluster(clusters, `outbound|9080|v3|${REVIEWS}`).lbPolicy, 'ROUND_ROBIN');
});

test('the first DestinationRule for a host wins; a short host is read in the rule namespace', async () => {
  const extra = parse(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews-second }
spec:
  host: reviews
  subsets: [{ name: second, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: staging }
spec:
  host: reviews
  subsets: [{ name: staging-only, labels: { version: v1 } }]
`);
  const index = new MeshIndex([...(await load(SERVICES, DR_ALL)), ...extra], INSTANCES);
  const names = compileSnapshot(index, proxyOf(productpage)).clusters.map((c) => c.name);
  assert.ok(names.includes(`outbound|9080|v3|${REVIEWS}`));
  assert.ok(!names.some((n) => n.includes('|second|')), names.join('\n'));
  // staging/reviews names reviews.staging.svc.cluster.local, a service that does not exist here.
  assert.ok(!names.some((n) => n.includes('staging')), names.join('\n'));
});

test('a service without a selector has clusters with no endpoints', async () => {
  const svc = parse(`
apiVersion: v1
kind: Service
metadata: { name: external }
spec:
  ports: [{ port: 80, name: http }, { port: 443, name: https }]
`);
  const index = new MeshIndex(svc, INSTANCES);
  const clusters = compileSnapshot(index, proxyOf(productpage)).clusters;
  assert.deepEqual(
    clusters.map((c) => [c.name, c.endpoints.length]),
    [
      ['outbound|80||external.default.svc.cluster.local', 0],
      ['outbound|443||external.default.svc.cluster.local', 0],
    ],
  );
});

test('mesh settings: the domain names services and clusters, the trust domain is passed on', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS), INSTANCES, {
    trustDomain: 'example.org',
    domain: 'corp.internal',
  });
  const snap = compileSnapshot(index, proxyOf(productpage));
  assert.equal(snap.trustDomain, 'example.org');
  assert.ok(snap.clusters.some((c) => c.name === 'outbound|9080||reviews.default.svc.corp.internal'));
  const vh = vhost(snap.outbound.virtualHosts, 'reviews.default.svc.corp.internal:9080');
  assert.ok(vh.domains.includes('reviews:9080'));
  assert.ok(vh.domains.includes('reviews.default.svc.corp.internal'));
});

// ---- sidecar virtual hosts -----------------------------------------------------------------------------

test('sidecar: a virtual host per service port with every name a same-namespace client may use', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS, DR_ALL), INSTANCES);
  const snap = compileSnapshot(index, proxyOf(productpage));
  assert.deepEqual(snap.outbound.virtualHosts.map((v) => v.name).sort(), [
    'details.default.svc.cluster.local:9080',
    'productpage.default.svc.cluster.local:9080',
    'ratings.default.svc.cluster.local:9080',
    'reviews.default.svc.cluster.local:9080',
  ]);
  const vh = vhost(snap.outbound.virtualHosts, `${REVIEWS}:9080`);
  assert.deepEqual([...vh.domains].sort(), [
    'reviews',
    'reviews.default',
    'reviews.default.svc',
    'reviews.default.svc.cluster.local',
    'reviews.default.svc.cluster.local:9080',
    'reviews.default.svc:9080',
    'reviews.default:9080',
    'reviews:9080',
  ]);
  // No VirtualService: everything goes to the service-wide cluster.
  assert.equal(vh.routes.length, 1);
  assert.equal(vh.routes[0]!.name, 'default');
  assert.deepEqual(vh.routes[0]!.matches, []);
  assert.deepEqual(forwardTo(vh.routes[0]), [{ cluster: `outbound|9080||${REVIEWS}`, weight: 100 }]);
});

test('sidecar: a client in another namespace does not get the bare short name', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS), INSTANCES);
  const snap = compileSnapshot(index, proxyOf(reviewsElsewhere));
  const vh = vhost(snap.outbound.virtualHosts, `${REVIEWS}:9080`);
  assert.ok(!vh.domains.includes('reviews'), vh.domains.join(' '));
  assert.ok(!vh.domains.includes('reviews:9080'), vh.domains.join(' '));
  assert.ok(vh.domains.includes('reviews.default'));
  assert.ok(vh.domains.includes('reviews.default:9080'));
  assert.ok(vh.domains.includes(`${REVIEWS}:9080`));
});

test('sidecar: only the first port answers to a Host without a port', async () => {
  const svc = parse(`
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports: [{ port: 80, name: http }, { port: 8080, name: http-alt }]
`);
  const snap = compileSnapshot(new MeshIndex(svc, []), proxyOf(productpage));
  const first = vhost(snap.outbound.virtualHosts, 'web.default.svc.cluster.local:80');
  const second = vhost(snap.outbound.virtualHosts, 'web.default.svc.cluster.local:8080');
  assert.ok(first.domains.includes('web') && first.domains.includes('web:80'));
  assert.ok(second.domains.includes('web:8080'));
  assert.ok(!second.domains.includes('web'), second.domains.join(' '));
  assert.deepEqual(forwardTo(second.routes[0]), [
    { cluster: 'outbound|8080||web.default.svc.cluster.local', weight: 100 },
  ]);
});

test('virtual-service-reviews-90-10.yaml: weights 90/10 on the v1 and v2 clusters', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS, DR_ALL, VS_90_10), INSTANCES);
  const snap = compileSnapshot(index, proxyOf(productpage));
  const vh = vhost(snap.outbound.virtualHosts, `${REVIEWS}:9080`);
  assert.equal(vh.routes.length, 1);
  assert.equal(vh.routes[0]!.name, 'VirtualService/default/reviews#http[0]');
  assert.deepEqual(vh.routes[0]!.matches, []);
  assert.deepEqual(forwardTo(vh.routes[0]), [
    { cluster: `outbound|9080|v1|${REVIEWS}`, weight: 90 },
    { cluster: `outbound|9080|v2|${REVIEWS}`, weight: 10 },
  ]);
  // Every route target is a cluster of the same snapshot.
  const names = new Set(snap.clusters.map((c) => c.name));
  for (const wc of forwardTo(vh.routes[0])) assert.ok(names.has(wc.cluster), wc.cluster);
  // Other services keep their default route.
  assert.equal(vhost(snap.outbound.virtualHosts, `${PRODUCTPAGE}:9080`).routes[0]?.name, 'default');
});

test('virtual-service-reviews-jason-v2-v3.yaml: header exact match on end-user, then v3', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS, DR_ALL, VS_JASON), INSTANCES);
  const vh = vhost(compileSnapshot(index, proxyOf(productpage)).outbound.virtualHosts, `${REVIEWS}:9080`);
  assert.equal(vh.routes.length, 2);
  assert.deepEqual(vh.routes[0]!.matches, [{ headers: [{ name: 'end-user', match: { exact: 'jason' } }] }]);
  assert.deepEqual(forwardTo(vh.routes[0]), [{ cluster: `outbound|9080|v2|${REVIEWS}`, weight: 100 }]);
  assert.deepEqual(vh.routes[1]!.matches, []);
  assert.deepEqual(forwardTo(vh.routes[1]), [{ cluster: `outbound|9080|v3|${REVIEWS}`, weight: 100 }]);

  // And the proxy's router picks them as Istio would.
  const table = new RouteTable([vh]);
  const found = table.findHost('reviews:9080');
  assert.ok(found);
  const pick = (headers: Record<string, string>) =>
    RouteTable.findRoute(found, { ...GET('/reviews/0', 'reviews:9080'), headers })?.route;
  assert.equal(pick({ 'end-user': 'jason' }), vh.routes[0]);
  assert.equal(pick({ 'end-user': 'json' }), vh.routes[1]);
  assert.equal(pick({}), vh.routes[1]);
});

test('virtual-service-reviews-v3.yaml: every request to reviews goes to v3', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS, DR_ALL, VS_V3), INSTANCES);
  const vh = vhost(compileSnapshot(index, proxyOf(productpage)).outbound.virtualHosts, `${REVIEWS}:9080`);
  assert.equal(vh.routes.length, 1);
  assert.deepEqual(forwardTo(vh.routes[0]), [{ cluster: `outbound|9080|v3|${REVIEWS}`, weight: 100 }]);
});

test('a VirtualService bound only to a gateway is not used by sidecars', async () => {
  const resources = await load(SERVICES, WORKLOADS, GATEWAY);
  const snap = compileSnapshot(new MeshIndex(resources, INSTANCES), proxyOf(productpage));
  assert.equal(snap.gateways.length, 0);
  for (const vh of snap.outbound.virtualHosts) {
    assert.ok(!vh.domains.includes('*'), vh.name);
    assert.deepEqual(
      vh.routes.map((r) => r.name),
      ['default'],
      vh.name,
    );
  }
});

test('match clauses narrowed by port or gateways apply only where they are compiled', async () => {
  const resources = [
    ...(await load(SERVICES, WORKLOADS, DR_ALL, GATEWAY)),
    ...parse(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  gateways: [mesh, bookinfo-gateway]
  http:
    - name: edge-only
      match: [{ gateways: [bookinfo-gateway], uri: { prefix: /gw } }]
      route: [{ destination: { host: reviews, subset: v1 } }]
    - name: other-port
      match: [{ port: 9999 }]
      route: [{ destination: { host: reviews, subset: v2 } }]
    - name: mesh-only
      match: [{ gateways: [mesh], uri: { prefix: /mesh } }, { port: 9080, uri: { exact: /p } }]
      route: [{ destination: { host: reviews, subset: v2 } }]
    - route: [{ destination: { host: reviews, subset: v3 } }]
`),
  ];
  const index = new MeshIndex(resources, INSTANCES);
  const side = vhost(compileSnapshot(index, proxyOf(productpage)).outbound.virtualHosts, `${REVIEWS}:9080`);
  assert.deepEqual(clauses(side), [
    ['VirtualService/default/reviews#http[mesh-only]', { path: { prefix: '/mesh' } }],
    ['VirtualService/default/reviews#http[mesh-only]', { path: { exact: '/p' } }],
    ['VirtualService/default/reviews#http[3]', '*'],
  ]);

  const gw = compileSnapshot(index, proxyOf(ingress));
  assert.equal(gw.gateways.length, 1);
  const bound = vhost(gw.gateways[0]!.virtualHosts, 'default/reviews:8080');
  assert.deepEqual(bound.domains, ['reviews', 'reviews:8080']);
  assert.deepEqual(clauses(bound), [
    ['VirtualService/default/reviews#http[edge-only]', { path: { prefix: '/gw' } }],
    ['VirtualService/default/reviews#http[3]', '*'],
  ]);
  assert.deepEqual(forwardTo(bound.routes[0]), [{ cluster: `outbound|9080|v1|${REVIEWS}`, weight: 100 }]);
});

test('route details: uri kinds, ignoreUriCase, method, authority, timeout, explicit port', async () => {
  const resources = [
    ...parse(`
apiVersion: v1
kind: Service
metadata: { name: api }
spec:
  selector: { app: api }
  ports: [{ port: 80, name: http }, { port: 9090, name: grpc }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api }
spec:
  hosts: [api.default.svc.cluster.local]
  http:
    - match:
        - uri: { regex: '/v[0-9]+/.*' }
          ignoreUriCase: true
          method: { exact: POST }
          authority: { prefix: api }
      timeout: 2.5s
      route:
        - destination: { host: api, port: { number: 9090 } }
          weight: 70
        - destination: { host: api.default, port: { number: 80 } }
          weight: 30
    - route: [{ destination: { host: api } }]
`),
  ];
  const snap = compileSnapshot(new MeshIndex(resources, []), proxyOf(productpage));
  const http = vhost(snap.outbound.virtualHosts, 'api.default.svc.cluster.local:80');
  const first = http.routes[0]!;
  assert.equal(first.name, 'VirtualService/default/api#http[0]');
  assert.deepEqual(first.matches, [
    {
      path: { regex: '/v[0-9]+/.*' },
      ignoreCase: true,
      method: { exact: 'POST' },
      authority: { prefix: 'api' },
    },
  ]);
  assert.deepEqual(forwardTo(first), [
    { cluster: 'outbound|9090||api.default.svc.cluster.local', weight: 70 },
    { cluster: 'outbound|80||api.default.svc.cluster.local', weight: 30 },
  ]);
  assert.equal(first.action.kind === 'forward' && first.action.timeoutMs, 2500);
  // A destination without a port on a multi-port service goes to the port being compiled.
  assert.deepEqual(forwardTo(http.routes[1]), [
    { cluster: 'outbound|80||api.default.svc.cluster.local', weight: 100 },
  ]);
  const grpc = vhost(snap.outbound.virtualHosts, 'api.default.svc.cluster.local:9090');
  assert.deepEqual(forwardTo(grpc.routes[1]), [
    { cluster: 'outbound|9090||api.default.svc.cluster.local', weight: 100 },
  ]);
  assert.equal(http.routes[1]!.action.kind === 'forward' && http.routes[1]!.action.timeoutMs, undefined);
});

test('directResponse compiles to a direct action with its string body', async () => {
  const resources = [
    ...(await load(SERVICES)),
    ...parse(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings }
spec:
  hosts: [ratings]
  http:
    - match: [{ uri: { prefix: /down } }]
      directResponse: { status: 503, body: { string: maintenance } }
    - match: [{ uri: { prefix: /empty } }]
      directResponse: { status: 204 }
    - route: [{ destination: { host: ratings } }]
`),
  ];
  const vh = vhost(
    compileSnapshot(new MeshIndex(resources, []), proxyOf(productpage)).outbound.virtualHosts,
    'ratings.default.svc.cluster.local:9080',
  );
  assert.deepEqual(vh.routes[0]!.action, { kind: 'direct', status: 503, body: 'maintenance' });
  assert.deepEqual(vh.routes[1]!.action, { kind: 'direct', status: 204, body: '' });
  assert.equal(vh.routes[2]!.action.kind, 'forward');
});

test('directResponse with a base64 `bytes` body compiles to the decoded body', async () => {
  const resources = [
    ...(await load(SERVICES)),
    ...parse(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings }
spec:
  hosts: [ratings]
  http:
    - directResponse: { status: 200, body: { bytes: aGVsbG8= } }
`),
  ];
  const vh = vhost(
    compileSnapshot(new MeshIndex(resources, []), proxyOf(productpage)).outbound.virtualHosts,
    'ratings.default.svc.cluster.local:9080',
  );
  assert.deepEqual(vh.routes[0]!.action, { kind: 'direct', status: 200, body: 'hello' });
});

test('a header match without a value (`end-user: {}`) compiles to a presence matcher', async () => {
  const resources = [
    ...(await load(SERVICES, DR_ALL)),
    ...parse(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
    - match: [{ headers: { end-user: {} } }]
      route: [{ destination: { host: reviews, subset: v2 } }]
    - route: [{ destination: { host: reviews, subset: v1 } }]
`),
  ];
  const vh = vhost(
    compileSnapshot(new MeshIndex(resources, []), proxyOf(productpage)).outbound.virtualHosts,
    `${REVIEWS}:9080`,
  );
  // The router's side of `present` is tested in router.test.ts.
  assert.deepEqual(vh.routes[0]!.matches, [{ headers: [{ name: 'end-user', match: { present: true } }] }]);
  assert.deepEqual(forwardTo(vh.routes[0]), [{ cluster: `outbound|9080|v2|${REVIEWS}`, weight: 100 }]);
});

// ---- inbound -------------------------------------------------------------------------------------------

test('inbound: a reviews proxy maps its service port to the target port, with the readiness probe', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS, DR_ALL), INSTANCES);
  const proxy = proxyOf(reviewsV2);
  const snap = compileSnapshot(index, proxy);
  assert.deepEqual(snap.proxy, proxy);
  assert.equal(snap.trustDomain, 'cluster.local');
  assert.deepEqual(snap.inbound, {
    routes: [{ service: REVIEWS, port: 9080, targetPort: 9080, protocol: 'http' }],
    containerPorts: [9080],
    probe: { path: '/health', port: 9080 },
  });
  assert.deepEqual(snap.gateways, []);
  assert.equal(snap.outbound.virtualHosts.length, 4);
  assert.equal(snap.clusters.length, 14);
  assert.equal('version' in snap, false);
});

test('inbound: named targetPort and named probe port resolve through the workload ports', async () => {
  const resources = parse(`
apiVersion: v1
kind: Service
metadata: { name: shop, namespace: store }
spec:
  selector: { app: shop }
  ports:
    - { port: 80, targetPort: web, name: http }
    - { port: 81, targetPort: '8081', name: http-admin }
    - { port: 82, targetPort: missing, name: http-missing }
---
apiVersion: v1
kind: Service
metadata: { name: other, namespace: store }
spec:
  selector: { app: other }
  ports: [{ port: 80 }]
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: { name: shop, namespace: store, labels: { app: shop } }
spec:
  ports:
    - { name: admin, containerPort: 8081 }
    - { name: web, containerPort: 3000 }
  readinessProbe: { httpGet: { port: web } }
`);
  const shop = instance('shop', 'v1', 0, true, {
    namespace: 'store',
    workload: 'shop',
    labels: { app: 'shop' },
  });
  const snap = compileSnapshot(new MeshIndex(resources, [shop]), proxyOf(shop));
  assert.deepEqual(snap.inbound, {
    routes: [
      { service: 'shop.store.svc.cluster.local', port: 80, targetPort: 3000, protocol: 'http' },
      { service: 'shop.store.svc.cluster.local', port: 81, targetPort: 8081, protocol: 'http' },
    ],
    containerPorts: [8081, 3000],
    probe: { path: '/', port: 3000 },
  });
});

test('inbound: a service of the same name in another namespace is not served', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS), INSTANCES);
  // reviews in staging has no Service and no Workload of its own.
  const snap = compileSnapshot(index, proxyOf(reviewsElsewhere));
  assert.deepEqual(snap.inbound, { routes: [], containerPorts: [] });
});

// ---- gateways ------------------------------------------------------------------------------------------

test('gateway.yaml: one listener on 127.0.0.1:8080 routing the bookinfo paths to productpage', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS, GATEWAY), INSTANCES);
  const snap = compileSnapshot(index, proxyOf(ingress));
  assert.deepEqual(snap.outbound.virtualHosts, []);
  assert.deepEqual(snap.inbound.routes, []);
  assert.equal(snap.inbound.probe, undefined);
  assert.equal(snap.clusters.length, 4);
  assert.equal(snap.gateways.length, 1);
  const listener = snap.gateways[0]!;
  assert.equal(listener.name, 'default/bookinfo-gateway:8080');
  assert.equal(listener.bind, '127.0.0.1');
  assert.equal(listener.port, 8080);
  assert.equal(listener.virtualHosts.length, 1);
  const vh = listener.virtualHosts[0]!;
  assert.equal(vh.name, 'default/bookinfo:8080');
  assert.deepEqual(vh.domains, ['*']);
  assert.deepEqual(
    clauses(vh).map(([, m]) => m),
    [
      { path: { exact: '/' } },
      { path: { exact: '/productpage' } },
      { path: { prefix: '/static' } },
      { path: { exact: '/login' } },
      { path: { exact: '/logout' } },
      { path: { prefix: '/api/v1/products' } },
    ],
  );
  for (const r of vh.routes) {
    assert.equal(r.name, 'VirtualService/default/bookinfo#http[0]');
    assert.deepEqual(forwardTo(r), [{ cluster: `outbound|9080||${PRODUCTPAGE}`, weight: 100 }]);
  }

  const table = new RouteTable(listener.virtualHosts);
  const host = table.findHost('127.0.0.1:8080');
  assert.ok(host);
  const route = (p: string) => RouteTable.findRoute(host, GET(p, '127.0.0.1:8080'))?.route;
  assert.deepEqual(forwardTo(route('/productpage')), [
    { cluster: `outbound|9080||${PRODUCTPAGE}`, weight: 100 },
  ]);
  assert.deepEqual(forwardTo(route('/api/v1/products/0/reviews')), [
    { cluster: `outbound|9080||${PRODUCTPAGE}`, weight: 100 },
  ]);
  assert.ok(route('/static/bootstrap.css'));
  assert.equal(route('/productpage/x'), undefined);
  assert.equal(route('/admin'), undefined);
});

test("Istio's bookinfo-gateway.yaml compiles the same listener", async () => {
  const index = new MeshIndex(await load(SERVICES, ISTIO_GATEWAY), INSTANCES);
  const [listener, ...rest] = compileSnapshot(index, proxyOf(ingress)).gateways;
  assert.deepEqual(rest, []);
  assert.ok(listener);
  assert.equal(listener.port, 8080);
  assert.equal(listener.bind, '127.0.0.1');
  assert.ok(listener.virtualHosts[0]);
  assert.deepEqual(
    clauses(listener.virtualHosts[0])
      .map(([, m]) => m)
      .slice(0, 2),
    [{ path: { exact: '/productpage' } }, { path: { prefix: '/static' } }],
  );
});

test('a Gateway whose selector matches no label of the proxy produces no listener', async () => {
  const index = new MeshIndex(await load(SERVICES, WORKLOADS, GATEWAY), INSTANCES);
  const egress = { ...ingress, id: 'egress-0.default', labels: { istio: 'egressgateway' } };
  assert.deepEqual(compileSnapshot(index, proxyOf(egress)).gateways, []);
  const noLabels = { ...ingress, id: 'bare-0.default', labels: {} };
  assert.deepEqual(compileSnapshot(index, proxyOf(noLabels)).gateways, []);
});

test('gateway: bind, TLS servers on their own port, host intersection, servers on one port share a listener', async () => {
  const resources = [
    ...(await load(SERVICES)),
    ...parse(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 9443, name: https, protocol: HTTPS }
      hosts: ['*']
      tls: { mode: SIMPLE, credentialName: cert }
    - port: { number: 8081, name: http, protocol: http }
      bind: 0.0.0.0
      hosts: ['*.example.com']
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge2 }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8081, name: http2, protocol: HTTP2 }
      hosts: [shop.example.org]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: a }
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http: [{ route: [{ destination: { host: productpage } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: b }
spec:
  hosts: [shop.example.org]
  gateways: [default/edge, edge2]
  http: [{ route: [{ destination: { host: reviews } }] }]
`),
  ];
  const gateways = compileSnapshot(new MeshIndex(resources, []), proxyOf(ingress)).gateways;
  assert.deepEqual(
    gateways.map((g) => g.port),
    [9443, 8081],
  );
  // The HTTPS server names a Secret that does not exist: it refuses handshakes and says why.
  assert.match(gateways[0]!.tls!.servers[0]!.error!, /Secret default\/cert not found/);
  const l = gateways[1]!;
  assert.equal(l.port, 8081);
  assert.equal(l.bind, '0.0.0.0');
  assert.equal(l.name, 'default/edge:8081');
  // a: shop.example.com is under *.example.com (edge); b: shop.example.org only on edge2's server.
  assert.deepEqual(
    l.virtualHosts.map((v) => [v.name, v.domains]),
    [
      ['default/a:8081', ['shop.example.com', 'shop.example.com:8081']],
      ['default/b:8081', ['shop.example.org', 'shop.example.org:8081']],
    ],
  );
});

test('gateway: a server host "ns/host" only admits VirtualServices from that namespace', async () => {
  const resources = [
    ...(await load(SERVICES)),
    ...parse(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8080, name: http, protocol: HTTP }
      hosts: ['prod/*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: intruder, namespace: dev }
spec:
  hosts: ['*']
  gateways: [default/edge]
  http: [{ route: [{ destination: { host: productpage.default.svc.cluster.local } }] }]
`),
  ];
  const [listener] = compileSnapshot(new MeshIndex(resources, []), proxyOf(ingress)).gateways;
  assert.ok(listener);
  assert.deepEqual(listener.virtualHosts, []);
});
