// TLS at the ingress gateway, live: one `weft up` mesh whose ingress serves Istio Gateway servers over
// HTTPS, asked by real TLS clients (curl, Node https/tls/http2):
//  - Istio's httpbin and helloworld sample gateways (../shared/fixtures/istio-samples), loaded as they
//    are, serving together on port 80 (moved to a free port only when 80 cannot be bound here);
//  - SIMPLE from certificate files, SIMPLE from a Secret (credentialName), two certificates on one port
//    chosen by SNI, MUTUAL with and without a client certificate, httpsRedirect, PASSTHROUGH to a TLS
//    server in the mesh that keeps its own certificate, a TLS server that terminates to a tcp route;
//  - the certificate files replaced under a steady stream of requests: no request fails, new handshakes
//    get the new certificate, a bad file keeps the old one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { fixture } from './support/paths.js';
import { changeConfig } from './support/config-sync.js';
import { freePort } from '../src/local/ports.js';
import { testCa, testLeaf, type TestCert } from '../src/proxy/listeners/gateway-testing.js';

const INGRESS = 'istio-ingressgateway-0.istio-system';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let mesh: RunningMesh;
let dir: string;
const port = { samples: 80, files: 0, sni: 0, mtls: 0, redirect: 0, pass: 0, tcp: 0, plain: 0 };
let samplesMoved = false;
const files = { ca: '', cert: '', key: '', clientCert: '', clientKey: '', backendCa: '' };
const certs: Record<string, TestCert> = {};

function canBind(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

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
  location?: string;
}

function httpsGet(
  p: number,
  o: { sni: string; path?: string; ca?: string; cert?: TestCert; agent?: https.Agent },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: p,
        path: o.path ?? '/get',
        servername: o.sni,
        headers: { host: o.sni },
        ca: o.ca ?? certs.ca!.certPem,
        agent: o.agent ?? false,
        timeout: 10_000,
        ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
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

function plainGet(p: number, path: string, host: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: p, path, headers: { host }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            peerCn: '',
            location: String(res.headers.location ?? ''),
          }),
        );
      })
      .on('error', reject);
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

const workload = (name: string, app: string, version: string, containerPort: number, extra = '') => `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}, labels: {app: ${app}, version: ${version}}}
spec:
  serviceAccount: ${app}
  ports: [{name: http, containerPort: ${containerPort}}]
${extra || `  command: [node, dist/test/support/echo-server.js]\n  readinessProbe: {httpGet: {path: /health}}`}
---`;

function meshYaml(): string {
  const secret = (name: string, type: string, data: Record<string, string>) => `
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: istio-system}
type: ${type}
data: ${JSON.stringify(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])))}
---`;
  return `
${workload('httpbin', 'httpbin', 'v1', 8080)}
${workload('helloworld-v1', 'helloworld', 'v1', 5000)}
${workload('helloworld-v2', 'helloworld', 'v2', 5000)}
${workload(
  'tls-backend',
  'tls-backend',
  'v1',
  8443,
  `  command: [node, ${join(dir, 'backend.mjs')}]\n  env: {CERT: ${join(dir, 'backend.crt')}, KEY: ${join(dir, 'backend.key')}}`,
)}
# helloworld's Service, as in Istio's samples/helloworld/helloworld.yaml
apiVersion: v1
kind: Service
metadata: {name: helloworld, labels: {app: helloworld, service: helloworld}}
spec:
  ports: [{port: 5000, name: http}]
  selector: {app: helloworld}
---
apiVersion: v1
kind: Service
metadata: {name: tls-backend}
spec:
  ports: [{port: 8443, name: tls}]
  selector: {app: tls-backend}
---
${secret('secret-credential', 'kubernetes.io/tls', { 'tls.crt': certs.secret!.certPem, 'tls.key': certs.secret!.keyPem })}
${secret('sni-b-credential', 'Opaque', { cert: certs.sniB!.certPem, key: certs.sniB!.keyPem })}
${secret('mtls-credential', 'kubernetes.io/tls', {
  'tls.crt': certs.mtls!.certPem,
  'tls.key': certs.mtls!.keyPem,
  'ca.crt': certs.clientCa!.certPem,
})}
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tls-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port.files}, name: https-files, protocol: HTTPS}
    hosts: [files.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${files.cert}, privateKey: ${files.key}}
  - port: {number: ${port.sni}, name: https-secret, protocol: HTTPS}
    hosts: [secret.example.com]
    tls: {mode: SIMPLE, credentialName: secret-credential}
  - port: {number: ${port.sni}, name: https-sni-b, protocol: HTTPS}
    hosts: [sni-b.example.com]
    tls: {mode: SIMPLE, credentialName: sni-b-credential}
  - port: {number: ${port.mtls}, name: https-mtls, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL, credentialName: mtls-credential}
  - port: {number: ${port.redirect}, name: http-redirect, protocol: HTTP}
    hosts: [redirect.example.com]
    tls: {httpsRedirect: true}
  - port: {number: ${port.pass}, name: tls-pass, protocol: TLS}
    hosts: [backend.example.com]
    tls: {mode: PASSTHROUGH}
  - port: {number: ${port.tcp}, name: tls-tcp, protocol: TLS}
    hosts: [secret.example.com]
    tls: {mode: SIMPLE, credentialName: secret-credential}
  - port: {number: ${port.plain}, name: tcp-raw, protocol: TCP}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-raw}
spec:
  hosts: ['*']
  gateways: [tls-gateway]
  tcp:
  - match: [{port: ${port.plain}}]
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-httpbin}
spec:
  hosts: [secret.example.com]
  gateways: [tls-gateway]
  tcp:
  - match: [{port: ${port.tcp}}]
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure-httpbin}
spec:
  hosts: [files.example.com, secret.example.com, sni-b.example.com, mtls.example.com, redirect.example.com]
  gateways: [tls-gateway]
  http:
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend-passthrough}
spec:
  hosts: [backend.example.com]
  gateways: [tls-gateway]
  tls:
  - match: [{port: ${port.pass}, sniHosts: [backend.example.com]}]
    route: [{destination: {host: tls-backend, port: {number: 8443}}}]
`;
}

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
  dir = await tempDir('weft-gw-tls-e2e-');
  const ca = await testCa('Gateway Test CA');
  const clientCa = await testCa('Gateway Client CA');
  const backendCa = await testCa('Backend CA');
  Object.assign(certs, {
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    clientCa: { certPem: clientCa.certPem, keyPem: clientCa.keyPem },
    files1: await testLeaf(ca, { cn: 'files-v1', dns: ['files.example.com'] }),
    files2: await testLeaf(ca, { cn: 'files-v2', dns: ['files.example.com'] }),
    files3: await testLeaf(ca, { cn: 'files-v3', dns: ['files.example.com'] }),
    secret: await testLeaf(ca, { cn: 'secret', dns: ['secret.example.com'] }),
    sniB: await testLeaf(ca, { cn: 'sni-b', dns: ['sni-b.example.com'] }),
    mtls: await testLeaf(ca, { cn: 'mtls', dns: ['mtls.example.com'] }),
    client: await testLeaf(clientCa, { cn: 'client', client: true }),
    backend: await testLeaf(backendCa, { cn: 'backend-own', dns: ['backend.example.com'] }),
  });
  files.ca = join(dir, 'ca.crt');
  files.cert = join(dir, 'tls.crt');
  files.key = join(dir, 'tls.key');
  files.clientCert = join(dir, 'client.crt');
  files.clientKey = join(dir, 'client.key');
  files.backendCa = join(dir, 'backend-ca.crt');
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.cert, certs.files1!.certPem);
  await writeFile(files.key, certs.files1!.keyPem);
  await writeFile(files.clientCert, certs.client!.certPem);
  await writeFile(files.clientKey, certs.client!.keyPem);
  await writeFile(files.backendCa, backendCa.certPem);
  await writeFile(join(dir, 'backend.crt'), certs.backend!.certPem);
  await writeFile(join(dir, 'backend.key'), certs.backend!.keyPem);
  await writeFile(join(dir, 'backend.mjs'), BACKEND);
  for (const k of ['files', 'sni', 'mtls', 'redirect', 'pass', 'tcp', 'plain'] as const)
    port[k] = await freePort();
  await writeFile(join(dir, 'mesh.yaml'), meshYaml());

  // Istio's samples as they are; their Gateways listen on 80, which needs root or a low
  // ip_unprivileged_port_start. Where 80 cannot be bound, copies move it to a free port.
  const samples = [
    fixture('istio-samples/httpbin/httpbin.yaml'),
    fixture('istio-samples/httpbin/httpbin-gateway.yaml'),
    fixture('istio-samples/helloworld/helloworld-gateway.yaml'),
  ];
  let sampleFiles = samples;
  if (!(await canBind(80))) {
    samplesMoved = true;
    port.samples = await freePort();
    sampleFiles = [];
    for (const [i, f] of samples.entries()) {
      const moved = join(dir, `sample-${i}.yaml`);
      await writeFile(moved, (await readFile(f, 'utf8')).replace(/number: 80\b/g, `number: ${port.samples}`));
      sampleFiles.push(moved);
    }
  }
  mesh = await RunningMesh.up([...sampleFiles, join(dir, 'mesh.yaml')]);
  // The ingress is ready once its first snapshot is applied; its listeners are then open.
  await waitFor(
    'the HTTPS listener',
    async () => (await httpsGet(port.files, { sni: 'files.example.com' })).status === 200,
  );
});

after(async () => {
  await mesh?.stop();
});

async function proxyLog(): Promise<string> {
  return readFile(join(mesh.stateDir, 'logs', `${INGRESS}.proxy.log`), 'utf8').catch(() => '');
}

describe('gateway TLS', () => {
  test(`Istio's httpbin and helloworld samples serve together, unchanged${samplesMoved ? ' (port 80 moved)' : ''}`, async () => {
    const headers = await plainGet(port.samples, '/headers', 'httpbin.example.com');
    assert.equal(headers.status, 200, headers.body);
    assert.equal((JSON.parse(headers.body) as { pod: string }).pod, 'httpbin-0');
    const pods = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const hello = await plainGet(port.samples, '/hello', 'anything');
      assert.equal(hello.status, 200, hello.body);
      pods.add((JSON.parse(hello.body) as { pod: string }).pod);
    }
    assert.deepEqual([...pods].sort(), ['helloworld-v1-0', 'helloworld-v2-0']);
  });

  test(
    'SIMPLE from certificate files (curl --resolve --cacert), HTTP/1.1 and h2',
    { skip: !haveCurl && 'no curl' },
    async () => {
      const r = await curl([
        '--resolve',
        `files.example.com:${port.files}:127.0.0.1`,
        '--cacert',
        files.ca,
        `https://files.example.com:${port.files}/get?x=1`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const body = JSON.parse(r.stdout) as { path: string; pod: string };
      assert.deepEqual([body.path, body.pod], ['/get?x=1', 'httpbin-0']);
      // An HTTP/2 client over the same TLS port (ALPN h2).
      const h2 = http2.connect(`https://127.0.0.1:${port.files}`, {
        ca: certs.ca!.certPem,
        servername: 'files.example.com',
      });
      const status = await new Promise<number>((resolve, reject) => {
        const s = h2.request({ ':path': '/get', ':authority': 'files.example.com' });
        s.on('response', (h) => resolve(Number(h[':status'])));
        s.on('error', reject);
        s.resume();
      });
      h2.close();
      assert.equal(status, 200);
    },
  );

  test('credentialName: two Secrets on one port, the SNI picks the certificate', async () => {
    assert.equal(
      (await peerCertificate(port.sni, 'secret.example.com', certs.ca!.certPem)).subject.CN,
      'secret',
    );
    assert.equal(
      (await peerCertificate(port.sni, 'sni-b.example.com', certs.ca!.certPem)).subject.CN,
      'sni-b',
    );
    const a = await httpsGet(port.sni, { sni: 'secret.example.com' });
    const b = await httpsGet(port.sni, { sni: 'sni-b.example.com' });
    assert.deepEqual([a.status, a.peerCn, b.status, b.peerCn], [200, 'secret', 200, 'sni-b']);
    await assert.rejects(httpsGet(port.sni, { sni: 'unknown.example.com' }));
    if (haveCurl) {
      const r = await curl([
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--resolve',
        `sni-b.example.com:${port.sni}:127.0.0.1`,
        '--cacert',
        files.ca,
        `https://sni-b.example.com:${port.sni}/status`,
      ]);
      assert.equal(r.stdout, '200', r.stderr);
    }
  });

  test(
    'MUTUAL: refused without a client certificate, served with one (curl --cert)',
    { skip: !haveCurl && 'no curl' },
    async () => {
      const base = ['--resolve', `mtls.example.com:${port.mtls}:127.0.0.1`, '--cacert', files.ca];
      const url = `https://mtls.example.com:${port.mtls}/get`;
      const without = await curl([...base, '-o', '/dev/null', '-w', '%{http_code}', url]);
      assert.notEqual(without.code, 0, 'a client without a certificate must not get through');
      assert.notEqual(without.stdout, '200');
      const withCert = await curl([...base, '--cert', files.clientCert, '--key', files.clientKey, url]);
      assert.equal(withCert.code, 0, withCert.stderr);
      assert.equal((JSON.parse(withCert.stdout) as { pod: string }).pod, 'httpbin-0');
      // Node's client too, and a certificate from a CA the server does not trust is refused.
      assert.equal((await httpsGet(port.mtls, { sni: 'mtls.example.com', cert: certs.client })).status, 200);
      await assert.rejects(httpsGet(port.mtls, { sni: 'mtls.example.com', cert: certs.backend }));
    },
  );

  test('httpsRedirect: 301 to https, same host, same path and query', async () => {
    const r = await plainGet(port.redirect, '/status/200?a=b', 'redirect.example.com');
    assert.equal(r.status, 301);
    assert.equal(r.location, 'https://redirect.example.com/status/200?a=b');
    if (haveCurl) {
      const c = await curl([
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{redirect_url}',
        '-H',
        'Host: redirect.example.com',
        `http://127.0.0.1:${port.redirect}/x`,
      ]);
      assert.equal(c.stdout, '301 https://redirect.example.com/x');
    }
  });

  test('PASSTHROUGH: raw TLS by SNI to a TLS server in the mesh, which keeps its own certificate', async () => {
    const backendCa = await readFile(files.backendCa, 'utf8');
    const cert = await peerCertificate(port.pass, 'backend.example.com', backendCa);
    assert.equal(cert.subject.CN, 'backend-own');
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
  });

  test('a TLS server terminates and sends what is inside over TCP (VirtualService tcp route)', async () => {
    // The bytes inside are HTTP/1.1 here; the gateway does not look at them, httpbin answers.
    const r = await httpsGet(port.tcp, { sni: 'secret.example.com', path: '/raw' });
    assert.deepEqual(
      [r.status, r.peerCn, (JSON.parse(r.body) as { path: string }).path],
      [200, 'secret', '/raw'],
    );
  });

  test('weft proxy-config INGRESS secrets lists what each TLS server serves and the client CAs', async () => {
    const r = await mesh.weft(['proxy-config', INGRESS, 'secrets', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout) as { secrets: Array<{ name: string; type: string; subject: string }> };
    const find = (name: RegExp, type: string) =>
      body.secrets.find((e) => name.test(e.name) && e.type === type)?.subject ?? '';
    assert.equal(body.secrets[0]?.name, 'default', 'the workload certificate stays first');
    assert.match(find(/tls-gateway\/https-secret$/, 'Cert Chain'), /CN=secret/);
    assert.match(find(/tls-gateway\/https-sni-b$/, 'Cert Chain'), /CN=sni-b/);
    assert.match(find(/tls-gateway\/https-files$/, 'Cert Chain'), /CN=files-v\d/);
    assert.match(find(/tls-gateway\/https-mtls-cacert$/, 'CA'), /CN=Gateway Client CA/);
    const table = await mesh.weft(['proxy-config', INGRESS, 'secrets']);
    assert.match(table.stdout, /https-mtls-cacert\s+CA\s+ACTIVE/);
  });

  test('a TCP server sends the connection, unread, where the VirtualService tcp route says', async () => {
    // Raw bytes: an HTTP/1.1 request written by hand; the gateway does not parse it, httpbin answers.
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
    assert.match(reply, /over-tcp/);
  });

  test('certificate files replaced under steady load: no failed request, the new certificate is served', async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 2 });
    const worker = async (agent?: https.Agent) => {
      while (!stop) {
        try {
          const r = await httpsGet(port.files, {
            sni: 'files.example.com',
            path: '/get',
            ...(agent ? { agent } : {}),
          });
          if (r.status !== 200) failures.push(`status ${r.status}`);
          else ok++;
          seen.add(r.peerCn);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    // New connections (a handshake each) and keep-alive ones, side by side.
    const workers = [worker(), worker(), worker(keepAlive)];
    const fresh = async () =>
      (await peerCertificate(port.files, 'files.example.com', certs.ca!.certPem)).subject.CN;
    const replace = async (c: TestCert) => {
      await writeFile(files.key + '.new', c.keyPem);
      await writeFile(files.cert + '.new', c.certPem);
      await rename(files.key + '.new', files.key);
      await rename(files.cert + '.new', files.cert);
    };
    try {
      await new Promise((r) => setTimeout(r, 500));
      await replace(certs.files2!);
      await waitFor('files-v2 to be served', async () => (await fresh()) === 'files-v2', 10_000);
      // A bad file: the gateway keeps files-v2 and says why.
      await writeFile(files.cert, 'not a certificate');
      await waitFor(
        'the warning',
        async () => /keeping the previous certificate/.test(await proxyLog()),
        10_000,
      );
      assert.equal(await fresh(), 'files-v2');
      await replace(certs.files3!);
      await waitFor('files-v3 to be served', async () => (await fresh()) === 'files-v3', 10_000);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      stop = true;
      await Promise.all(workers);
      keepAlive.destroy();
    }
    assert.deepEqual(failures, []);
    assert.ok(ok > 20, `only ${ok} requests`);
    assert.ok(seen.has('files-v1') && seen.has('files-v3'), [...seen].join(','));
  });
});

// Several certificates on one server (Istio credentialNames): the SNI picks by the certificates' DNS
// names, and between an ECDSA and an RSA certificate for the same name, the one the client supports.
describe('gateway TLS: several certificates per server', () => {
  let multiPort = 0;
  const multi: Record<string, TestCert> = {};
  const multiCa = { pem: '', file: '' };

  /** The certificate a client is shown, with extra tls.connect options (sigalgs, ciphers, versions). */
  function shown(sni: string, extra: tls.ConnectionOptions = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = tls.connect(
        { host: '127.0.0.1', port: multiPort, servername: sni, ca: multiCa.pem, ...extra },
        () => {
          resolve(String(s.getPeerCertificate().subject.CN));
          s.end();
        },
      );
      s.on('error', reject);
    });
  }

  before(async () => {
    const ca = await testCa('Multi CA');
    multiCa.pem = ca.certPem;
    multiCa.file = join(dir, 'multi-ca.crt');
    await writeFile(multiCa.file, ca.certPem);
    multi.ec = await testLeaf(ca, { cn: 'multi-ecdsa', dns: ['multi.example.com'] });
    multi.rsa = await testLeaf(ca, { cn: 'multi-rsa', dns: ['multi.example.com'], rsa: true });
    multi.other = await testLeaf(ca, { cn: 'multi-other', dns: ['*.other.example.com'] });
    multiPort = await freePort();
    const secret = (name: string, c: TestCert) => `
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: ${b64(c.certPem)}, tls.key: ${b64(c.keyPem)}}
---`;
    await writeFile(
      join(dir, 'multi.yaml'),
      `${secret('multi-ec', multi.ec)}
${secret('multi-rsa', multi.rsa)}
${secret('multi-other', multi.other)}
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: multi-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${multiPort}, name: https-multi, protocol: HTTPS}
    hosts: [multi.example.com, "*.other.example.com"]
    tls: {mode: SIMPLE, credentialNames: [multi-ec, multi-rsa, multi-other]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: multi-httpbin}
spec:
  hosts: [multi.example.com, "*.other.example.com"]
  gateways: [multi-gateway]
  http: [{route: [{destination: {host: httpbin, port: {number: 8000}}}]}]
`,
    );
    await changeConfig(mesh, ['apply', '-f', join(dir, 'multi.yaml')], [INGRESS]);
    await waitFor('the multi-certificate server', async () => (await shown('multi.example.com')) !== '');
  });

  test('credentialNames: the SNI picks the certificate, the client key types pick ECDSA or RSA (Node tls)', async () => {
    assert.equal(await shown('multi.example.com', { sigalgs: 'ecdsa_secp256r1_sha256' }), 'multi-ecdsa');
    assert.equal(
      await shown('multi.example.com', { sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' }),
      'multi-rsa',
    );
    assert.equal(
      await shown('multi.example.com', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }),
      'multi-rsa',
    );
    assert.equal(await shown('a.other.example.com'), 'multi-other');
    // Requests are served whichever certificate was chosen.
    for (const sni of ['multi.example.com', 'b.other.example.com']) {
      const r = await httpsGet(multiPort, { sni, path: '/status', ca: multiCa.pem });
      assert.equal(r.status, 200, r.body);
      assert.equal((JSON.parse(r.body) as { pod: string }).pod, 'httpbin-0');
    }
  });

  test('credentialNames with curl: an RSA-only TLS 1.2 client gets the RSA certificate, an ECDSA one the ECDSA', async (t) => {
    if (!haveCurl) return t.skip('curl is not installed');
    const ask = (ciphers: string) =>
      curl([
        '-v',
        '-o',
        '/dev/null',
        '--tls-max',
        '1.2',
        '--ciphers',
        ciphers,
        '--resolve',
        `multi.example.com:${multiPort}:127.0.0.1`,
        '--cacert',
        multiCa.file,
        `https://multi.example.com:${multiPort}/status`,
      ]);
    const rsa = await ask('ECDHE-RSA-AES128-GCM-SHA256');
    assert.equal(rsa.code, 0, rsa.stderr);
    assert.match(rsa.stderr, /subject: CN=multi-rsa/);
    const ec = await ask('ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.equal(ec.code, 0, ec.stderr);
    assert.match(ec.stderr, /subject: CN=multi-ecdsa/);
  });
});
