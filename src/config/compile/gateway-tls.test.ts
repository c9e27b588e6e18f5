// Istio Gateway servers with TLS compiled for the ingress gateway: certificates from files and from
// Secrets (credentialName, with Istio's key names and -cacert rule), MUTUAL and ISTIO_MUTUAL, SNI per
// server with a route table each, httpsRedirect, PASSTHROUGH with VirtualService tls routes, and the
// problems Istio reports, carried as the server's `error`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadPaths, parseDocuments } from '../load.js';
import { fixture, projectRoot } from '../testing.js';
import { formatProblem, type Resource } from '../types.js';
import type { GatewayListener, GatewayTlsServer, ProxyIdentity } from '../../model/snapshot.js';
import { RouteTable } from '../../proxy/http/router.js';
import { testCa, testLeaf } from '../../proxy/listeners/gateway-testing.js';
import { MeshIndex, type InstanceView } from './inputs.js';
import { compileSnapshot } from './snapshot.js';
import { gatewayListeners } from './virtual-hosts.js';

const SERVICES = path.join(projectRoot(), 'examples/bookinfo/services.yaml');
const PRODUCTPAGE = 'productpage.default.svc.cluster.local';

const ingress: InstanceView = {
  id: 'istio-ingressgateway-0.istio-system',
  workload: 'istio-ingressgateway',
  namespace: 'istio-system',
  labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
  spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
  kind: 'gateway',
  address: '127.0.0.1',
  inboundPort: 0,
  ready: true,
};

function proxyOf(i: InstanceView): ProxyIdentity {
  return {
    id: i.id,
    workload: i.workload,
    namespace: i.namespace,
    serviceAccount: 'istio-ingressgateway-service-account',
    spiffeId: i.spiffeId,
    labels: i.labels,
    kind: i.kind,
  };
}

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

async function load(...paths: string[]): Promise<Resource[]> {
  const { resources, problems } = await loadPaths(paths);
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

async function listeners(yaml: string): Promise<GatewayListener[]> {
  const index = new MeshIndex([...(await load(SERVICES)), ...parse(yaml)], [ingress]);
  return compileSnapshot(index, proxyOf(ingress)).gateways;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

const ca = await testCa();
const clientCa = await testCa('Client CA');
const bookinfo = await testLeaf(ca, { cn: 'bookinfo.example.com', dns: ['bookinfo.example.com'] });
const other = await testLeaf(ca, { cn: 'other.example.com', dns: ['other.example.com'] });

function tlsSecret(name: string, cert: string, key: string, extra = ''): string {
  return `
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: istio-system }
type: kubernetes.io/tls
data:
  tls.crt: ${b64(cert)}
  tls.key: ${b64(key)}
${extra}---`;
}

const VS = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bookinfo }
spec:
  hosts: [bookinfo.example.com]
  gateways: [edge]
  http: [{ route: [{ destination: { host: productpage, port: { number: 9080 } } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: other }
spec:
  hosts: [other.example.com]
  gateways: [edge]
  http: [{ route: [{ destination: { host: reviews } }] }]
`;

function only(ls: GatewayListener[], port: number): GatewayListener {
  const l = ls.find((x) => x.port === port);
  assert.ok(l, `no listener on ${port}: ${JSON.stringify(ls.map((x) => x.port))}`);
  return l;
}

function server(l: GatewayListener, i = 0): GatewayTlsServer {
  const s = l.tls?.servers[i];
  assert.ok(s, `no TLS server ${i} on ${l.name}`);
  return s;
}

test('SIMPLE from files: paths for the proxy to read, Istio default versions, SNI = the hosts', async () => {
  const ls = await listeners(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8443, name: https, protocol: HTTPS }
      hosts: ['default/bookinfo.example.com', 'BookInfo.Example.com']
      tls:
        mode: SIMPLE
        serverCertificate: /etc/certs/tls.crt
        privateKey: /etc/certs/tls.key
---
${VS}`);
  const l = only(ls, 8443);
  const s = server(l);
  assert.deepEqual(s, {
    name: 'default/edge/https',
    sniHosts: ['bookinfo.example.com'],
    mode: 'SIMPLE',
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    certificate: { file: '/etc/certs/tls.crt' },
    privateKey: { file: '/etc/certs/tls.key' },
    virtualHosts: ['default/bookinfo:8443@default/edge/https'],
  });
  // Only the VirtualService whose host the server has is bound; its routes are the usual ones.
  assert.deepEqual(
    l.virtualHosts.map((v) => [v.name, v.domains]),
    [['default/bookinfo:8443@default/edge/https', ['bookinfo.example.com', 'bookinfo.example.com:8443']]],
  );
  const route = RouteTable.findRoute(new RouteTable(l.virtualHosts).findHost('bookinfo.example.com')!, {
    method: 'GET',
    path: '/productpage',
    query: '',
    scheme: 'https',
    authority: 'bookinfo.example.com',
    headers: {},
  });
  assert.equal(
    route?.route.action.kind === 'forward' && route.route.action.clusters[0]?.cluster,
    `outbound|9080||${PRODUCTPAGE}`,
  );
});

test('credentialName: a kubernetes.io/tls or generic Secret in the gateway namespace, PEMs inline', async () => {
  const ls = await listeners(`
${tlsSecret('bookinfo-credential', bookinfo.certPem, bookinfo.keyPem)}
apiVersion: v1
kind: Secret
metadata: { name: other-credential, namespace: istio-system }
stringData:
  cert: ${JSON.stringify(other.certPem)}
  key: ${JSON.stringify(other.keyPem)}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: https-bookinfo, protocol: HTTPS }
      hosts: [bookinfo.example.com]
      tls: { mode: SIMPLE, credentialName: bookinfo-credential }
    - port: { number: 443, name: https-other, protocol: HTTPS }
      hosts: [other.example.com]
      tls: { mode: SIMPLE, credentialName: istio-system/other-credential }
---
${VS}`);
  const l = only(ls, 443);
  assert.equal(l.tls?.servers.length, 2);
  const [a, b] = [server(l, 0), server(l, 1)];
  assert.equal(a.error, undefined);
  assert.equal(a.certificate?.pem, bookinfo.certPem);
  assert.equal(a.privateKey?.pem, bookinfo.keyPem);
  assert.deepEqual(a.sniHosts, ['bookinfo.example.com']);
  assert.equal(b.error, undefined);
  assert.equal(b.certificate?.pem, other.certPem);
  assert.deepEqual(b.sniHosts, ['other.example.com']);
  // Each server reaches only its own host's routes.
  assert.deepEqual(a.virtualHosts, ['default/bookinfo:443@default/edge/https-bookinfo']);
  assert.deepEqual(b.virtualHosts, ['default/other:443@default/edge/https-other']);
});

test('MUTUAL: the CA from <name>-cacert first, else ca.crt of the same Secret; OPTIONAL_MUTUAL too', async () => {
  const ls = await listeners(`
${tlsSecret('with-ca', bookinfo.certPem, bookinfo.keyPem, `  ca.crt: ${b64(clientCa.certPem)}\n`)}
${tlsSecret('split', other.certPem, other.keyPem, `  ca.crt: ${b64(ca.certPem)}\n`)}
apiVersion: v1
kind: Secret
metadata: { name: split-cacert, namespace: istio-system }
data: { cacert: ${b64(clientCa.certPem)} }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: a, protocol: HTTPS }
      hosts: [bookinfo.example.com]
      tls:
        mode: MUTUAL
        credentialName: with-ca
        subjectAltNames: [spiffe://example.com/client]
    - port: { number: 443, name: b, protocol: HTTPS }
      hosts: [other.example.com]
      tls: { mode: OPTIONAL_MUTUAL, credentialName: split }
    - port: { number: 9443, name: files, protocol: HTTPS }
      hosts: ['*']
      tls: { mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem, caCrl: /crl.pem }
---
${VS}`);
  const [a, b] = [server(only(ls, 443), 0), server(only(ls, 443), 1)];
  assert.equal(a.mode, 'MUTUAL');
  assert.equal(a.caCertificates?.pem, clientCa.certPem);
  assert.deepEqual(a.subjectAltNames, ['spiffe://example.com/client']);
  assert.equal(b.mode, 'OPTIONAL_MUTUAL');
  assert.equal(b.caCertificates?.pem, clientCa.certPem, 'split-cacert wins over ca.crt of split');
  const f = server(only(ls, 9443));
  assert.deepEqual(f.sniHosts, [], '"*" answers any SNI');
  assert.deepEqual(f.caCertificates, { file: '/ca.pem' });
  assert.deepEqual(f.caCrl, { file: '/crl.pem' });
});

test('problems become the server error, and the other servers still serve', async () => {
  const mismatched = tlsSecret('mismatch', bookinfo.certPem, other.keyPem);
  const cases: Array<[string, string, RegExp]> = [
    ['{ mode: SIMPLE, credentialName: nope }', '', /Secret istio-system\/nope not found/],
    [
      '{ mode: SIMPLE, credentialName: default/x }',
      '',
      /reads Secrets from its own namespace "istio-system" only/,
    ],
    [
      '{ mode: SIMPLE, credentialName: weird }',
      `apiVersion: v1\nkind: Secret\nmetadata: { name: weird, namespace: istio-system }\nstringData: { foo: bar }\n---`,
      /does not have the expected keys \("cert" and "key"\) or \("tls\.crt" and "tls\.key"\); found: foo/,
    ],
    [
      '{ mode: SIMPLE, credentialName: garbage }',
      tlsSecret('garbage', 'not a certificate', bookinfo.keyPem),
      /Secret istio-system\/garbage: the certificate holds no PEM certificate/,
    ],
    [
      '{ mode: SIMPLE, credentialName: mismatch }',
      mismatched,
      /the private key does not belong to the certificate/,
    ],
    [
      '{ mode: MUTUAL, credentialName: mismatch-ok }',
      tlsSecret('mismatch-ok', bookinfo.certPem, bookinfo.keyPem),
      /MUTUAL TLS needs a client CA: neither Secret istio-system\/mismatch-ok-cacert nor Secret istio-system\/mismatch-ok has "cacert" or "ca.crt"/,
    ],
    ['{ mode: SIMPLE, privateKey: /k.pem }', '', /^SIMPLE TLS requires a server certificate$/],
    [
      '{ mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem }',
      '',
      /^MUTUAL TLS requires a client CA bundle$/,
    ],
    [
      '{ mode: ISTIO_MUTUAL, credentialName: x }',
      '',
      /^ISTIO_MUTUAL TLS cannot have associated credentialName$/,
    ],
    [
      '{ mode: SIMPLE, credentialName: x, serverCertificate: /c, privateKey: /k }',
      '',
      /only one of credential_name, credential_names, server_certificate\/private_key, tls_certificates/,
    ],
    [
      '{ mode: SIMPLE, serverCertificate: /c, privateKey: /k, caCrl: /crl }',
      '',
      /CRL is not supported with SIMPLE TLS/,
    ],
    [
      '{ mode: SIMPLE, serverCertificate: /c, privateKey: /k, minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2 }',
      '',
      /Tls max version must be greater than min/,
    ],
    [
      '{ mode: SIMPLE, serverCertificate: /c, privateKey: /k, minProtocolVersion: SSLV3 }',
      '',
      /minProtocolVersion must be one of/,
    ],
  ];
  for (const [tls, extra, want] of cases) {
    const ls = await listeners(`
${extra}
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: broken, protocol: HTTPS }
      hosts: [bookinfo.example.com]
      tls: ${tls}
    - port: { number: 443, name: fine, protocol: HTTPS }
      hosts: [other.example.com]
      tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem }
---
${VS}`);
    const l = only(ls, 443);
    assert.match(server(l, 0).error ?? '(no error)', want, tls);
    assert.equal(server(l, 1).error, undefined);
  }
});

test('versions, cipher suites (Envoy names only, once), ISTIO_MUTUAL takes nothing', async () => {
  const ls = await listeners(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: a, protocol: HTTPS }
      hosts: [bookinfo.example.com]
      tls:
        mode: SIMPLE
        serverCertificate: /c.pem
        privateKey: /k.pem
        minProtocolVersion: TLSV1_3
        cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256, NOT-A-CIPHER, ECDHE-ECDSA-AES128-GCM-SHA256]
    - port: { number: 443, name: b, protocol: HTTPS }
      hosts: [other.example.com]
      tls: { mode: ISTIO_MUTUAL }
---
${VS}`);
  const [a, b] = [server(only(ls, 443), 0), server(only(ls, 443), 1)];
  assert.equal(a.minVersion, 'TLSv1.3');
  assert.equal(a.maxVersion, 'TLSv1.3');
  assert.deepEqual(a.cipherSuites, ['ECDHE-ECDSA-AES128-GCM-SHA256']);
  assert.deepEqual(
    { ...b, virtualHosts: undefined },
    {
      name: 'default/edge/b',
      sniHosts: ['other.example.com'],
      mode: 'ISTIO_MUTUAL',
      virtualHosts: undefined,
    },
  );
});

test('one port is plain or TLS; a TLS server repeating a host on its port is skipped (Istio)', async () => {
  const ls = await listeners(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8443, name: https, protocol: HTTPS }
      hosts: [bookinfo.example.com]
      tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem }
    - port: { number: 8443, name: http, protocol: HTTP }
      hosts: [other.example.com]
    - port: { number: 8443, name: again, protocol: HTTPS }
      hosts: [other.example.com, bookinfo.example.com]
      tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem }
    - port: { number: 8080, name: plain, protocol: HTTP }
      hosts: ['*']
    - port: { number: 8080, name: tls-on-plain, protocol: HTTPS }
      hosts: ['*']
      tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem }
---
${VS}`);
  assert.deepEqual(
    only(ls, 8443).tls?.servers.map((s) => s.name),
    ['default/edge/https'],
  );
  assert.equal(only(ls, 8080).tls, undefined);
  assert.deepEqual(
    only(ls, 8080).virtualHosts.map((v) => v.name),
    ['default/bookinfo:8080', 'default/other:8080'],
  );
});

test('httpsRedirect: the HTTP server answers 301 to https for its hosts, whatever is bound', async () => {
  const ls = await listeners(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8080, name: http, protocol: HTTP }
      hosts: [bookinfo.example.com]
      tls: { httpsRedirect: true }
    - port: { number: 8443, name: https, protocol: HTTPS }
      hosts: [bookinfo.example.com]
      tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem }
---
${VS}`);
  const plain = only(ls, 8080);
  assert.equal(plain.tls, undefined);
  assert.deepEqual(plain.virtualHosts, [
    {
      name: 'https-redirect:default/edge/http',
      domains: ['bookinfo.example.com', 'bookinfo.example.com:8080'],
      routes: [
        {
          name: 'https-redirect',
          matches: [],
          action: { kind: 'redirect', redirect: { scheme: 'https', status: 301 } },
        },
      ],
    },
  ]);
  assert.equal(server(only(ls, 8443)).error, undefined);
});

test('PASSTHROUGH (also the default mode): VirtualService tls routes by SNI, raw to the destination', async () => {
  const ls = await listeners(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: tls, protocol: TLS }
      hosts: ['*.example.com']
      tls: { mode: PASSTHROUGH }
    - port: { number: 8443, name: https-no-mode, protocol: HTTPS }
      hosts: [bookinfo.example.com]
      tls: { credentialName: ignored }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: sni }
spec:
  hosts: ['*.example.com']
  gateways: [edge]
  tls:
    - match: [{ port: 443, sniHosts: [bookinfo.example.com] }]
      route: [{ destination: { host: productpage, port: { number: 9080 } } }]
    - match: [{ port: 9999, sniHosts: [never.example.com] }]
      route: [{ destination: { host: productpage } }]
    - match: [{ sniHosts: [a.example.com, b.example.org] }]
      route:
        - { destination: { host: reviews, subset: v1 }, weight: 80 }
        - { destination: { host: reviews, subset: v2 }, weight: 20 }
`);
  const s = server(only(ls, 443));
  assert.equal(s.mode, 'PASSTHROUGH');
  assert.deepEqual(s.sniHosts, ['*.example.com']);
  assert.deepEqual(s.tlsRoutes, [
    {
      name: 'VirtualService/default/sni#tls[0]',
      sniHosts: ['bookinfo.example.com'],
      clusters: [{ cluster: `outbound|9080||${PRODUCTPAGE}`, weight: 100 }],
    },
    {
      name: 'VirtualService/default/sni#tls[2]',
      sniHosts: ['a.example.com'],
      clusters: [
        { cluster: 'outbound|9080|v1|reviews.default.svc.cluster.local', weight: 80 },
        { cluster: 'outbound|9080|v2|reviews.default.svc.cluster.local', weight: 20 },
      ],
    },
  ]);
  const noMode = server(only(ls, 8443));
  assert.equal(noMode.mode, 'PASSTHROUGH');
  assert.deepEqual(noMode.tlsRoutes, []);
  assert.equal(only(ls, 8443).virtualHosts.length, 0);
});

test('a TLS server that terminates sends what is inside to the first VirtualService tcp rule that applies', async () => {
  const ls = await listeners(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 31400, name: tls-tcp, protocol: TLS }
      hosts: [db.example.com]
      tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db }
spec:
  hosts: [db.example.com]
  gateways: [edge]
  tcp:
    - match: [{ port: 9999 }]
      route: [{ destination: { host: ratings } }]
    - match: [{ port: 31400 }]
      route: [{ destination: { host: reviews, subset: v1, port: { number: 9080 } } }]
`);
  const s = server(only(ls, 31400));
  assert.equal(s.mode, 'SIMPLE');
  assert.equal(s.error, undefined);
  assert.equal(s.virtualHosts, undefined);
  assert.deepEqual(s.tcpRoute, {
    name: 'VirtualService/default/db#tcp[1]',
    clusters: [{ cluster: 'outbound|9080|v1|reviews.default.svc.cluster.local', weight: 100 }],
  });
});

test('the Secret is read from the namespace of the gateway proxy, found by its labels when not given', async () => {
  const index = new MeshIndex(
    [
      ...parse(`
${tlsSecret('cred', bookinfo.certPem, bookinfo.keyPem)}
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: web }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: https, protocol: HTTPS }
      hosts: ['*']
      tls: { mode: SIMPLE, credentialName: cred }
`),
    ],
    [ingress],
  );
  assert.equal(server(gatewayListeners(index, ingress.labels)[0]!).error, undefined);
  assert.match(
    server(gatewayListeners(index, ingress.labels, 'web')[0]!).error ?? '',
    /Secret web\/cred not found/,
  );
  // No instance known (weft analyze, tests): the Gateway's own namespace.
  const alone = new MeshIndex([...index.gateways, ...index.secrets.values()], []);
  assert.match(server(gatewayListeners(alone, ingress.labels)[0]!).error ?? '', /Secret web\/cred not found/);
});

test("Istio's httpbin and helloworld gateways: a plain listener on port 80, alone or together", async () => {
  const httpbin = [
    fixture('istio-samples/httpbin/httpbin-gateway.yaml'),
    fixture('istio-samples/httpbin/httpbin.yaml'),
  ];
  const helloworld = [fixture('istio-samples/helloworld/helloworld-gateway.yaml')];
  for (const [dir, files] of [
    ['httpbin', httpbin],
    ['helloworld', helloworld],
  ] as const) {
    const index = new MeshIndex(await load(...files), [ingress]);
    const [l, ...rest] = compileSnapshot(index, proxyOf(ingress)).gateways;
    assert.deepEqual(rest, []);
    assert.ok(l);
    assert.equal(l.port, 80);
    assert.equal(l.tls, undefined);
    assert.deepEqual(
      l.virtualHosts.map((v) => [v.name, v.domains]),
      [[`default/${dir}:80`, ['*']]],
    );
  }
  // Both at once: two Gateways on port 80 and two VirtualServices on "*". As in Istio, the host's
  // routes are merged, the catch-all (httpbin's) last, so /hello still reaches helloworld.
  const index = new MeshIndex(await load(...httpbin, ...helloworld), [ingress]);
  const [l, ...rest] = compileSnapshot(index, proxyOf(ingress)).gateways;
  assert.deepEqual(rest, []);
  assert.deepEqual(
    l!.virtualHosts.map((v) => [v.name, v.domains, v.routes.map((r) => r.name)]),
    [
      [
        '*:80',
        ['*'],
        ['VirtualService/default/helloworld#http[0]', 'VirtualService/default/httpbin#http[0]'],
      ],
    ],
  );
});

test('credentialNames and tlsCertificates: several certificates on one server; the first gives the client CA', async () => {
  const rsa = await testLeaf(ca, { cn: 'bookinfo-rsa', dns: ['bookinfo.example.com'], rsa: true });
  const gw = (port: number, tls: string) => `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: ${port}, name: https, protocol: HTTPS }
      hosts: [bookinfo.example.com, other.example.com]
      tls: ${tls}
---`;
  const ls = await listeners(`
${tlsSecret('ec', bookinfo.certPem, bookinfo.keyPem, `  ca.crt: ${b64(clientCa.certPem)}\n`)}
${tlsSecret('rsa', rsa.certPem, rsa.keyPem)}
${tlsSecret('other', other.certPem, other.keyPem)}
${gw(8443, '{ mode: MUTUAL, credentialNames: [ec, rsa, other] }')}
${VS}`);
  const s = server(only(ls, 8443));
  assert.equal(s.error, undefined);
  assert.equal(s.certificate?.pem, bookinfo.certPem);
  assert.deepEqual(
    s.moreCertificates?.map((c) => c.certificate.pem),
    [rsa.certPem, other.certPem],
  );
  assert.equal(s.caCertificates?.pem, clientCa.certPem);

  const files = await listeners(`
${gw(
  8444,
  '{ mode: SIMPLE, tlsCertificates: [{ serverCertificate: /c/ec.crt, privateKey: /c/ec.key }, { serverCertificate: /c/rsa.crt, privateKey: /c/rsa.key }] }',
)}
${VS}`);
  const f = server(only(files, 8444));
  assert.deepEqual(
    [f.error, f.certificate, f.moreCertificates],
    [
      undefined,
      { file: '/c/ec.crt' },
      [{ certificate: { file: '/c/rsa.crt' }, privateKey: { file: '/c/rsa.key' } }],
    ],
  );

  const problems: Array<[string, RegExp]> = [
    [
      '{ mode: SIMPLE, credentialName: ec, credentialNames: [rsa] }',
      /only one of credential_name, credential_names/,
    ],
    ['{ mode: SIMPLE, credentialNames: [ec, nope] }', /Secret istio-system\/nope not found/],
    ['{ mode: SIMPLE, tlsCertificates: [{ serverCertificate: /c/x.crt }] }', /tlsCertificates\[0\] requires/],
    [
      '{ mode: MUTUAL, tlsCertificates: [{ serverCertificate: /a, privateKey: /b }] }',
      /requires a client CA bundle/,
    ],
  ];
  for (const [tls, want] of problems) {
    const l = await listeners(`
${tlsSecret('ec', bookinfo.certPem, bookinfo.keyPem)}
${tlsSecret('rsa', rsa.certPem, rsa.keyPem)}
${gw(8445, tls)}
${VS}`);
    assert.match(server(only(l, 8445)).error ?? '', want, tls);
  }
});

test('TCP servers: the port takes raw connections for the first matching VirtualService tcp route', async () => {
  const ls = await listeners(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: raw }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 31400, name: tcp, protocol: TCP }
      hosts: ['*']
    - port: { number: 31400, name: http-clash, protocol: HTTP }
      hosts: ['*']
    - port: { number: 27017, name: mongo, protocol: MONGO }
      hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: raw }
spec:
  hosts: ['*']
  gateways: [raw]
  tcp:
    - match: [{ port: 27017 }]
      route: [{ destination: { host: ratings, port: { number: 9080 } } }]
    - route:
        - { destination: { host: productpage, port: { number: 9080 } }, weight: 80 }
        - { destination: { host: reviews, port: { number: 9080 } }, weight: 20 }
`);
  const tcp = ls.find((l) => l.port === 31400)!;
  assert.equal(tcp.tls, undefined);
  assert.deepEqual(tcp.virtualHosts, [], 'the HTTP server on the same port is left out');
  assert.deepEqual(
    tcp.tcpRoute?.clusters.map((c) => [c.cluster, c.weight]),
    [
      [`outbound|9080||${PRODUCTPAGE}`, 80],
      ['outbound|9080||reviews.default.svc.cluster.local', 20],
    ],
  );
  const mongo = ls.find((l) => l.port === 27017)!;
  assert.deepEqual(
    mongo.tcpRoute?.clusters.map((c) => c.cluster),
    ['outbound|9080||ratings.default.svc.cluster.local'],
  );
  // No route for the port: connections are closed, not served as HTTP.
  const none = await listeners(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: raw }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 31400, name: tcp, protocol: TCP }, hosts: ['*'] }]
`);
  assert.deepEqual(none.find((l) => l.port === 31400)?.tcpRoute?.clusters, []);
});
