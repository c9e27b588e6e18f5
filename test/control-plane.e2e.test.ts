// The control plane and proxies as separate processes: identity proof at bootstrap, certificate
// rotation under traffic, persistence across a control-plane restart, and proxies that keep serving
// while the control plane is away.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request, Agent } from 'undici';
import { tempDir, waitFor, weft } from './support/weft.js';
import { Proc } from './support/processes.js';
import { freePort } from '../src/local/ports.js';

const YAML = (backendPort: number, clientOutbound: number) => `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: backend, labels: {app: backend}}
spec:
  serviceAccount: backend-sa
  ports: [{name: http, containerPort: ${backendPort}}]
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: client, labels: {app: client}}
spec:
  serviceAccount: client-sa
  sidecar: {outboundPort: ${clientOutbound}}
---
apiVersion: v1
kind: Service
metadata: {name: backend}
spec:
  selector: {app: backend}
  ports: [{name: http, port: 8000, targetPort: ${backendPort}}]
`;

function suite(name: string, ttl: string, body: (h: Harness) => void): void {
  describe(name, { timeout: 120_000 }, () => {
    const h = harness(ttl);
    body(h);
  });
}

type Harness = ReturnType<typeof harness>;

function harness(ttl: string) {
  let stateDir: string;
  let cp: Proc;
  let ports: { admin: number; discovery: number; backend: number; outbound: number };
  const proxies: Proc[] = [];
  const seenXfcc: string[] = [];
  const backend = http.createServer((req, res) => {
    seenXfcc.push(String(req.headers['x-forwarded-client-cert']));
    res.end(JSON.stringify({ ok: true, path: req.url }));
  });

  const startCp = (certTtl = ttl) =>
    new Proc([
      '--state-dir',
      stateDir,
      'control-plane',
      '--admin-port',
      String(ports.admin),
      '--discovery-port',
      String(ports.discovery),
      '--cert-ttl',
      certTtl,
    ]);

  async function token(workload: string): Promise<string> {
    const res = await request(`http://127.0.0.1:${ports.admin}/apis/v1/tokens`, {
      method: 'POST',
      body: JSON.stringify({ workload, namespace: 'default' }),
    });
    return ((await res.body.json()) as { token: string }).token;
  }

  function proxy(workload: string, sa: string, tok: string, extra: string[] = []): Proc {
    return new Proc(
      [
        'proxy',
        '--workload',
        workload,
        '--service-account',
        sa,
        '--control-plane',
        `127.0.0.1:${ports.discovery}`,
        '--root-cert',
        join(stateDir, 'ca', 'ca-cert.pem'),
        '--inbound-port',
        '0',
        '--admin-port',
        '0',
        '--metrics-port',
        '0',
        ...extra,
      ],
      { WEFT_BOOTSTRAP_TOKEN: tok, WEFT_LOG_LEVEL: 'info' },
    );
  }

  const call = (agent?: Agent) =>
    request(`http://127.0.0.1:${ports.outbound}/hello`, {
      headers: { host: 'backend:8000' },
      ...(agent ? { dispatcher: agent } : {}),
    });

  before(async () => {
    stateDir = await tempDir();
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    ports = {
      admin: await freePort(),
      discovery: await freePort(),
      backend: (backend.address() as import('node:net').AddressInfo).port,
      outbound: await freePort(),
    };
    cp = startCp();
    await cp.waitOutput(/control plane ready/);
    const file = join(stateDir, 'mesh.yaml');
    await writeFile(file, YAML(ports.backend, ports.outbound));
    const applied = await weft(['--addr', `127.0.0.1:${ports.admin}`, 'apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    const b = proxy('backend', 'backend-sa', await token('backend'), ['--outbound-port', '0']);
    const c = proxy('client', 'client-sa', await token('client'), [
      '--outbound-port',
      String(ports.outbound),
    ]);
    proxies.push(b, c);
    await b.waitOutput(/proxy ready/);
    await c.waitOutput(/proxy ready/);
    // "proxy ready" comes before the backend's first probe has reached the client as a healthy
    // endpoint (probe, health report, debounced push): until then a request is 503 UH.
    await waitFor('the backend to be reachable through the client', async () => {
      const r = await call();
      await r.body.dump();
      return r.statusCode === 200;
    });
  });

  after(async () => {
    for (const p of proxies) await p.stop();
    await cp.stop();
    backend.close();
  });

  return {
    call,
    token,
    proxy,
    proxies,
    seenXfcc,
    get cp() {
      return cp;
    },
    set cp(p: Proc) {
      cp = p;
    },
    get ports() {
      return ports;
    },
    startCp,
  };
}

suite('control plane and proxies as separate processes', '1h', (h) => {
  test('traffic flows client -> mTLS -> backend, and the backend learns the caller identity', async () => {
    const res = await waitFor('a routed answer', async () => {
      const r = await h.call();
      const body = await r.body.text();
      return r.statusCode === 200 ? body : undefined;
    });
    assert.match(res, /"path":"\/hello"/);
    assert.match(h.seenXfcc.at(-1)!, /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/client-sa/);
    assert.match(h.seenXfcc.at(-1)!, /By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/backend-sa/);
  });

  test('unknown hosts get 404 with a clear body', async () => {
    const r = await request(`http://127.0.0.1:${h.ports.outbound}/`, {
      headers: { host: 'nothing-here:80' },
    });
    assert.equal(r.statusCode, 404);
    assert.match(await r.body.text(), /no route for host "nothing-here:80"/);
  });

  test('a proxy asking for another workload identity is refused, and the attempt is logged', async () => {
    // A token for `backend` used by a proxy that claims to be `client` (and asks for client-sa).
    const p = h.proxy('client', 'client-sa', await h.token('backend'), ['--outbound-port', '0']);
    assert.notEqual(await p.exited, 0);
    assert.match(p.output, /PERMISSION_DENIED|not yours/);
    assert.match(h.cp.output, /certificate refused: proxy asked for an identity it does not own/);
  });

  test('a bootstrap token works once', async () => {
    const tok = await h.token('backend');
    const first = h.proxy('backend', 'backend-sa', tok, [
      '--outbound-port',
      '0',
      '--id',
      'backend-9.default',
    ]);
    await first.waitOutput(/proxy ready/);
    await first.stop();
    const second = h.proxy('backend', 'backend-sa', tok, [
      '--outbound-port',
      '0',
      '--id',
      'backend-9.default',
    ]);
    assert.notEqual(await second.exited, 0);
    assert.match(h.cp.output, /bootstrap token unknown, expired or already used/);
  });

  test('proxies keep serving while the control plane is away, and reconnect when it returns', async () => {
    assert.equal(await h.cp.stop(), 0);
    for (let i = 0; i < 5; i++) {
      const r = await h.call();
      await r.body.text();
      assert.equal(r.statusCode, 200);
    }
    h.cp = h.startCp();
    await h.cp.waitOutput(/control plane ready/);
    // Config survived the restart (file store), and both proxies re-registered.
    const got = await weft(['--addr', `127.0.0.1:${h.ports.admin}`, 'get', 'workloads', '-o', 'json']);
    assert.equal((JSON.parse(got.stdout) as { items: unknown[] }).items.length, 2);
    await waitFor(
      'both proxies connected and synced',
      async () => {
        const r = await weft(['--addr', `127.0.0.1:${h.ports.admin}`, 'proxy-status', '-o', 'json']);
        const rows = JSON.parse(r.stdout) as Array<{ served?: string; acked?: string; ready: boolean }>;
        return rows.length === 2 && rows.every((x) => x.served && x.served === x.acked);
      },
      30_000,
    );
    const r = await h.call();
    assert.equal(r.statusCode, 200);
    await r.body.text();
  });
});

suite('certificate rotation', '8s', (h) => {
  test('certificates rotate at half life without failing a request on an open connection', async () => {
    const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
    const failures: string[] = [];
    let ok = 0;
    const until = Date.now() + 6_000; // the 8 s certificates renew after ~4 s
    while (Date.now() < until) {
      const r = await h.call(agent);
      const body = await r.body.text();
      if (r.statusCode === 200) ok++;
      else failures.push(`${r.statusCode} ${String(r.headers['x-weft-response-flags'] ?? '')} ${body}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    await agent.close();
    assert.deepEqual(failures, []);
    assert.ok(ok > 50);
    await waitFor('a rotation logged by both proxies', async () =>
      h.proxies.every((p) => /workload certificate rotated/.test(p.output)),
    );
  });
});
