// Gateway API listeners with TLS, live: one `weft up` mesh whose ingress serves a Gateway API Gateway
// (gateway.networking.k8s.io/v1) asked by real TLS clients (Node tls/https, curl --resolve):
//  - HTTPS listeners terminating with certificates from Secrets (certificateRefs), routing HTTPRoutes to
//    a mesh service; two hostnames on one port, the SNI picks the certificate;
//  - TLS Passthrough with a TLSRoute to a TLS server in the mesh that keeps its own certificate;
//  - TLS Terminate with a TCPRoute: the bytes inside go to a mesh service;
//  - a TCP listener with a TCPRoute: plain TCP to a mesh service (inside the mesh's mTLS), weighted;
//  - a certificateRef to another namespace: refused (RefNotPermitted in `weft get gtw`) until a
//    ReferenceGrant allows it, then served;
//  - route and Gateway status through `weft get tlsroute|httproute|gtw -o json|yaml`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { changeConfig } from './support/config-sync.js';
import { freePort } from '../src/local/ports.js';
import { testCa, testLeaf, type TestCert } from '../src/proxy/listeners/gateway-testing.js';

const INGRESS = 'istio-ingressgateway-0.istio-system';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let mesh: RunningMesh;
let dir: string;
const port = { https: 0, pass: 0, tcp: 0, cross: 0, plain: 0 };
const certs: Record<string, TestCert> = {};
const files = { ca: '', backendCa: '' };

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('curl', ['-sS', '--max-time', '10', ...args], (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}
const haveCurl = await new Promise<boolean>((r) => execFile('curl', ['--version'], (e) => r(!e)));

interface Reply {
  status: number;
  body: string;
  peerCn: string;
}

function httpsGet(p: number, o: { sni: string; host?: string; path?: string; ca?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: p,
        path: o.path ?? '/get',
        servername: o.sni,
        headers: { host: o.host ?? o.sni },
        ca: o.ca ?? certs.ca!.certPem,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const peerCn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '');
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerCn }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The TLS handshake alone: the certificate a client is shown for a server name. */
function peerCertificate(p: number, sni: string, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: p, servername: sni, ca }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.on('error', reject);
  });
}

const secret = (name: string, ns: string, c: TestCert) => `
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${ns}}
type: kubernetes.io/tls
data: {tls.crt: ${b64(c.certPem)}, tls.key: ${b64(c.keyPem)}}
---`;

function meshYaml(): string {
  return `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: web, labels: {app: web}}
spec:
  serviceAccount: web
  ports: [{name: http, containerPort: 8080}]
  command: [node, dist/test/support/echo-server.js]
  readinessProbe: {httpGet: {path: /health}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 8080, name: http}]
  selector: {app: web}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: tls-backend, labels: {app: tls-backend}}
spec:
  serviceAccount: tls-backend
  ports: [{name: tls, containerPort: 8443}]
  command: [node, ${join(dir, 'backend.mjs')}]
  env: {CERT: ${join(dir, 'backend.crt')}, KEY: ${join(dir, 'backend.key')}}
---
apiVersion: v1
kind: Service
metadata: {name: tls-backend}
spec:
  ports: [{port: 8443, name: tls}]
  selector: {app: tls-backend}
---
${secret('a-cert', 'default', certs.a!)}
${secret('b-cert', 'default', certs.b!)}
${secret('cross-cert', 'certs', certs.cross!)}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: default}
spec:
  gatewayClassName: weft
  listeners:
  - name: https-a
    port: ${port.https}
    protocol: HTTPS
    hostname: a.example.com
    tls: {mode: Terminate, certificateRefs: [{kind: Secret, group: "", name: a-cert}]}
  - name: https-b
    port: ${port.https}
    protocol: HTTPS
    hostname: b.example.com
    tls: {certificateRefs: [{name: b-cert}]}
  - name: tls-pass
    port: ${port.pass}
    protocol: TLS
    hostname: backend.example.com
    tls: {mode: Passthrough}
  - name: tls-tcp
    port: ${port.tcp}
    protocol: TLS
    hostname: a.example.com
    tls: {mode: Terminate, certificateRefs: [{name: a-cert}]}
  - name: https-cross
    port: ${port.cross}
    protocol: HTTPS
    hostname: cross.example.com
    tls: {certificateRefs: [{name: cross-cert, namespace: certs}]}
  - name: tcp
    port: ${port.plain}
    protocol: TCP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: edge, sectionName: https-a}, {name: edge, sectionName: https-b}, {name: edge, sectionName: https-cross}]
  hostnames: [a.example.com, b.example.com, cross.example.com]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: backend}
spec:
  parentRefs: [{name: edge, sectionName: tls-pass}]
  hostnames: [backend.example.com]
  rules: [{backendRefs: [{name: tls-backend, port: 8443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: raw-web}
spec:
  parentRefs: [{name: edge, sectionName: tls-tcp}]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: plain}
spec:
  parentRefs: [{name: edge, sectionName: tcp}]
  rules: [{backendRefs: [{name: web, port: 8080, weight: 1}, {name: tls-backend, port: 8443, weight: 0}]}]
`;
}

const GRANT = `
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways-read-certs, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: Secret, name: cross-cert}]
`;

// A TLS server that keeps its own certificate, standing in for an app that terminates TLS itself.
const BACKEND = `
import https from 'node:https';
import { readFileSync } from 'node:fs';
const s = https.createServer({ cert: readFileSync(process.env.CERT), key: readFileSync(process.env.KEY) }, (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('backend ' + req.headers.host);
});
s.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => s.close(() => process.exit(0)));
`;

before(async () => {
  dir = await tempDir('weft-gwapi-tls-e2e-');
  const ca = await testCa('Gateway API Test CA');
  const backendCa = await testCa('Backend CA');
  Object.assign(certs, {
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    a: await testLeaf(ca, { cn: 'cert-a', dns: ['a.example.com'] }),
    b: await testLeaf(ca, { cn: 'cert-b', dns: ['b.example.com'] }),
    cross: await testLeaf(ca, { cn: 'cert-cross', dns: ['cross.example.com'] }),
    backend: await testLeaf(backendCa, { cn: 'backend-own', dns: ['backend.example.com'] }),
  });
  files.ca = join(dir, 'ca.crt');
  files.backendCa = join(dir, 'backend-ca.crt');
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.backendCa, backendCa.certPem);
  await writeFile(join(dir, 'backend.crt'), certs.backend!.certPem);
  await writeFile(join(dir, 'backend.key'), certs.backend!.keyPem);
  await writeFile(join(dir, 'backend.mjs'), BACKEND);
  await writeFile(join(dir, 'grant.yaml'), GRANT);
  for (const k of ['https', 'pass', 'tcp', 'cross', 'plain'] as const) port[k] = await freePort();
  await writeFile(join(dir, 'mesh.yaml'), meshYaml());
  mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
  await waitFor(
    'the HTTPS listener',
    async () => (await httpsGet(port.https, { sni: 'a.example.com' })).status === 200,
  );
});

after(async () => {
  await mesh?.stop();
});

async function getJson<T>(kind: string, name: string): Promise<T> {
  const r = await mesh.weft(['get', kind, name, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface GatewayJson {
  status: { listeners: Array<{ name: string; attachedRoutes: number; conditions: Cond[] }> };
}
const listener = (g: GatewayJson, name: string) => g.status.listeners.find((l) => l.name === name)!;
const condition = (cs: Cond[], type: string) => cs.find((c) => c.type === type)!;

describe('Gateway API TLS', () => {
  test('HTTPS listener: the Secret certificate, HTTPRoute to a mesh service (Node https, http2 and curl --resolve)', async () => {
    const r = await httpsGet(port.https, { sni: 'a.example.com', path: '/get?x=1' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.peerCn, 'cert-a');
    assert.deepEqual(
      [(JSON.parse(r.body) as { pod: string }).pod, (JSON.parse(r.body) as { path: string }).path],
      ['web-0', '/get?x=1'],
    );
    if (haveCurl) {
      const c = await curl([
        '--resolve',
        `a.example.com:${port.https}:127.0.0.1`,
        '--cacert',
        files.ca,
        `https://a.example.com:${port.https}/curl`,
      ]);
      assert.equal(c.code, 0, c.stderr);
      assert.equal((JSON.parse(c.stdout) as { path: string }).path, '/curl');
    }
    // HTTP/2 over the same listener (ALPN h2).
    const h2 = http2.connect(`https://127.0.0.1:${port.https}`, {
      ca: certs.ca!.certPem,
      servername: 'a.example.com',
    });
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = h2.request({ ':path': '/h2', ':authority': 'a.example.com' });
      let body = '';
      let status = 0;
      s.setEncoding('utf8');
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (c: string) => (body += c));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
    });
    h2.close();
    assert.equal(reply.status, 200, reply.body);
    assert.equal((JSON.parse(reply.body) as { path: string }).path, '/h2');
  });

  test('two hostnames on one port: the SNI picks the certificate; an unknown name gets no connection', async () => {
    assert.equal(
      (await peerCertificate(port.https, 'a.example.com', certs.ca!.certPem)).subject.CN,
      'cert-a',
    );
    assert.equal(
      (await peerCertificate(port.https, 'b.example.com', certs.ca!.certPem)).subject.CN,
      'cert-b',
    );
    const b = await httpsGet(port.https, { sni: 'b.example.com' });
    assert.deepEqual([b.status, b.peerCn], [200, 'cert-b']);
    await assert.rejects(peerCertificate(port.https, 'c.example.com', certs.ca!.certPem));
    // Listener isolation: a's handshake does not reach b's host.
    const cross = await httpsGet(port.https, { sni: 'a.example.com', host: 'b.example.com' });
    assert.equal(cross.status, 404);
    if (haveCurl) {
      const c = await curl([
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--resolve',
        `b.example.com:${port.https}:127.0.0.1`,
        '--cacert',
        files.ca,
        `https://b.example.com:${port.https}/status`,
      ]);
      assert.equal(c.stdout, '200', c.stderr);
    }
  });

  test('TLS Passthrough + TLSRoute: raw TLS by SNI to a backend that keeps its own certificate', async () => {
    const backendCa = await readFile(files.backendCa, 'utf8');
    assert.equal(
      (await peerCertificate(port.pass, 'backend.example.com', backendCa)).subject.CN,
      'backend-own',
    );
    const r = await httpsGet(port.pass, { sni: 'backend.example.com', path: '/', ca: backendCa });
    assert.deepEqual([r.status, r.body], [200, 'backend backend.example.com']);
    if (haveCurl) {
      const c = await curl([
        '--resolve',
        `backend.example.com:${port.pass}:127.0.0.1`,
        '--cacert',
        files.backendCa,
        `https://backend.example.com:${port.pass}/`,
      ]);
      assert.equal(c.stdout, `backend backend.example.com:${port.pass}`, c.stderr);
    }
    await assert.rejects(peerCertificate(port.pass, 'other.example.com', backendCa));
  });

  test('TLS Terminate + TCPRoute: the gateway ends TLS, the bytes inside go to the mesh service', async () => {
    const r = await httpsGet(port.tcp, { sni: 'a.example.com', path: '/raw' });
    assert.deepEqual(
      [r.status, r.peerCn, (JSON.parse(r.body) as { path: string }).path],
      [200, 'cert-a', '/raw'],
    );
  });

  test('TCP listener + TCPRoute: plain TCP bytes to the mesh service, unread by the gateway', async () => {
    // Raw bytes: an HTTP/1.1 request written by hand on a TCP socket; the web app answers it.
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port.plain, '127.0.0.1', () =>
        s.write('GET /over-tcp HTTP/1.1\r\nHost: anything\r\nConnection: close\r\n\r\n'),
      );
      let data = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (data += c));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.match(reply, /"path":"\/over-tcp"/);
    assert.match(reply, /"pod":"web-0"/);
  });

  test('route status: weft get tlsroute / tcproute / httproute', async () => {
    const tlsRoute = await getJson<{ status: { parents: Array<{ conditions: Cond[] }> } }>(
      'tlsroute',
      'backend',
    );
    assert.deepEqual(
      tlsRoute.status.parents[0]!.conditions.map((c) => `${c.type}:${c.status}`),
      ['Accepted:True', 'ResolvedRefs:True'],
    );
    for (const name of ['raw-web', 'plain']) {
      const tcp = await getJson<{ status: { parents: Array<{ conditions: Cond[] }> } }>('tcproutes', name);
      assert.equal(condition(tcp.status.parents[0]!.conditions, 'Accepted').status, 'True', name);
    }
    const web = await getJson<{ status: { parents: unknown[] } }>('httproute', 'web');
    assert.equal(web.status.parents.length, 3);
    const yaml = await mesh.weft(['get', 'tlsroute', 'backend', '-o', 'yaml']);
    assert.match(yaml.stdout, /reason: Accepted/);
  });

  test('a certificateRef to another namespace: refused with RefNotPermitted until a ReferenceGrant allows it', async () => {
    await assert.rejects(peerCertificate(port.cross, 'cross.example.com', certs.ca!.certPem));
    const before = await getJson<GatewayJson>('gtw', 'edge');
    const refs = condition(listener(before, 'https-cross').conditions, 'ResolvedRefs');
    assert.deepEqual([refs.status, refs.reason], ['False', 'RefNotPermitted']);
    assert.equal(condition(listener(before, 'https-cross').conditions, 'Programmed').status, 'False');
    assert.equal(condition(listener(before, 'https-a').conditions, 'Programmed').status, 'True');
    assert.equal(listener(before, 'https-a').attachedRoutes, 1);
    const yaml = await mesh.weft(['get', 'gtw', 'edge', '-o', 'yaml']);
    assert.match(yaml.stdout, /reason: RefNotPermitted/);

    await changeConfig(mesh, ['apply', '-f', join(dir, 'grant.yaml')], [INGRESS]);
    await waitFor(
      'the granted certificate',
      async () =>
        (await peerCertificate(port.cross, 'cross.example.com', certs.ca!.certPem)).subject.CN ===
        'cert-cross',
    );
    const r = await httpsGet(port.cross, { sni: 'cross.example.com' });
    assert.deepEqual([r.status, r.peerCn], [200, 'cert-cross']);
    const after = await getJson<GatewayJson>('gtw', 'edge');
    assert.equal(condition(listener(after, 'https-cross').conditions, 'ResolvedRefs').status, 'True');
  });
});

// Client certificate validation (GEP-91: Gateway spec.tls.frontend, and the older listener
// tls.frontendValidation) and several certificateRefs on one listener, asked by Node tls/https and curl.
describe('Gateway API TLS: client certificates and several certificates', () => {
  const mp = { strict: 0, lenient: 0, cross: 0 };
  const mc: Record<string, TestCert> = {};
  const mf = { ca: '', clientCert: '', clientKey: '', strangerCert: '', strangerKey: '', grant: '' };

  function mtlsGet(p: number, sni: string, client?: TestCert, extra: tls.ConnectionOptions = {}) {
    return new Promise<{ status: number; body: string; peerCn: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: p,
          path: '/who',
          servername: sni,
          headers: { host: sni },
          ca: certs.ca!.certPem,
          agent: false,
          timeout: 10_000,
          ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
          ...extra,
        },
        (res) => {
          const peerCn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '');
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerCn }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    const ca = await testCa('Frontend Server CA');
    const clientCa = await testCa('Frontend Client CA');
    const strangerCa = await testCa('Stranger CA');
    Object.assign(mc, {
      serverCa: { certPem: ca.certPem, keyPem: ca.keyPem },
      ec: await testLeaf(ca, { cn: 'fe-ecdsa', dns: ['fe.example.com'] }),
      rsa: await testLeaf(ca, { cn: 'fe-rsa', dns: ['fe.example.com'], rsa: true }),
      alt: await testLeaf(ca, { cn: 'fe-alt', dns: ['alt.example.com'] }),
      client: await testLeaf(clientCa, { cn: 'good-client', client: true }),
      stranger: await testLeaf(strangerCa, { cn: 'stranger', client: true }),
    });
    for (const k of ['strict', 'lenient', 'cross'] as const) mp[k] = await freePort();
    Object.assign(mf, {
      ca: join(dir, 'fe-ca.crt'),
      clientCert: join(dir, 'fe-client.crt'),
      clientKey: join(dir, 'fe-client.key'),
      strangerCert: join(dir, 'fe-stranger.crt'),
      strangerKey: join(dir, 'fe-stranger.key'),
      grant: join(dir, 'fe-grant.yaml'),
    });
    await writeFile(mf.ca, ca.certPem);
    await writeFile(mf.clientCert, mc.client!.certPem);
    await writeFile(mf.clientKey, mc.client!.keyPem);
    await writeFile(mf.strangerCert, mc.stranger!.certPem);
    await writeFile(mf.strangerKey, mc.stranger!.keyPem);
    await writeFile(
      mf.grant,
      `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways-read-cas, namespace: cas}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: ConfigMap, name: remote-client-ca}]
`,
    );
    const configMap = (name: string, ns: string) => `
apiVersion: v1
kind: ConfigMap
metadata: {name: ${name}, namespace: ${ns}}
data: {ca.crt: ${JSON.stringify(clientCa.certPem)}}
---`;
    const refs = '[{name: fe-ec}, {name: fe-rsa}, {name: fe-alt}]';
    await writeFile(
      join(dir, 'frontend.yaml'),
      `${secret('fe-ec', 'default', mc.ec!)}
${secret('fe-rsa', 'default', mc.rsa!)}
${secret('fe-alt', 'default', mc.alt!)}
${configMap('client-ca', 'default')}
${configMap('remote-client-ca', 'cas')}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: mtls-edge, namespace: default}
spec:
  gatewayClassName: weft
  tls:
    frontend:
      default:
        validation:
          caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]
      perPort:
      - port: ${mp.lenient}
        tls:
          validation:
            mode: AllowInsecureFallback
            caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]
  listeners:
  - {name: strict, port: ${mp.strict}, protocol: HTTPS, tls: {certificateRefs: ${refs}}}
  - {name: lenient, port: ${mp.lenient}, protocol: HTTPS, tls: {certificateRefs: [{name: fe-ec}]}}
  - name: cross
    port: ${mp.cross}
    protocol: HTTPS
    tls:
      certificateRefs: [{name: fe-ec}]
      frontendValidation:
        caCertificateRefs: [{group: "", kind: ConfigMap, name: remote-client-ca, namespace: cas}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: fe-web, namespace: default}
spec:
  parentRefs: [{name: mtls-edge}]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
`,
    );
    await changeConfig(mesh, ['apply', '-f', join(dir, 'frontend.yaml')], [INGRESS]);
    await waitFor(
      'the client-certificate listener',
      async () => (await mtlsGet(mp.strict, 'fe.example.com', mc.client, { ca: ca.certPem })).status === 200,
    );
  });

  test('frontend.default (AllowValidOnly): a client certificate from the ConfigMap CA gets in; none or a stranger one gets no connection', async () => {
    const ca = { ca: mc.serverCa!.certPem };
    const ok = await mtlsGet(mp.strict, 'fe.example.com', mc.client, ca);
    assert.equal(ok.status, 200, ok.body);
    assert.equal((JSON.parse(ok.body) as { pod: string }).pod, 'web-0');
    await assert.rejects(mtlsGet(mp.strict, 'fe.example.com', undefined, ca));
    await assert.rejects(mtlsGet(mp.strict, 'fe.example.com', mc.stranger, ca));
    if (haveCurl) {
      const url = `https://fe.example.com:${mp.strict}/curl`;
      const resolve = ['--resolve', `fe.example.com:${mp.strict}:127.0.0.1`, '--cacert', mf.ca];
      const good = await curl([...resolve, '--cert', mf.clientCert, '--key', mf.clientKey, url]);
      assert.equal(good.code, 0, good.stderr);
      assert.equal((JSON.parse(good.stdout) as { path: string }).path, '/curl');
      const none = await curl([...resolve, url]);
      assert.notEqual(none.code, 0, none.stdout);
      const stranger = await curl([...resolve, '--cert', mf.strangerCert, '--key', mf.strangerKey, url]);
      assert.notEqual(stranger.code, 0, stranger.stdout);
    }
  });

  test('several certificateRefs on one listener: the SNI and the client key types choose', async () => {
    const ca = mc.serverCa!.certPem;
    const o = { ca, cert: mc.client!.certPem, key: mc.client!.keyPem };
    const cn = (sni: string, extra: tls.ConnectionOptions) =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: mp.strict, servername: sni, ...o, ...extra }, () => {
          resolve(String(s.getPeerCertificate().subject.CN));
          s.end();
        });
        s.on('error', reject);
      });
    assert.equal(await cn('fe.example.com', { sigalgs: 'ecdsa_secp256r1_sha256' }), 'fe-ecdsa');
    assert.equal(await cn('fe.example.com', { sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' }), 'fe-rsa');
    assert.equal(await cn('alt.example.com', {}), 'fe-alt');
    const r = await mtlsGet(mp.strict, 'alt.example.com', mc.client, { ca });
    assert.deepEqual([r.status, r.peerCn], [200, 'fe-alt']);
    if (haveCurl) {
      const c = await curl([
        '-v',
        '-o',
        '/dev/null',
        '--tls-max',
        '1.2',
        '--ciphers',
        'ECDHE-RSA-AES128-GCM-SHA256',
        '--resolve',
        `fe.example.com:${mp.strict}:127.0.0.1`,
        '--cacert',
        mf.ca,
        '--cert',
        mf.clientCert,
        '--key',
        mf.clientKey,
        `https://fe.example.com:${mp.strict}/`,
      ]);
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stderr, /subject: CN=fe-rsa/);
    }
    const g = await getJson<GatewayJson>('gtw', 'mtls-edge');
    assert.equal(condition(listener(g, 'strict').conditions, 'ResolvedRefs').status, 'True');
  });

  test('perPort AllowInsecureFallback: clients without a certificate or with a stranger one are let in, and the Gateway says so', async () => {
    const ca = { ca: mc.serverCa!.certPem };
    for (const client of [undefined, mc.stranger, mc.client]) {
      const r = await mtlsGet(mp.lenient, 'fe.example.com', client, ca);
      assert.equal(r.status, 200, `${client ? 'with' : 'without'} a certificate: ${r.body}`);
    }
    const g = await getJson<GatewayJson & { status: { conditions: Cond[] } }>('gtw', 'mtls-edge');
    const insecure = condition(g.status.conditions, 'InsecureFrontendValidationMode');
    assert.deepEqual([insecure.status, insecure.reason], ['True', 'ConfigurationChanged']);
  });

  test('a caCertificateRef to another namespace: RefNotPermitted and no connection until a ReferenceGrant allows it', async () => {
    const ca = { ca: mc.serverCa!.certPem };
    await assert.rejects(mtlsGet(mp.cross, 'fe.example.com', mc.client, ca));
    const before = await getJson<GatewayJson>('gtw', 'mtls-edge');
    const cs = listener(before, 'cross').conditions;
    assert.deepEqual(
      [condition(cs, 'ResolvedRefs').reason, condition(cs, 'Accepted').reason],
      ['RefNotPermitted', 'NoValidCACertificate'],
    );
    await changeConfig(mesh, ['apply', '-f', mf.grant], [INGRESS]);
    await waitFor(
      'the granted CA',
      async () => (await mtlsGet(mp.cross, 'fe.example.com', mc.client, ca)).status === 200,
    );
    await assert.rejects(mtlsGet(mp.cross, 'fe.example.com', undefined, ca));
    const after = await getJson<GatewayJson>('gtw', 'mtls-edge');
    assert.equal(condition(listener(after, 'cross').conditions, 'ResolvedRefs').status, 'True');
  });
});
