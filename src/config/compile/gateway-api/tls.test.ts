// Gateway API listeners with TLS on the ingress gateway: HTTPS listeners terminating with certificateRefs
// (Secrets, ReferenceGrant across namespaces), several hostnames on one port as SNI servers, TLS
// Passthrough with TLSRoute, TLS Terminate with TCPRoute, TCP listeners with TCPRoute, UDP (not served),
// listener conflicts, and the Gateway and route status that explain it — checked against Istio's golden
// Gateway status for its invalid translation cases (../shared/fixtures/istio-validation).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { GatewayListener, GatewayTlsServer, VirtualHost } from '../../../model/snapshot.js';
import { RouteTable } from '../../../proxy/http/router.js';
import { testCa, testLeaf, type TestCert } from '../../../proxy/listeners/gateway-testing.js';
import { parseDocuments } from '../../load.js';
import { fixture } from '../../testing.js';
import { formatProblem, type Resource } from '../../types.js';
import type { AnyGatewayApiRoute, KubernetesGateway } from '../../gateway-api-types.js';
import { gatewayStatus, routeStatus } from '../../route-status.js';
import { MeshIndex } from '../inputs.js';
import { gatewayListeners } from '../virtual-hosts.js';

const INGRESS = { istio: 'ingressgateway' };
const certs: Record<string, TestCert> = {};
const b64 = (s: string) => Buffer.from(s).toString('base64');

before(async () => {
  const ca = await testCa('Unit CA');
  certs.a = await testLeaf(ca, { cn: 'a', dns: ['a.example.com'] });
  certs.b = await testLeaf(ca, { cn: 'b', dns: ['b.example.com'] });
});

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

function problems(yaml: string): string[] {
  return parseDocuments(yaml, 'inline.yaml')
    .problems.filter((p) => p.severity === 'error')
    .map(formatProblem);
}

const secret = (name: string, ns: string, c: TestCert) => `
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${ns}}
type: kubernetes.io/tls
data: {tls.crt: ${b64(c.certPem)}, tls.key: ${b64(c.keyPem)}}
---`;

const services = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{port: 8080, name: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {ports: [{port: 5432, name: tcp}]}
---
apiVersion: v1
kind: Service
metadata: {name: tls-a, namespace: default}
spec: {ports: [{port: 8443, name: tls}]}
---
apiVersion: v1
kind: Service
metadata: {name: tls-b, namespace: default}
spec: {ports: [{port: 8443, name: tls}]}
---`;

const httpRoute = (name: string, hostnames: string[], backend = 'web', extra = '') => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: gw${extra}}]
  hostnames: ${JSON.stringify(hostnames)}
  rules: [{backendRefs: [{name: ${backend}, port: 8080}]}]
---`;

const ingress = (rs: Resource[]) => gatewayListeners(new MeshIndex(rs, []), INGRESS);
const onPort = (ls: GatewayListener[], port: number) => {
  const l = ls.find((x) => x.port === port);
  assert.ok(l, `no listener on ${port}: ${ls.map((x) => x.port).join(', ')}`);
  return l;
};
const server = (l: GatewayListener, name: string): GatewayTlsServer => {
  const s = l.tls?.servers.find((x) => x.name === name);
  assert.ok(s, `no TLS server ${name} in ${l.tls?.servers.map((x) => x.name).join(', ')}`);
  return s;
};
/** The cluster a request for `host` reaches through one TLS server's handshake (its own vhosts only). */
function routeThrough(l: GatewayListener, s: GatewayTlsServer, host: string): string | undefined {
  const names = new Set(s.virtualHosts ?? []);
  const table = new RouteTable(l.virtualHosts.filter((vh: VirtualHost) => names.has(vh.name)));
  const vh = table.findHost(host);
  if (!vh) return undefined;
  const r = RouteTable.findRoute(vh, {
    method: 'GET',
    path: '/',
    query: '',
    scheme: 'https',
    authority: host,
    headers: {},
  })?.route;
  return r?.action.kind === 'forward' ? r.action.clusters.map((c) => c.cluster).join(',') : undefined;
}
const gw = (rs: Resource[], name = 'gw') =>
  rs.find((r): r is KubernetesGateway => r.kind === 'KubernetesGateway' && r.metadata.name === name)!;
const listenerConditions = (rs: Resource[], gwName: string, listener: string) =>
  gatewayStatus(gw(rs, gwName), rs)
    .listeners.find((l) => l.name === listener)!
    .conditions.map((c) => `${c.type}:${c.status}:${c.reason}`);
const parentConditions = (rs: Resource[], kind: string, name: string) =>
  routeStatus(
    rs.find((r) => r.kind === kind && r.metadata.name === name) as AnyGatewayApiRoute,
    rs,
  ).parents.map((p) => p.conditions.map((c) => `${c.type}:${c.status}:${c.reason}`).join(' '));

test('HTTPS listeners: a certificate from a Secret per hostname, SNI servers on one port, isolated route tables', () => {
  const rs = parse(`
${services}
${secret('a-cert', 'default', certs.a!)}
${secret('b-cert', 'default', certs.b!)}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: a, port: 8443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a-cert}]}}
  - {name: b, port: 8443, protocol: HTTPS, hostname: b.example.com, tls: {mode: Terminate, certificateRefs: [{kind: Secret, group: "", name: b-cert}]}}
---
${httpRoute('a', ['a.example.com'])}
${httpRoute('b', ['b.example.com'], 'web')}
`);
  const l = onPort(ingress(rs), 8443);
  assert.equal(l.bind, '127.0.0.1');
  assert.equal(l.tls?.servers.length, 2);
  const a = server(l, 'default/gw/a');
  const b = server(l, 'default/gw/b');
  assert.equal(a.mode, 'SIMPLE');
  assert.deepEqual(a.sniHosts, ['a.example.com']);
  assert.deepEqual(b.sniHosts, ['b.example.com']);
  assert.equal(a.certificate?.pem, certs.a!.certPem);
  assert.equal(b.privateKey?.pem, certs.b!.keyPem);
  assert.equal(a.error, undefined);
  assert.equal(a.minVersion, 'TLSv1.2');
  assert.equal(routeThrough(l, a, 'a.example.com'), 'outbound|8080||web.default.svc.cluster.local');
  assert.equal(routeThrough(l, b, 'b.example.com'), 'outbound|8080||web.default.svc.cluster.local');
  // Through a's handshake, b's host is not routed (listener isolation).
  assert.equal(routeThrough(l, a, 'b.example.com'), undefined);
  assert.deepEqual(parentConditions(rs, 'HTTPRoute', 'a'), [
    'Accepted:True:Accepted ResolvedRefs:True:ResolvedRefs',
  ]);
  const st = gatewayStatus(gw(rs), rs);
  assert.deepEqual(
    st.listeners.map((x) => [x.name, x.attachedRoutes, x.supportedKinds.map((k) => k.kind).join(',')]),
    [
      ['a', 1, 'HTTPRoute,GRPCRoute'],
      ['b', 1, 'HTTPRoute,GRPCRoute'],
    ],
  );
  assert.deepEqual(listenerConditions(rs, 'gw', 'a'), [
    'Accepted:True:Accepted',
    'Conflicted:False:NoConflicts',
    'Programmed:True:Programmed',
    'ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.deepEqual(
    st.conditions.map((c) => `${c.type}:${c.status}`),
    ['Accepted:True', 'Programmed:True', 'ResolvedRefs:True'],
  );
});

test('HTTPS listener without hostname: any SNI; routes on its hostnames; a hostname owned by a more specific listener gets 404', () => {
  const rs = parse(`
${services}
${secret('a-cert', 'default', certs.a!)}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: any, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: a-cert}]}}
  - {name: a, port: 8443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a-cert}]}}
---
${httpRoute('wild', ['*.example.com'])}
`);
  const l = onPort(ingress(rs), 8443);
  const any = server(l, 'default/gw/any');
  assert.deepEqual(any.sniHosts, []);
  assert.equal(routeThrough(l, any, 'c.example.com'), 'outbound|8080||web.default.svc.cluster.local');
  // a.example.com belongs to listener "a" (attached too): through the catch-all server it is not routed.
  assert.equal(routeThrough(l, any, 'a.example.com'), undefined);
  assert.equal(
    routeThrough(l, server(l, 'default/gw/a'), 'a.example.com'),
    'outbound|8080||web.default.svc.cluster.local',
  );
});

test('certificateRefs: a missing Secret, a wrong kind, another namespace without and with a ReferenceGrant', () => {
  const gateway = (ref: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: https, port: 8443, protocol: HTTPS, tls: {certificateRefs: [${ref}]}}
---`;
  const grant = `
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: certs, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: Secret}]
---`;
  const cases: Array<[string, string, string]> = [
    ['{name: nope}', '', 'InvalidCertificateRef'],
    ['{name: a-cert, kind: ConfigMap}', '', 'InvalidCertificateRef'],
    ['{name: a-cert, namespace: certs}', '', 'RefNotPermitted'],
    ['{name: a-cert, namespace: certs}', grant, 'ResolvedRefs'],
  ];
  for (const [ref, extra, reason] of cases) {
    const rs = parse(`${services}${secret('a-cert', 'certs', certs.a!)}${gateway(ref)}${extra}`);
    const s = server(onPort(ingress(rs), 8443), 'default/gw/https');
    const resolved = listenerConditions(rs, 'gw', 'https').find((c) => c.startsWith('ResolvedRefs'));
    assert.equal(resolved, `ResolvedRefs:${reason === 'ResolvedRefs' ? 'True' : 'False'}:${reason}`, ref);
    if (reason === 'ResolvedRefs') {
      assert.equal(s.error, undefined);
      assert.equal(s.certificate?.pem, certs.a!.certPem);
    } else {
      assert.ok(s.error, `${ref}: the server carries an error, so its handshakes are refused`);
      assert.equal(s.certificate, undefined);
      assert.ok(listenerConditions(rs, 'gw', 'https').includes('Programmed:False:Invalid'));
      assert.equal(gatewayStatus(gw(rs), rs).conditions[0]!.reason, 'ListenersNotValid');
    }
  }
  const rs = parse(
    `${services}${secret('a-cert', 'certs', certs.a!)}${gateway('{name: a-cert, namespace: certs}')}`,
  );
  const msg = gatewayStatus(gw(rs), rs).listeners[0]!.conditions.find(
    (c) => c.type === 'ResolvedRefs',
  )!.message;
  assert.match(msg, /no ReferenceGrant in namespace "certs"/);
});

test('TLS Passthrough with TLSRoutes (v1alpha2, v1alpha3): SNI routes, hostnames intersected, weights, oldest first', () => {
  const rs = parse(`
${services}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: tls, port: 9443, protocol: TLS, hostname: "*.example.com", tls: {mode: Passthrough}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: split, namespace: default, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  parentRefs: [{name: gw}]
  hostnames: [a.example.com, other.org]
  rules: [{backendRefs: [{name: tls-a, port: 8443, weight: 80}, {name: tls-b, port: 8443, weight: 20}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: TLSRoute
metadata: {name: wild, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw, sectionName: tls}]
  hostnames: ["*.example.com"]
  rules: [{backendRefs: [{name: tls-b, port: 8443}, {name: missing, port: 8443}]}]
---`);
  const s = server(onPort(ingress(rs), 9443), 'default/gw/tls');
  assert.equal(s.mode, 'PASSTHROUGH');
  assert.deepEqual(s.sniHosts, ['*.example.com']);
  assert.deepEqual(
    s.tlsRoutes?.map((r) => [
      r.name,
      r.sniHosts.join(','),
      r.clusters.map((c) => `${c.cluster.split('|')[3] ?? c.cluster}=${c.weight}`).join(' '),
    ]),
    [
      // A backend that does not resolve keeps its weight: that share of connections is refused.
      [
        'TLSRoute/default/wild',
        '*.example.com',
        'tls-b.default.svc.cluster.local=1 invalid|TLSRoute/default/wild#0.1=1',
      ],
      [
        'TLSRoute/default/split',
        'a.example.com',
        'tls-a.default.svc.cluster.local=80 tls-b.default.svc.cluster.local=20',
      ],
    ],
  );
  assert.deepEqual(parentConditions(rs, 'TLSRoute', 'split'), [
    'Accepted:True:Accepted ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.deepEqual(parentConditions(rs, 'TLSRoute', 'wild'), [
    'Accepted:True:Accepted ResolvedRefs:False:BackendNotFound',
  ]);
  const st = gatewayStatus(gw(rs), rs).listeners[0]!;
  assert.equal(st.attachedRoutes, 2);
  assert.deepEqual(st.supportedKinds, [{ group: 'gateway.networking.k8s.io', kind: 'TLSRoute' }]);
});

test('route kinds per listener: HTTPRoute on TLS and TLSRoute on HTTP are NotAllowedByListeners; allowedRoutes.kinds the protocol cannot carry are InvalidRouteKinds', () => {
  const rs = parse(`
${services}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: tls, port: 9443, protocol: TLS, tls: {mode: Passthrough}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: http, port: 8080, protocol: HTTP, allowedRoutes: {kinds: [{kind: HTTPRoute}, {kind: TLSRoute}]}}
---
${httpRoute('on-tls', ['a.example.com'])}
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: on-http, namespace: default}
spec:
  parentRefs: [{name: web}]
  rules: [{backendRefs: [{name: tls-a, port: 8443}]}]
---`);
  assert.deepEqual(parentConditions(rs, 'HTTPRoute', 'on-tls'), [
    'Accepted:False:NotAllowedByListeners ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.deepEqual(parentConditions(rs, 'TLSRoute', 'on-http'), [
    'Accepted:False:NotAllowedByListeners ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.ok(listenerConditions(rs, 'web', 'http').includes('ResolvedRefs:False:InvalidRouteKinds'));
  assert.deepEqual(
    gatewayStatus(gw(rs, 'web'), rs).listeners[0]!.supportedKinds.map((k) => k.kind),
    ['HTTPRoute'],
  );
  assert.deepEqual(server(onPort(ingress(rs), 9443), 'default/gw/tls').tlsRoutes, []);
});

test('TLS Terminate with a TCPRoute: the bytes inside go to the route; a TCP listener takes its port with its TCPRoute; UDP is not served', () => {
  const rs = parse(`
${services}
${secret('a-cert', 'default', certs.a!)}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: tls-db, port: 9000, protocol: TLS, hostname: a.example.com, tls: {mode: Terminate, certificateRefs: [{name: a-cert}]}}
  - {name: tcp, port: 9001, protocol: TCP}
  - {name: tcp-empty, port: 9002, protocol: TCP}
  - {name: udp, port: 9003, protocol: UDP}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: tls-db}]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: raw, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: tcp}]
  rules: [{backendRefs: [{name: db, port: 5432, weight: 3}, {name: web, port: 8080, weight: 1}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: on-udp, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: udp}]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
---`);
  const ls = ingress(rs);
  const s = server(onPort(ls, 9000), 'default/gw/tls-db@TCPRoute/default/db');
  assert.equal(s.mode, 'SIMPLE');
  assert.deepEqual(s.sniHosts, ['a.example.com']);
  assert.equal(s.certificate?.pem, certs.a!.certPem);
  assert.deepEqual(s.tcpRoute, {
    name: 'TCPRoute/default/db',
    clusters: [{ cluster: 'outbound|5432||db.default.svc.cluster.local', weight: 1 }],
  });
  const tcp = onPort(ls, 9001);
  assert.equal(tcp.tls, undefined);
  assert.deepEqual(tcp.tcpRoute, {
    name: 'TCPRoute/default/raw',
    clusters: [
      { cluster: 'outbound|5432||db.default.svc.cluster.local', weight: 3 },
      { cluster: 'outbound|8080||web.default.svc.cluster.local', weight: 1 },
    ],
  });
  // A TCP listener without routes still opens its port; connections are refused (no destination).
  assert.deepEqual(onPort(ls, 9002).tcpRoute, { name: '-', clusters: [] });
  assert.equal(
    ls.find((l) => l.port === 9003),
    undefined,
    'a UDP listener opens no port',
  );
  assert.deepEqual(parentConditions(rs, 'TCPRoute', 'db'), [
    'Accepted:True:Accepted ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.deepEqual(parentConditions(rs, 'TCPRoute', 'raw'), [
    'Accepted:True:Accepted ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.deepEqual(parentConditions(rs, 'TCPRoute', 'on-udp'), [
    'Accepted:False:NotAllowedByListeners ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.deepEqual(listenerConditions(rs, 'gw', 'tcp'), [
    'Accepted:True:Accepted',
    'Conflicted:False:NoConflicts',
    'Programmed:True:Programmed',
    'ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.deepEqual(listenerConditions(rs, 'gw', 'udp'), [
    'Accepted:False:UnsupportedProtocol',
    'Conflicted:False:NoConflicts',
    'Programmed:False:Invalid',
    'ResolvedRefs:True:ResolvedRefs',
  ]);
  assert.equal(gatewayStatus(gw(rs), rs).listeners.find((l) => l.name === 'tcp')!.attachedRoutes, 1);
});

test('TLS Terminate with several TLSRoutes: one SNI server per route, the listener certificate, names a more specific listener owns left to it', () => {
  const rs = parse(`
${services}
${secret('a-cert', 'default', certs.a!)}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: wild, port: 9000, protocol: TLS, hostname: "*.example.com", tls: {mode: Terminate, certificateRefs: [{name: a-cert}]}}
  - {name: b, port: 9000, protocol: TLS, hostname: b.example.com, tls: {mode: Passthrough}}
---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: TLSRoute
metadata: {name: first, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw, sectionName: wild}]
  hostnames: [a.example.com, b.example.com]
  rules: [{backendRefs: [{name: tls-a, port: 8443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: TLSRoute
metadata: {name: second, namespace: default, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  parentRefs: [{name: gw, sectionName: wild}]
  hostnames: [a.example.com, c.example.com]
  rules: [{backendRefs: [{name: tls-b, port: 8443}]}]
---`);
  const l = onPort(ingress(rs), 9000);
  assert.deepEqual(
    l.tls?.servers.map((s) => [
      s.name,
      s.mode,
      s.sniHosts.join(','),
      s.tcpRoute?.clusters[0]?.cluster ?? '-',
    ]),
    [
      // b.example.com belongs to listener b: not taken by the route on the wildcard listener.
      [
        'default/gw/wild@TLSRoute/default/first',
        'SIMPLE',
        'a.example.com',
        'outbound|8443||tls-a.default.svc.cluster.local',
      ],
      // a.example.com was taken by the older route.
      [
        'default/gw/wild@TLSRoute/default/second',
        'SIMPLE',
        'c.example.com',
        'outbound|8443||tls-b.default.svc.cluster.local',
      ],
      ['default/gw/b', 'PASSTHROUGH', 'b.example.com', '-'],
    ],
  );
});

test('an Istio Gateway TLS port: Gateway API HTTPS listeners join it, a hostname an Istio server has stays with Istio', () => {
  const rs = parse(`
${services}
${secret('a-cert', 'default', certs.a!)}
${secret('b-cert', 'default', certs.b!)}
${secret('istio-a', 'istio-system', certs.a!)}
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, credentialName: istio-a}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: a, port: 8443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a-cert}]}}
  - {name: b, port: 8443, protocol: HTTPS, hostname: b.example.com, tls: {certificateRefs: [{name: b-cert}]}}
---
${httpRoute('b', ['b.example.com'])}
`);
  const l = onPort(ingress(rs), 8443);
  assert.deepEqual(
    l.tls?.servers.map((s) => s.name),
    ['istio-system/istio-gw/https', 'default/gw/b'],
  );
  assert.equal(
    routeThrough(l, server(l, 'default/gw/b'), 'b.example.com'),
    'outbound|8080||web.default.svc.cluster.local',
  );
});

test('listener conflicts: plain HTTP and TLS on one port (ProtocolConflict), one hostname twice on a TLS port (HostnameConflict)', () => {
  const rs = parse(`
${services}
${secret('a-cert', 'default', certs.a!)}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
  - {name: https, port: 8443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: other, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - {name: https-on-http, port: 8080, protocol: HTTPS, tls: {certificateRefs: [{name: a-cert}]}}
  - {name: same-host, port: 8443, protocol: TLS, hostname: a.example.com, tls: {mode: Passthrough}}
  - {name: tcp-on-http, port: 8080, protocol: TCP}
---`);
  assert.ok(listenerConditions(rs, 'other', 'tcp-on-http').includes('Conflicted:True:ProtocolConflict'));
  assert.ok(listenerConditions(rs, 'other', 'https-on-http').includes('Conflicted:True:ProtocolConflict'));
  assert.ok(listenerConditions(rs, 'other', 'same-host').includes('Conflicted:True:HostnameConflict'));
  assert.ok(listenerConditions(rs, 'gw', 'http').includes('Conflicted:False:NoConflicts'));
  const ls = ingress(rs);
  assert.equal(onPort(ls, 8080).tls, undefined);
  assert.deepEqual(
    onPort(ls, 8443).tls?.servers.map((s) => s.name),
    ['default/gw/https'],
  );
});

test('schemas: TLSRoute and TCPRoute as the upstream CRDs validate them; HTTPS and TLS listeners need tls', () => {
  const tls = (v: string, spec: string) =>
    `apiVersion: gateway.networking.k8s.io/${v}\nkind: TLSRoute\nmetadata: {name: r}\nspec: ${spec}\n`;
  const backends = 'backendRefs: [{name: s, port: 443}]';
  assert.deepEqual(problems(tls('v1alpha2', `{rules: [{${backends}}]}`)), []);
  assert.deepEqual(problems(tls('v1alpha3', `{hostnames: [a.example.com], rules: [{${backends}}]}`)), []);
  assert.deepEqual(problems(tls('v1', `{hostnames: [a.example.com], rules: [{${backends}}]}`)), []);
  assert.match(problems(tls('v1alpha3', `{rules: [{${backends}}]}`)).join(), /spec.hostnames/);
  assert.match(
    problems(tls('v1alpha3', `{hostnames: [a.example.com], rules: [{${backends}}, {${backends}}]}`)).join(),
    /exactly one rule/,
  );
  assert.match(problems(tls('v1alpha2', `{rules: [{backendRefs: []}]}`)).join(), /backendRefs/);
  assert.match(
    problems(tls('v1alpha2', `{rules: [{backendRefs: [{name: s}]}]}`)).join(),
    /port: is required/,
  );
  assert.match(
    problems(tls('v1alpha2', `{hostnames: ["1.2.3.4x_"], rules: [{${backends}}]}`)).join(),
    /hostnames/,
  );
  assert.match(problems(tls('v1beta1', `{rules: [{${backends}}]}`)).join(), /not supported for TLSRoute/);
  const tcp = (spec: string) =>
    `apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata: {name: r}\nspec: ${spec}\n`;
  assert.deepEqual(problems(tcp(`{rules: [{${backends}}]}`)), []);
  assert.match(problems(tcp(`{hostnames: [a.example.com], rules: [{${backends}}]}`)).join(), /hostnames/);
  const gwYaml = (l: string) =>
    `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: x, listeners: [${l}]}\n`;
  assert.match(problems(gwYaml('{name: a, port: 443, protocol: HTTPS}')).join(), /tls must be specified/);
  assert.match(
    problems(gwYaml('{name: a, port: 443, protocol: HTTPS, tls: {mode: Terminate}}')).join(),
    /certificateRefs or options must be specified/,
  );
  assert.deepEqual(problems(gwYaml('{name: a, port: 443, protocol: TLS, tls: {mode: Passthrough}}')), []);
});

test("Istio's invalid Gateways: the same listener conditions as Istio's golden status", async () => {
  const dir = 'istio-validation/gateway-api-translation';
  const { resources } = parseDocuments(await readFile(fixture(dir, 'invalid.yaml'), 'utf8'), 'invalid.yaml');
  const golden = parseAllDocuments(await readFile(fixture(dir, 'invalid.status.yaml.golden'), 'utf8'));
  // Weft ignores spec.addresses: that case differs. Frontend validation (spec.tls.frontend) is compared.
  const skip = /^invalid-gateway-address$/;
  let compared = 0;
  for (const doc of golden) {
    const g = doc.toJS() as null | {
      kind: string;
      metadata: { name: string };
      status: {
        listeners?: Array<{
          name: string;
          supportedKinds: Array<{ kind: string }>;
          conditions: Array<{ type: string; status: string; reason: string }>;
        }>;
      };
    };
    if (g?.kind !== 'Gateway' || skip.test(g.metadata.name)) continue;
    // Istio's harness supplies the Secret my-cert-http and sees each Gateway on its own (Weft serves
    // all of them on one proxy, where same-port listeners of different Gateways would conflict).
    const alone = [
      ...resources.filter((r) => r.kind !== 'KubernetesGateway' || r.metadata.name === g.metadata.name),
      ...parse(secret('my-cert-http', 'istio-system', certs.a!)),
    ];
    const mine = gatewayStatus(gw(alone, g.metadata.name), alone);
    for (const want of g.status.listeners ?? []) {
      const got = mine.listeners.find((l) => l.name === want.name)!;
      // Programmed: Weft says False for a listener it does not serve, where Istio says True.
      const pick = (cs: Array<{ type: string; status: string; reason: string }>) =>
        cs.filter((c) => c.type !== 'Programmed').map((c) => `${c.type}:${c.status}:${c.reason}`);
      assert.deepEqual(pick(got.conditions), pick(want.conditions), `${g.metadata.name}/${want.name}`);
      assert.deepEqual(
        got.supportedKinds.map((k) => k.kind),
        want.supportedKinds.map((k) => k.kind),
        `${g.metadata.name}/${want.name} supportedKinds`,
      );
      compared++;
    }
  }
  assert.ok(compared >= 11, `compared ${compared} listeners`);
});
