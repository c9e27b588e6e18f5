// Egress through real proxies: one `weft up` mesh whose client sidecar (the test is its app) reaches
// servers on 127.0.0.1 standing in for hosts outside the mesh:
//  - meshConfig.outboundTrafficPolicy: ALLOW_ANY (the default) passes an unknown host through, HTTP and
//    CONNECT; REGISTRY_ONLY (applied while running) answers 502 NR and counts it as BlackHoleCluster,
//    while ServiceEntry hosts keep working;
//  - TLS origination (Istio's "Egress TLS Origination" task with a made-up host): the app sends plain
//    HTTP to api.example.test:80, the ServiceEntry maps port 80 to the HTTPS server by targetPort, and
//    a DestinationRule SIMPLE rule makes the proxy speak TLS with the SNI and CA it names; a wrong CA is
//    503 UF with the reason in the proxy log;
//  - an egress gateway (Istio's "Egress Gateways" task, mutual TLS from sidecars to the gateway, TLS
//    originated at the gateway): the request shows up in the egress gateway's access log, and with
//    REGISTRY_ONLY the sidecar cannot reach the server by any other name.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { freePort } from '../src/local/ports.js';
import { testCa, testLeaf } from '../src/proxy/listeners/gateway-testing.js';
import { clientYaml } from './support/mesh-yaml.js';

const CLIENT = 'client-0.default';
const EGRESS = 'istio-egressgateway-0.istio-system';
const FLAGS = 'x-weft-response-flags';

interface Seen {
  host: string;
  path: string;
  sni?: string;
  encrypted: boolean;
}

interface Reply {
  status: number;
  flags: string;
  body: string;
  json?: Seen;
}

/** A server outside the mesh, plain or HTTPS, that answers with what it saw. */
async function server(cert?: { certPem: string; keyPem: string }) {
  const seen: Seen[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const s = req.socket as TLSSocket;
    const e: Seen = {
      host: String(req.headers.host),
      path: req.url ?? '',
      encrypted: s.encrypted === true,
      ...(s.encrypted && typeof s.servername === 'string' ? { sni: s.servername } : {}),
    };
    seen.push(e);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(e));
  };
  const srv = cert
    ? https.createServer({ cert: cert.certPem, key: cert.keyPem }, handler)
    : http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, seen, port: (srv.address() as AddressInfo).port };
}

describe('egress through sidecars and an egress gateway', { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let outbound: number;
  let gwPort: number;
  let plain: Awaited<ReturnType<typeof server>>;
  let secure: Awaited<ReturnType<typeof server>>;

  function call(host: string, path = '/'): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: outbound, path, headers: { host }, agent: false, timeout: 15_000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            let json: Seen | undefined;
            try {
              json = JSON.parse(body) as Seen;
            } catch {
              json = undefined;
            }
            resolve({
              status: res.statusCode ?? 0,
              flags: String(res.headers[FLAGS] ?? ''),
              body,
              ...(json ? { json } : {}),
            });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  async function apply(name: string, yaml: string): Promise<void> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    const r = await mesh.weft(['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
  }

  async function proxyLog(id: string): Promise<string> {
    return readFile((await mesh.instance(id)).logs.proxy, 'utf8');
  }

  before(async () => {
    dir = await tempDir('weft-egress-');
    outbound = await freePort();
    gwPort = await freePort();
    const ca = await testCa('External CA');
    const other = await testCa('Unrelated CA');
    const cert = await testLeaf(ca, {
      cn: 'api.example.test',
      dns: ['api.example.test', 'gw.example.test', 'wrong-ca.example.test'],
    });
    await writeFile(join(dir, 'ca.pem'), ca.certPem);
    await writeFile(join(dir, 'other-ca.pem'), other.certPem);
    plain = await server();
    secure = await server(cert);
    // A ServiceEntry host whose port 80 reaches the HTTPS server (Istio's targetPort form), with a
    // DestinationRule that originates TLS on that port.
    const originated = (host: string, caFile: string) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.split('.')[0]}}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  ports:
  - {number: 80, name: http-port, protocol: HTTP, targetPort: ${secure.port}}
  - {number: 443, name: https-port, protocol: HTTPS}
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-tls-for-${host.split('.')[0]}}
spec:
  host: ${host}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE, sni: ${host}, caCertificates: ${caFile}}
---`;
    await writeFile(
      join(dir, 'mesh.yaml'),
      `
${clientYaml(outbound)}
---
${originated('api.example.test', join(dir, 'ca.pem'))}
${originated('wrong-ca.example.test', join(dir, 'other-ca.pem'))}
${originated('gw.example.test', join(dir, 'ca.pem'))}
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: ${gwPort}, name: https, protocol: HTTPS}
    hosts: [gw.example.test]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-gw}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: gw
    trafficPolicy:
      portLevelSettings:
      - port: {number: ${gwPort}}
        tls: {mode: ISTIO_MUTUAL, sni: gw.example.test}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-gw-through-egress-gateway}
spec:
  hosts: [gw.example.test]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route:
    - destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: gw, port: {number: ${gwPort}}}
  - match: [{gateways: [istio-egressgateway], port: ${gwPort}}]
    route:
    - destination: {host: gw.example.test, port: {number: 80}}
`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
  });

  after(async () => {
    await mesh?.stop();
    plain?.srv.close();
    secure?.srv.close();
  });

  test('weft up runs an egress gateway because a Gateway selects it', async () => {
    const ids = (await mesh.instances()).map((i) => `${i.id} ${i.kind} ${i.state}`);
    assert.ok(
      ids.includes(`${EGRESS} gateway ready`) || ids.includes(`${EGRESS} gateway running`),
      ids.join('\n'),
    );
  });

  test('ALLOW_ANY (the default): a host outside the registry is passed through, HTTP and CONNECT', async () => {
    const r = await call(`127.0.0.1:${plain.port}`, '/passthrough');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { host: `127.0.0.1:${plain.port}`, path: '/passthrough', encrypted: false });
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect(outbound, '127.0.0.1', () =>
        s.write(
          `CONNECT localhost:${plain.port} HTTP/1.1\r\nHost: localhost:${plain.port}\r\n\r\n` +
            'GET /tunnel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        ),
      );
      let d = '';
      s.on('data', (c: Buffer) => (d += c.toString()));
      s.on('close', () => resolve(d));
      s.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 200 Connection Established/);
    assert.match(answer, /"path":"\/tunnel"/);
    const nx = await call('no-such-host.invalid');
    assert.equal(nx.status, 404);
    assert.equal(nx.flags, 'NR');
  });

  test('TLS origination: the app speaks HTTP to port 80, the server sees HTTPS with the right SNI', async () => {
    const r = await call('api.example.test', '/get?x=1');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, {
      host: 'api.example.test',
      path: '/get?x=1',
      sni: 'api.example.test',
      encrypted: true,
    });
  });

  test('TLS origination with a CA that did not sign the server certificate: 503 UF, reason logged', async () => {
    const before = secure.seen.length;
    const r = await call('wrong-ca.example.test', '/get');
    assert.equal(r.status, 503);
    assert.equal(r.flags, 'UF');
    assert.equal(secure.seen.length, before, 'no request reached the server');
    const log = await waitFor('the reason in the proxy log', async () => {
      const l = await proxyLog(CLIENT);
      return /TLS origination to 127\.0\.0\.1:\d+ \(outbound\|80\|\|wrong-ca\.example\.test/.test(l) && l;
    });
    assert.match(log, /sni wrong-ca\.example\.test\) failed: .*\[(UNABLE_TO_\w+|SELF_SIGNED_\w+)\]/);
  });

  test('egress gateway: mesh traffic for the host crosses the gateway, which originates TLS', async () => {
    const r = await waitFor('the egress gateway route', async () => {
      const x = await call('gw.example.test', '/via-gateway');
      return x.status === 200 ? x : undefined;
    });
    assert.deepEqual(r.json, {
      host: 'gw.example.test',
      path: '/via-gateway',
      sni: 'gw.example.test',
      encrypted: true,
    });
    const gwLog = await waitFor('the egress gateway access log', async () => {
      const l = await proxyLog(EGRESS);
      return l.includes('/via-gateway') && l;
    });
    assert.match(
      gwLog,
      /gateway "GET \/via-gateway HTTP\/1\.1" 200 - \d+ "gw\.example\.test" "127\.0\.0\.1:\d+" outbound\|80\|\|gw\.example\.test /,
    );
    // The gateway's port takes mesh mTLS only: neither plain HTTP nor TLS without a mesh certificate.
    const plainAnswer = await new Promise<string>((resolve) => {
      const s = net.connect(gwPort, '127.0.0.1', () =>
        s.write('GET /direct HTTP/1.1\r\nHost: gw.example.test\r\n\r\n'),
      );
      let d = '';
      s.on('data', (c: Buffer) => (d += c.toString()));
      s.on('close', () => resolve(d));
      s.on('error', () => resolve(d));
      setTimeout(() => s.destroy(), 5000);
    });
    assert.doesNotMatch(plainAnswer, /^HTTP\/1\.1 200/);
    const tlsAnswer = await new Promise<number | string>((resolve) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: gwPort,
          servername: 'gw.example.test',
          path: '/direct',
          rejectUnauthorized: false,
          agent: false,
          timeout: 5000,
        },
        (res) => resolve(res.statusCode ?? 0),
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      req.end();
    });
    assert.equal(typeof tlsAnswer, 'string', `a client without a mesh certificate got ${tlsAnswer}`);
    assert.ok(!secure.seen.some((s) => s.path === '/direct'));
    // Access logs are written in batches (up to 100 ms later): wait for the line.
    const sidecarLog = await waitFor('the sidecar access log line', async () => {
      const l = await proxyLog(CLIENT);
      return l.includes('"GET /via-gateway HTTP/1.1"') && l;
    });
    assert.match(
      sidecarLog,
      new RegExp(
        `"GET /via-gateway HTTP/1\\.1" 200 - \\d+ "gw\\.example\\.test" "127\\.0\\.0\\.1:${gwPort}" ` +
          `outbound\\|${gwPort}\\|gw\\|istio-egressgateway\\.istio-system\\.svc\\.cluster\\.local `,
      ),
    );
  });

  test('REGISTRY_ONLY: unknown hosts get 502 NR and are counted; registered ones and the gateway still work', async () => {
    await apply(
      'registry-only',
      `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`,
    );
    // Until the new config lands, requests still pass through (the apply returns before the push):
    // what counts is that the first 502 never reached the server.
    const reachedBlocked = () => plain.seen.filter((s) => s.path === '/blocked').length;
    const blocked = await waitFor('REGISTRY_ONLY to apply', async () => {
      const before = reachedBlocked();
      const x = await call(`127.0.0.1:${plain.port}`, '/blocked');
      return x.status === 502 ? { ...x, reached: reachedBlocked() > before } : undefined;
    });
    assert.equal(blocked.flags, 'NR');
    assert.match(blocked.body, /REGISTRY_ONLY/);
    assert.equal(blocked.reached, false, 'a blocked request never reaches the server');
    // The sidecar cannot bypass the egress gateway: the server's own address and other names are blocked.
    for (const host of [`127.0.0.1:${secure.port}`, `localhost:${secure.port}`]) {
      const x = await call(host, '/bypass');
      assert.equal(x.status, 502, host);
      assert.equal(x.flags, 'NR', host);
    }
    assert.ok(!secure.seen.some((s) => s.path === '/bypass'));
    assert.equal((await call('api.example.test', '/still')).status, 200);
    const viaGw = await call('gw.example.test', '/still-via-gateway');
    assert.equal(viaGw.status, 200);
    await waitFor('the egress gateway access log line', async () =>
      (await proxyLog(EGRESS)).includes('/still-via-gateway'),
    );
    // Counted as Istio does: destination_service_name BlackHoleCluster, response code 502, flag NR.
    const metricsPort = (await mesh.instance(CLIENT)).ports?.metrics;
    assert.ok(metricsPort);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/stats/prometheus`)).text();
    assert.match(
      text,
      /istio_requests_total\{[^}]*destination_service_name="BlackHoleCluster"[^}]*response_code="502"[^}]*response_flags="NR"[^}]*\} [3-9]/,
    );
  });
});
