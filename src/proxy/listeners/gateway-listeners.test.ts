// Gateway TLS listeners in-process, against real TLS clients: SNI picks the certificate and the route
// table, client certificates (MUTUAL, OPTIONAL_MUTUAL, SANs), versions and ciphers, servers that cannot
// serve, a bad new Secret that keeps the previous certificate, certificate files reloaded in place,
// a port switching between plain HTTP and TLS, and PASSTHROUGH to a TLS server outside the mesh.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import net, { type AddressInfo } from 'node:net';
import type {
  Cluster,
  GatewayListener,
  GatewayTlsServer,
  ProxySnapshot,
  VirtualHost,
} from '../../model/snapshot.js';
import { openSecurity } from '../../model/security.js';
import { createLogger } from '../../lib/logger.js';
import { freePort } from '../../local/ports.js';
import { WorkloadIdentity } from '../identity/certificates.js';
import { ProxyState } from '../state.js';
import { GatewayListeners } from './gateways.js';
import { testCa, testLeaf, type TestCert } from './gateway-testing.js';

const ca = await testCa('Server CA');
const clientCa = await testCa('Client CA');
const strangerCa = await testCa('Stranger CA');
const certA = await testLeaf(ca, { cn: 'a.example.com', dns: ['a.example.com'] });
const certB = await testLeaf(ca, { cn: 'b.example.com', dns: ['b.example.com'] });
const client = await testLeaf(clientCa, { cn: 'client', uri: ['spiffe://example.org/client'], client: true });
const stranger = await testLeaf(strangerCa, { cn: 'stranger', client: true });

// The gateway's own mesh certificate (the upstream step builds its mTLS context even for plain peers).
const identity = new WorkloadIdentity();
const meshLeaf = await testLeaf(ca, { cn: 'gw', uri: ['spiffe://cluster.local/ns/istio-system/sa/gw'] });
identity.set({ keyPem: meshLeaf.keyPem, certChain: [meshLeaf.certPem], rootPem: ca.certPem });

const logs: string[] = [];
const log = createLogger('test', { level: 'debug', write: (l) => logs.push(l) });

function direct(name: string, domains: string[], body: string): VirtualHost {
  return {
    name,
    domains,
    routes: [{ name: `${name}#0`, matches: [], action: { kind: 'direct', status: 200, body } }],
  };
}

function simple(
  name: string,
  sniHosts: string[],
  cert: TestCert,
  more: Partial<GatewayTlsServer> = {},
): GatewayTlsServer {
  return {
    name,
    sniHosts,
    mode: 'SIMPLE',
    certificate: { pem: cert.certPem },
    privateKey: { pem: cert.keyPem },
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    virtualHosts: [`vh-${name}`],
    ...more,
  };
}

function snapshot(gateways: GatewayListener[], clusters: Cluster[] = []): ProxySnapshot {
  return {
    version: String(Math.random()),
    proxy: {
      id: 'gw-0.istio-system',
      workload: 'gw',
      namespace: 'istio-system',
      serviceAccount: 'gw',
      spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/gw',
      labels: { istio: 'ingressgateway' },
      kind: 'gateway',
    },
    trustDomain: 'cluster.local',
    outbound: { virtualHosts: [] },
    inbound: { routes: [], containerPorts: [] },
    security: openSecurity(),
    gateways,
    clusters,
  };
}

class Gateway {
  state: ProxyState | undefined;
  readonly listeners = new GatewayListeners({ identity, state: () => this.state, log: () => {} }, log);
  async apply(s: ProxySnapshot): Promise<void> {
    const next = new ProxyState(s, this.state);
    await this.listeners.prepare(next);
    this.state = next;
    this.listeners.prune(next);
  }
}

const gateways: Gateway[] = [];
after(() => gateways.forEach((g) => g.listeners.close()));

async function start(make: (port: number) => GatewayListener[], clusters: Cluster[] = []) {
  const port = await freePort();
  const gw = new Gateway();
  gateways.push(gw);
  await gw.apply(snapshot(make(port), clusters));
  return { gw, port };
}

interface Got {
  status: number;
  body: string;
  peerCn: string;
  protocol: string | null;
  cipher: string;
}

function get(
  port: number,
  o: {
    sni?: string;
    host?: string;
    cert?: TestCert;
    maxVersion?: tls.SecureVersion;
    agent?: https.Agent;
    ca?: string;
  } = {},
): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        ca: o.ca ?? ca.certPem,
        ...(o.sni !== undefined ? { servername: o.sni } : {}),
        headers: { host: o.host ?? o.sni ?? 'x' },
        agent: o.agent ?? false,
        ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
        ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
      },
      (res) => {
        const s = res.socket as tls.TLSSocket;
        const peerCn = String(s.getPeerCertificate().subject?.CN ?? '');
        const protocol = s.getProtocol();
        const cipher = s.getCipher().name;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerCn, protocol, cipher }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const refused = (p: Promise<unknown>) =>
  assert.rejects(p, (e: NodeJS.ErrnoException) => {
    assert.match(String(e.code ?? e.message), /ECONNRESET|EPIPE|socket hang up|ERR_SSL|alert|EPROTO/i);
    return true;
  });

test('SNI picks the certificate and the route table; unknown names and other hosts get nothing', async () => {
  const { port } = await start((port) => [
    {
      name: 'edge:' + port,
      bind: '127.0.0.1',
      port,
      virtualHosts: [direct('vh-a', ['a.example.com'], 'A'), direct('vh-b', ['b.example.com'], 'B')],
      tls: { servers: [simple('a', ['a.example.com'], certA), simple('b', ['*.example.com'], certB)] },
    },
  ]);
  const a = await get(port, { sni: 'a.example.com' });
  assert.deepEqual([a.status, a.body, a.peerCn], [200, 'A', 'a.example.com']);
  // b answers *.example.com; its certificate names b only, so the client is told to expect that name.
  const b = await get(port, { sni: 'b.example.com' });
  assert.deepEqual([b.status, b.body, b.peerCn], [200, 'B', 'b.example.com']);
  // The SNI chose server a: b's host is not in a's route table.
  const cross = await get(port, { sni: 'a.example.com', host: 'b.example.com' });
  assert.equal(cross.status, 404);
  await refused(get(port, { sni: 'c.example.org' }));
  await refused(get(port)); // no SNI and no server for "*"
  // HTTP/2 when the client offers it (ALPN).
  const h2 = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'a.example.com' });
  const body = await new Promise<string>((resolve, reject) => {
    const s = h2.request({ ':path': '/', ':authority': 'a.example.com' });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
  h2.close();
  assert.equal(body, 'A');
});

test('MUTUAL asks for a client certificate from its CA (and SANs); OPTIONAL_MUTUAL lets clients without one in', async () => {
  const { port } = await start((port) => [
    {
      name: 'edge:' + port,
      bind: '127.0.0.1',
      port,
      virtualHosts: [
        direct('vh-m', ['a.example.com'], 'mutual'),
        direct('vh-s', ['b.example.com'], 'sans'),
        direct('vh-o', ['*'], 'optional'),
      ],
      tls: {
        servers: [
          simple('m', ['a.example.com'], certA, {
            mode: 'MUTUAL',
            caCertificates: { pem: clientCa.certPem },
          }),
          simple('s', ['b.example.com'], certB, {
            mode: 'MUTUAL',
            caCertificates: { pem: clientCa.certPem },
            subjectAltNames: ['spiffe://example.org/somebody-else'],
          }),
          simple('o', [], certA, { mode: 'OPTIONAL_MUTUAL', caCertificates: { pem: clientCa.certPem } }),
        ],
      },
    },
  ]);
  assert.equal((await get(port, { sni: 'a.example.com', cert: client })).body, 'mutual');
  await refused(get(port, { sni: 'a.example.com' }));
  await refused(get(port, { sni: 'a.example.com', cert: stranger }));
  await refused(get(port, { sni: 'b.example.com', cert: client })); // SAN not listed
  // OPTIONAL_MUTUAL (hosts "*", certA does not name the host: the client skips the name check).
  assert.equal((await getInsecure(port, 'other.example.net')).body, 'optional');
  assert.equal((await getInsecure(port, 'other.example.net', client)).body, 'optional');
  await refused(getInsecure(port, 'other.example.net', stranger));
});

function getInsecure(port: number, sni: string, cert?: TestCert): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: sni,
        rejectUnauthorized: false,
        agent: false,
        ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, peerCn: '', protocol: null, cipher: '' }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('protocol versions and cipher suites are the server’s', async () => {
  const { port } = await start((port) => [
    {
      name: 'edge:' + port,
      bind: '127.0.0.1',
      port,
      virtualHosts: [direct('vh-a', ['a.example.com'], 'A'), direct('vh-b', ['b.example.com'], 'B')],
      tls: {
        servers: [
          simple('a', ['a.example.com'], certA, { minVersion: 'TLSv1.3' }),
          simple('b', ['b.example.com'], certB, {
            maxVersion: 'TLSv1.2',
            cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'],
          }),
        ],
      },
    },
  ]);
  await refused(get(port, { sni: 'a.example.com', maxVersion: 'TLSv1.2' }));
  assert.equal((await get(port, { sni: 'a.example.com' })).protocol, 'TLSv1.3');
  const b = await get(port, { sni: 'b.example.com' });
  assert.deepEqual([b.protocol, b.cipher], ['TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
});

test('a server that cannot serve refuses its handshakes; a bad new Secret keeps the previous certificate', async () => {
  const listener = (port: number, a: GatewayTlsServer): GatewayListener => ({
    name: 'edge:' + port,
    bind: '127.0.0.1',
    port,
    virtualHosts: [direct('vh-a', ['a.example.com'], 'A'), direct('vh-b', ['b.example.com'], 'B')],
    tls: { servers: [a, simple('b', ['b.example.com'], certB)] },
  });
  const broken = simple('a', ['a.example.com'], certA, {
    error: 'credentialName: Secret istio-system/nope not found',
  });
  delete broken.certificate;
  delete broken.privateKey;
  const { gw, port } = await start((p) => [listener(p, broken)]);
  await refused(get(port, { sni: 'a.example.com' }));
  assert.equal((await get(port, { sni: 'b.example.com' })).body, 'B');
  assert.ok(logs.some((l) => /TLS server cannot serve.*Secret istio-system\/nope not found/.test(l)));

  await gw.apply(snapshot([listener(port, simple('a', ['a.example.com'], certA))]));
  assert.equal((await get(port, { sni: 'a.example.com' })).body, 'A');
  // The Secret now holds a key for another certificate: the server keeps serving the good one.
  await gw.apply(
    snapshot([listener(port, simple('a', ['a.example.com'], { ...certA, keyPem: certB.keyPem }))]),
  );
  const kept = await get(port, { sni: 'a.example.com' });
  assert.deepEqual([kept.body, kept.peerCn], ['A', 'a.example.com']);
  assert.ok(logs.some((l) => /keeping the previous certificate.*does not belong to the certificate/.test(l)));
});

test('certificate files reload in place: open connections stay, a bad file keeps the old certificate', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-gw-tls-'));
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  const v1 = await testLeaf(ca, { cn: 'v1.a.example.com', dns: ['a.example.com'] });
  const v2 = await testLeaf(ca, { cn: 'v2.a.example.com', dns: ['a.example.com'] });
  await writeFile(certFile, v1.certPem);
  await writeFile(keyFile, v1.keyPem);
  const server = simple('a', ['a.example.com'], v1);
  server.certificate = { file: certFile };
  server.privateKey = { file: keyFile };
  const { port } = await start((port) => [
    {
      name: 'edge:' + port,
      bind: '127.0.0.1',
      port,
      virtualHosts: [direct('vh-a', ['a.example.com'], 'A')],
      tls: { servers: [server] },
    },
  ]);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const first = await get(port, { sni: 'a.example.com', agent });
  assert.equal(first.peerCn, 'v1.a.example.com');

  // Replace both files the way a rotation tool does: write aside, rename over.
  await writeFile(keyFile + '.new', v2.keyPem);
  await writeFile(certFile + '.new', v2.certPem);
  await rename(keyFile + '.new', keyFile);
  await rename(certFile + '.new', certFile);
  const fresh = async () => (await get(port, { sni: 'a.example.com' })).peerCn;
  await until(async () => (await fresh()) === 'v2.a.example.com', 'the new certificate');
  // The keep-alive connection opened before is still the old handshake, and still works.
  const again = await get(port, { sni: 'a.example.com', agent });
  assert.deepEqual([again.status, again.peerCn], [200, 'v1.a.example.com']);
  agent.destroy();

  await writeFile(certFile, 'garbage');
  await until(
    async () => logs.some((l) => /keeping the previous certificate.*holds no PEM certificate/.test(l)),
    'the warning',
  );
  assert.equal(await fresh(), 'v2.a.example.com');
  await writeFile(certFile, v2.certPem);
  await writeFile(keyFile, v2.keyPem);
});

async function until(ok: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('a port switches between plain HTTP and TLS with the snapshot, without a rebind', async () => {
  const plain = (port: number): GatewayListener => ({
    name: 'edge:' + port,
    bind: '127.0.0.1',
    port,
    virtualHosts: [direct('vh-a', ['*'], 'plain')],
  });
  const secure = (port: number): GatewayListener => ({
    ...plain(port),
    virtualHosts: [direct('vh-a', ['*'], 'secure')],
    tls: { servers: [simple('a', [], certA)] },
  });
  const { gw, port } = await start((p) => [plain(p)]);
  const plainGet = () =>
    new Promise<string>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve(b));
        })
        .on('error', reject),
    );
  assert.equal(await plainGet(), 'plain');
  await gw.apply(snapshot([secure(port)]));
  assert.equal((await get(port, { sni: 'a.example.com' })).body, 'secure');
  await refused(plainGet());
  await gw.apply(snapshot([plain(port)]));
  assert.equal(await plainGet(), 'plain');
});

test('PASSTHROUGH: the bytes go by SNI to a TLS server that keeps its own certificate', async () => {
  const backendCert = await testLeaf(ca, { cn: 'backend.example.com', dns: ['backend.example.com'] });
  const backend = tls.createServer({ cert: backendCert.certPem, key: backendCert.keyPem }, (s) =>
    s.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nbackend'),
  );
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  after(() => backend.close());
  const cluster: Cluster = {
    name: 'outbound|443||backend.example.com',
    service: 'backend.example.com',
    port: 443,
    lbPolicy: 'ROUND_ROBIN',
    sni: 'outbound_.443_._.backend.example.com',
    protocol: 'tcp',
    external: true,
    endpoints: [
      {
        address: '127.0.0.1',
        port: (backend.address() as AddressInfo).port,
        identity: '',
        instance: 'backend',
        labels: {},
        healthy: true,
      },
    ],
  };
  const { port } = await start(
    (port) => [
      {
        name: 'edge:' + port,
        bind: '127.0.0.1',
        port,
        virtualHosts: [],
        tls: {
          servers: [
            {
              name: 'pass',
              sniHosts: ['*.example.com'],
              mode: 'PASSTHROUGH',
              tlsRoutes: [
                {
                  name: 'r',
                  sniHosts: ['backend.example.com'],
                  clusters: [{ cluster: cluster.name, weight: 100 }],
                },
              ],
            },
          ],
        },
      },
    ],
    [cluster],
  );
  const got = await get(port, { sni: 'backend.example.com' });
  assert.deepEqual([got.status, got.body, got.peerCn], [200, 'backend', 'backend.example.com']);
  await refused(get(port, { sni: 'nothing.example.com' })); // no tls route for it
});

test('requests that came over TLS go upstream with x-forwarded-proto: https, whatever the client said', async () => {
  const seen: http.IncomingHttpHeaders[] = [];
  const upstream = http.createServer((req, res) => {
    seen.push(req.headers);
    res.end('up');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  after(() => upstream.close());
  const cluster: Cluster = {
    name: 'outbound|80||up.example.com',
    service: 'up.example.com',
    port: 80,
    lbPolicy: 'ROUND_ROBIN',
    sni: 'outbound_.80_._.up.example.com',
    protocol: 'http',
    external: true,
    endpoints: [
      {
        address: '127.0.0.1',
        port: (upstream.address() as AddressInfo).port,
        identity: '',
        instance: 'up',
        labels: {},
        healthy: true,
      },
    ],
  };
  const { port } = await start(
    (port) => [
      {
        name: 'edge:' + port,
        bind: '127.0.0.1',
        port,
        virtualHosts: [
          {
            name: 'vh-a',
            domains: ['a.example.com'],
            routes: [
              {
                name: 'r',
                matches: [],
                action: { kind: 'forward', clusters: [{ cluster: cluster.name, weight: 100 }] },
              },
            ],
          },
        ],
        tls: { servers: [simple('a', ['a.example.com'], certA)] },
      },
    ],
    [cluster],
  );
  const r = await new Promise<string>((resolve, reject) =>
    https
      .get(
        {
          host: '127.0.0.1',
          port,
          path: '/',
          servername: 'a.example.com',
          ca: ca.certPem,
          agent: false,
          headers: { host: 'a.example.com', 'x-forwarded-proto': 'http' },
        },
        (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve(b));
        },
      )
      .on('error', reject),
  );
  assert.equal(r, 'up');
  assert.equal(seen[0]?.['x-forwarded-proto'], 'https');
});

test('ISTIO_MUTUAL: the mesh certificate, and only clients with a mesh certificate', async () => {
  const { port } = await start((port) => [
    {
      name: 'edge:' + port,
      bind: '127.0.0.1',
      port,
      virtualHosts: [direct('vh-m', ['*'], 'mesh')],
      tls: { servers: [{ name: 'm', sniHosts: [], mode: 'ISTIO_MUTUAL', virtualHosts: ['vh-m'] }] },
    },
  ]);
  const peer = await testLeaf(ca, {
    cn: 'peer',
    uri: ['spiffe://cluster.local/ns/default/sa/peer'],
    client: true,
  });
  const call = (cert?: TestCert) =>
    new Promise<{ body: string; san: string }>((resolve, reject) =>
      https
        .get(
          {
            host: '127.0.0.1',
            port,
            path: '/',
            servername: 'm.example.com',
            ca: ca.certPem,
            checkServerIdentity: () => undefined, // a mesh certificate names a SPIFFE ID, not a host
            agent: false,
            ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
          },
          (res) => {
            const san = (res.socket as tls.TLSSocket).getPeerCertificate().subjectaltname ?? '';
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ body, san }));
          },
        )
        .on('error', reject),
    );
  assert.deepEqual(await call(peer), {
    body: 'mesh',
    san: 'URI:spiffe://cluster.local/ns/istio-system/sa/gw',
  });
  await refused(call());
  await refused(call(client)); // from another CA
});

test('a TLS server that terminates pipes what is inside to its TCP route (no ALPN offered)', async () => {
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  after(() => echo.close());
  const cluster: Cluster = {
    name: 'outbound|7||echo.example.com',
    service: 'echo.example.com',
    port: 7,
    lbPolicy: 'ROUND_ROBIN',
    sni: 'outbound_.7_._.echo.example.com',
    protocol: 'tcp',
    external: true,
    endpoints: [
      {
        address: '127.0.0.1',
        port: (echo.address() as AddressInfo).port,
        identity: '',
        instance: 'echo',
        labels: {},
        healthy: true,
      },
    ],
  };
  const server = simple('t', ['a.example.com'], certA, {
    tcpRoute: { name: 'tcp', clusters: [{ cluster: cluster.name, weight: 100 }] },
  });
  delete server.virtualHosts;
  const { port } = await start(
    (port) => [
      { name: 'edge:' + port, bind: '127.0.0.1', port, virtualHosts: [], tls: { servers: [server] } },
    ],
    [cluster],
  );
  const { reply, alpn } = await new Promise<{ reply: string; alpn: string | false }>((resolve, reject) => {
    const s = tls.connect(
      {
        host: '127.0.0.1',
        port,
        servername: 'a.example.com',
        ca: ca.certPem,
        ALPNProtocols: ['h2', 'http/1.1'],
      },
      () => {
        const alpn = s.alpnProtocol ?? false;
        s.write('ping over tls');
        let reply = '';
        s.on('data', (c: Buffer) => {
          reply += c.toString();
          if (reply.length >= 'ping over tls'.length) {
            s.end();
            resolve({ reply, alpn });
          }
        });
      },
    );
    s.on('error', reject);
  });
  assert.deepEqual({ reply, alpn }, { reply: 'ping over tls', alpn: false });
});
