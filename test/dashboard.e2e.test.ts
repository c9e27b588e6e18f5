// The dashboard end to end: the bookinfo demo (a copy whose ingress listens on a free port), steady
// traffic through the ingress, and the real UI in headless Chromium (Debian's `chromium`, driven by
// playwright-core): the graph shows the mesh, a fault injection turns edges red within seconds, the tap
// view shows a request this test sent, TCP streams (a client sidecar's CONNECT tunnels to a TCP echo
// service) show as TCP edges with bytes/s and connections, and a synthetic 1,000-node graph renders.
// Plus `weft stat` and `weft tap`. Screenshots go to /tmp/weft-dashboard-*.png.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { CLI, ROOT } from './support/paths.js';
import { TCP_ECHO_YAML } from './support/mesh-yaml.js';
import { freePort } from '../src/local/ports.js';

const CHROMIUM = process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium';
const RATINGS = 'svc:ratings.default.svc.cluster.local';
const SHOT = (name: string) => `/tmp/weft-dashboard-${name}.png`;
const TCP_ECHO = 'svc:tcp-echo.default.svc.cluster.local';

/** A TCP echo service and a client whose sidecar the test drives (bookinfo itself is all HTTP). */
const TCP_MESH = (outbound: number) => `${TCP_ECHO_YAML}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: tcp-client, labels: {app: tcp-client}}
spec:
  serviceAccount: tcp-client
  sidecar: {outboundPort: ${outbound}}
`;

/** Two instances of one service, one broken (503 to everything but /health), and outlier detection that
 *  ejects an endpoint after two 5xx in a row and keeps it out for the rest of the test. */
const FLAKY_MESH = `apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: flaky-good, labels: {app: flaky}}
spec:
  serviceAccount: flaky
  ports: [{name: http, containerPort: 8080}]
  command: [node, dist/test/support/echo-server.js]
  readinessProbe: {httpGet: {path: /health}}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: flaky-bad, labels: {app: flaky}}
spec:
  serviceAccount: flaky
  ports: [{name: http, containerPort: 8080}]
  command: [node, dist/test/support/echo-server.js]
  env: {ECHO_STATUS: "503"}
  readinessProbe: {httpGet: {path: /health}}
---
apiVersion: v1
kind: Service
metadata: {name: flaky}
spec:
  selector: {app: flaky}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky}
spec:
  host: flaky
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 10m, maxEjectionPercent: 50}
`;
const FLAKY = 'svc:flaky.default.svc.cluster.local';

/** One plain HTTP request through a sidecar's outbound port; resolves with the status. */
function viaSidecar(outbound: number, host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: outbound, path, headers: { host }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
  });
}

/** One TCP stream through the client's sidecar (CONNECT): waits for the banner, sends, reads the echo. */
function tcpStream(outbound: number, payload: string, keepOpen = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(outbound, '127.0.0.1', () =>
      s.write('CONNECT tcp-echo:9000 HTTP/1.1\r\nHost: tcp-echo:9000\r\n\r\n'),
    );
    let got = '';
    let sent = false;
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no echo: ${got}`))), 5000);
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (!sent && /hello from .*\n/.test(got)) {
        sent = true;
        s.write(payload);
      }
      if (sent && got.endsWith(payload)) {
        clearTimeout(timer);
        if (!keepOpen) s.end();
        resolve(s);
      }
    });
    s.on('error', (e) => (clearTimeout(timer), reject(e)));
  });
}

/** Short TCP streams, one after another, plus one held open (the graph counts open connections). */
class TcpTraffic {
  private stopped = false;
  private held: net.Socket | undefined;
  private readonly loop: Promise<void>;

  constructor(outbound: number) {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          this.held ??= await tcpStream(outbound, 'held open\n', true);
          await tcpStream(outbound, 'x'.repeat(2048));
        } catch {
          // the sidecar may not know tcp-echo is ready yet; counted by the mesh, not here
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.held?.destroy();
  }
}

const FAULT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
    - fault:
        abort:
          percentage: { value: 100 }
          httpStatus: 500
      route:
        - destination: { host: ratings }
`;

const EXTRA = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: nowhere-route
spec:
  hosts: [nowhere]
  http:
    - route:
        - destination: { host: nowhere }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: details-allow-all
spec:
  selector: { matchLabels: { app: details } }
  action: ALLOW
  rules: [{}]
`;

/** Keeps a steady load on the ingress: the page (all four services) and the ratings API. */
class Traffic {
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(base: string, concurrency = 2) {
    const paths = ['/productpage', '/api/v1/products/0/ratings'];
    for (let i = 0; i < concurrency; i++)
      this.loops.push(
        (async () => {
          for (let n = 0; !this.stopped; n++) {
            try {
              const res = await fetch(base + paths[(n + i) % paths.length], {
                signal: AbortSignal.timeout(5000),
              });
              await res.arrayBuffer();
            } catch {
              // counted by the mesh, not here
            }
            await new Promise((r) => setTimeout(r, 60));
          }
        })(),
      );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
  } catch (e) {
    throw new Error(
      `cannot start Chromium at ${CHROMIUM} (set WEFT_CHROMIUM to another binary): ${(e as Error).message}\n` +
        'install it with: apt-get install -y chromium',
    );
  }
}

/** In-page code runs in the browser, where `document` exists (this project compiles without the DOM lib). */
interface PageDocument {
  querySelector(s: string): { textContent: string | null } | null;
  querySelectorAll(s: string): { length: number };
}
type InPage = { document: PageDocument };

/** A layered synthetic mesh: 10 callers → 90 services → 400 workloads → 100 services → 400 workloads. */
function syntheticGraph() {
  const node = (id: string, kind: 'workload' | 'service') => ({
    id,
    kind,
    name: id.slice(id.indexOf(':') + 1),
    namespace: 'synthetic',
    instances: 1,
    ready: 1,
    ejected: 0,
    health: 'healthy',
  });
  const tiers = { w0: 10, s1: 90, w1: 400, s2: 100, w2: 400 };
  const ids = Object.fromEntries(
    Object.entries(tiers).map(([t, n]) => [
      t,
      Array.from({ length: n }, (_, i) => (t.startsWith('s') ? `svc:${t}-${i}` : `wl:synthetic/${t}-${i}`)),
    ]),
  ) as Record<keyof typeof tiers, string[]>;
  const nodes = Object.values(ids).flatMap((list) =>
    list.map((id) => node(id, id.startsWith('svc:') ? 'service' : 'workload')),
  );
  const edges: Array<Record<string, unknown>> = [];
  const edge = (source: string, target: string, i: number) =>
    edges.push({
      id: `${source}->${target}`,
      source,
      target,
      rps: (i % 17) + 0.5,
      requests: 100,
      errorRate: i % 50 === 0 ? 0.3 : 0,
      successRate: i % 50 === 0 ? 0.7 : 1,
      p50: 3,
      p95: 9,
      p99: 20 + (i % 40),
      mtls: i % 3 !== 0,
      flags: [],
    });
  ids.s1.forEach((s, k) => edge(ids.w0[k % 10]!, s, k));
  ids.w1.forEach((w, m) => edge(ids.s1[m % 90]!, w, m));
  ids.w1.forEach((w, m) => edge(w, ids.s2[m % 100]!, m));
  ids.w2.forEach((w, p) => edge(ids.s2[p % 100]!, w, p));
  return { generatedAt: new Date().toISOString(), windowSeconds: 10, nodes, edges };
}

describe('dashboard: graph, golden metrics and tap in headless Chromium', { timeout: 300_000 }, () => {
  let work: string;
  let mesh: RunningMesh | undefined;
  let admin: string;
  let ingress: string;
  let traffic: Traffic | undefined;
  let tcpTraffic: TcpTraffic | undefined;
  let clientOutbound: number;
  let browser: Browser | undefined;
  let page: Page;
  let current: Page | undefined;

  /** A fresh page per view (no EventSource or timer of an earlier view left running). */
  async function openPage(hash: string): Promise<Page> {
    await current?.close();
    current = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
    current.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    await current.goto(`http://${admin}/dashboard/${hash}`);
    return current;
  }

  before(async () => {
    browser = await launchChromium();
    work = await tempDir('weft-dashboard-');
    const ingressPort = await freePort();
    const cfg = join(work, 'bookinfo');
    await mkdir(cfg);
    const src = join(ROOT, 'examples/bookinfo');
    for (const f of (await readdir(src)).filter((f) => f.endsWith('.yaml')))
      await copyFile(join(src, f), join(cfg, f));
    const gw = await readFile(join(cfg, 'gateway.yaml'), 'utf8');
    await writeFile(join(cfg, 'gateway.yaml'), gw.replace(/number: 8080/, `number: ${ingressPort}`));
    const tcpOutbound = await freePort();
    await writeFile(join(cfg, 'tcp.yaml'), TCP_MESH(tcpOutbound));
    await writeFile(join(cfg, 'flaky.yaml'), FLAKY_MESH);
    mesh = await RunningMesh.up([cfg]);
    admin = (JSON.parse(await readFile(join(mesh.stateDir, 'mesh.json'), 'utf8')) as { admin: string }).admin;
    ingress = `http://127.0.0.1:${ingressPort}`;
    traffic = new Traffic(ingress);
    tcpTraffic = new TcpTraffic(tcpOutbound);
    clientOutbound = tcpOutbound;
  });

  afterEach(async () => {
    await current?.close();
    current = undefined;
  });

  after(async () => {
    await browser?.close();
    await traffic?.stop();
    await tcpTraffic?.stop();
    if (mesh) {
      await mesh.stop();
      await rm(mesh.stateDir, { recursive: true, force: true });
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('weft dashboard --no-open prints the URL the control plane serves', async () => {
    const r = await mesh!.weft(['dashboard', '--no-open']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `Weft dashboard: http://${admin}/dashboard/`);
    const html = await (await fetch(`http://${admin}/dashboard/`)).text();
    assert.match(html, /importmap/);
    assert.doesNotMatch(html, /https?:\/\/(?!127\.)/, 'no CDN: every script comes from the control plane');
    for (const f of [
      'vendor/preact.mjs',
      'vendor/hooks.mjs',
      'vendor/htm.mjs',
      'app.js',
      'graph.js',
      'style.css',
    ])
      assert.equal((await fetch(`http://${admin}/dashboard/${f}`)).status, 200, f);
  });

  test('the graph renders the mesh: workloads, services and edges with rps, errors, p99 and mTLS', async (t) => {
    page = await openPage('#graph');
    const expected = [
      'wl:istio-system/istio-ingressgateway->svc:productpage.default.svc.cluster.local',
      'svc:productpage.default.svc.cluster.local->wl:default/productpage-v1',
      'wl:default/productpage-v1->svc:reviews.default.svc.cluster.local',
      'wl:default/productpage-v1->svc:details.default.svc.cluster.local',
      'svc:reviews.default.svc.cluster.local->wl:default/reviews-v2',
      `wl:default/reviews-v2->${RATINGS}`,
    ];
    await waitFor(
      'the bookinfo edges in the graph',
      async () => {
        const ids = await page.$$eval('#graph g.edge', (els) => els.map((e) => e.getAttribute('data-id')));
        return expected.every((e) => ids.includes(e));
      },
      40_000,
    );
    const nodes = await page.$$eval('#graph g.node', (els) => els.map((e) => e.getAttribute('data-id')));
    for (const n of [
      'wl:default/productpage-v1',
      'wl:default/reviews-v3',
      'svc:reviews.default.svc.cluster.local',
    ])
      assert.ok(nodes.includes(n), `node ${n} in ${nodes.join(', ')}`);
    const label = await page.textContent(`#graph g.edge[data-id="${expected[1]}"] .label text`);
    assert.match(label ?? '', /^\d+\.\d rps · 0\.0% err · p99 \d+ ms$/);
    assert.equal(await page.locator(`#graph g.edge.mtls[data-id="${expected[1]}"] .lock`).count(), 1);
    assert.equal(await page.locator('#graph g.edge.error').count(), 0, 'no red edge before the fault');
    await page.click('#graph g.node[data-id="wl:default/productpage-v1"]');
    const details = (await page.locator('#graph aside.details').textContent()) ?? '';
    assert.match(details, /productpage-v1.*healthy.*1\/1 ready.*Inbound.*Outbound.*reviews\.default.*mTLS/s);
    await page.screenshot({ path: SHOT('graph') });
    t.diagnostic(`${nodes.length} nodes; screenshot ${SHOT('graph')}`);
  });

  test('TCP streams show as TCP edges: bytes/s, connections/s, open connections, mTLS', async (t) => {
    page = await openPage('#graph');
    const ids = [`tcp:wl:default/tcp-client->${TCP_ECHO}`, `tcp:${TCP_ECHO}->wl:default/tcp-echo`];
    for (const id of ids)
      await page.locator(`#graph g.edge.tcp[data-id="${id}"]`).waitFor({ timeout: 40_000 });
    // Bytes count when a stream closes: wait for a window with closed streams in it.
    const labelOf = async () =>
      (await page.textContent(`#graph g.edge[data-id="${ids[0]}"] .label text`)) ?? '';
    const label = await waitFor('bytes on the TCP edge', async () => {
      const l = await labelOf();
      return /TCP · [1-9][\d.]* (B|kB|MB)\/s/.test(l) && l;
    });
    assert.match(label, /^TCP · [\d.]+ (B|kB|MB)\/s · \d+\.\d conn\/s · [1-9]\d* open$/);
    assert.equal(await page.locator(`#graph g.edge.tcp.mtls[data-id="${ids[0]}"] .lock`).count(), 1);
    // The same numbers in the API. (The sidecar also counts each CONNECT as one HTTP request when its
    // tunnel closes, so an HTTP edge may run beside the TCP one: its own id, its label on the other side.)
    const g = (await (await fetch(`http://${admin}/api/graph`)).json()) as {
      edges: Array<{ id: string; protocol?: string; bytesPerSecond?: number; openConnections?: number }>;
    };
    const e = g.edges.find((x) => x.id === ids[0]);
    assert.equal(e?.protocol, 'tcp', JSON.stringify(g.edges.filter((x) => x.id.includes('tcp'))));
    assert.ok((e?.openConnections ?? 0) >= 1, 'the held-open stream counts');
    await page.click('#graph g.node[data-id="wl:default/tcp-client"]');
    assert.match(
      (await page.locator('#graph aside.details').textContent()) ?? '',
      /Outbound.*tcp-echo.*TCP [\d.]+ (B|kB|MB)\/s.*conn\/s.*open.*mTLS/s,
    );
    await page.screenshot({ path: SHOT('tcp') });
    t.diagnostic(`${label}; screenshot ${SHOT('tcp')}`);
  });

  test('weft stat -o json: golden metrics per service', async () => {
    const r = await mesh!.weft(['stat', 'services', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout) as {
      kind: string;
      items: Array<{
        name: string;
        rps: number;
        successRate: number | null;
        p99: number | null;
        meshed: string;
      }>;
    };
    assert.equal(body.kind, 'service');
    const names = body.items.map((i) => i.name).sort();
    assert.deepEqual(names, ['details', 'flaky', 'productpage', 'ratings', 'reviews', 'tcp-echo']);
    const pp = body.items.find((i) => i.name === 'productpage')!;
    assert.ok(pp.rps > 0, `productpage rps ${pp.rps}`);
    assert.equal(pp.successRate, 1);
    assert.ok(pp.p99 !== null && pp.p99 > 0);
    assert.equal(body.items.find((i) => i.name === 'reviews')!.meshed, '3/3');
    const table = await mesh!.weft(['stat', 'workloads']);
    assert.match(table.stdout, /^NAMESPACE\s+NAME\s+MESHED\s+SUCCESS\s+RPS\s+LATENCY_P50/);
    assert.match(table.stdout, /reviews-v2\s+1\/1\s+100\.00%/);
  });

  test('weft tap --max 1 -o json catches a request this test sends', async () => {
    const probe = `/static/weft-cli-probe-${randomUUID()}`;
    const child = spawn(
      process.execPath,
      [
        CLI,
        '--state-dir',
        mesh!.stateDir,
        'tap',
        '--path',
        probe,
        '--reporter',
        'source',
        '--max',
        '1',
        '-o',
        'json',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    try {
      await waitFor(
        'weft tap to be tapping',
        async () => /Tapping \d+ proxies/.test(err) || child.exitCode !== null,
      );
      await (await fetch(ingress + probe)).arrayBuffer();
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000)),
      ]);
      assert.equal(code, 0, `weft tap: ${code}\n${err}`);
    } finally {
      child.kill();
    }
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 1, out);
    const e = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(e.path, probe);
    assert.equal(e.reporter, 'source');
    assert.equal(e.sourceWorkload, 'istio-ingressgateway');
    assert.equal(e.destinationService, 'productpage.default.svc.cluster.local');
    assert.equal(e.method, 'GET');
    assert.equal(typeof e.status, 'number');
    assert.equal(typeof e.latencyMs, 'number');
  });

  test('the tap view shows a request this test sends', async () => {
    const probe = `/static/weft-ui-probe-${randomUUID()}`;
    page = await openPage('#tap');
    await page.fill('#tap input[name=path]', probe);
    await page.press('#tap input[name=path]', 'Enter');
    await page.waitForFunction(
      (probe) =>
        new RegExp(`tapping \\d+ proxies \\(path=${probe}\\)`).test(
          (globalThis as unknown as InPage).document.querySelector('#tap h2')?.textContent ?? '',
        ),
      probe,
      { timeout: 15_000 },
    );
    await (await fetch(ingress + probe)).arrayBuffer();
    const row = page.locator('#tap table.tap tbody tr', { hasText: probe }).first();
    await row.waitFor({ timeout: 15_000 });
    const text = await row.textContent();
    assert.match(text ?? '', /istio-ingressgateway/);
    assert.equal(
      await page.locator('#tap table.tap tbody tr').filter({ hasNotText: probe }).count(),
      0,
      'filter applied',
    );
    await page.screenshot({ path: SHOT('tap') });
  });

  test('the services view charts golden metrics; config & proxies lists every proxy synced', async () => {
    page = await openPage('#services');
    await page
      .locator('table.stats tbody tr[data-id="svc:reviews.default.svc.cluster.local"] polyline')
      .first()
      .waitFor({
        timeout: 15_000,
      });
    await page.screenshot({ path: SHOT('services'), fullPage: true });
    // A route to a host that does not exist (shown in place as a problem), and an ALLOW-all policy on
    // details (its decisions counted per request).
    const extra = join(work, 'extra.yaml');
    await writeFile(extra, EXTRA);
    const applied = await mesh!.weft(['apply', '-f', extra]);
    assert.equal(applied.code, 0, applied.stderr);
    page = await openPage('#config');
    await page.locator('table.proxies tbody tr').nth(6).waitFor({ timeout: 10_000 });
    const problem = page.locator('table.config tr.has-problems', { hasText: 'default/nowhere-route' });
    await problem.waitFor({ timeout: 10_000 });
    assert.match((await problem.textContent()) ?? '', /WEFT_ERR_ANALYZE_UNKNOWN_HOST/);
    await page
      .locator('table.authz tbody tr', { hasText: 'details-allow-all' })
      .first()
      .waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('table.proxies tbody tr').count(), 11);
    assert.match(
      (await page.textContent('table.proxies tbody tr[data-id="reviews-v1-0.default"]')) ?? '',
      /synced.*\d+(\.\d)? h/,
    );
    await page.screenshot({ path: SHOT('config'), fullPage: true });
    const removed = await mesh!.weft(['delete', '-f', extra]);
    assert.equal(removed.code, 0, removed.stderr);
  });

  test('a fault injection turns the edges to ratings red within seconds', async (t) => {
    page = await openPage('#graph');
    await page.locator(`#graph g.edge[data-id$="->${RATINGS}"]`).first().waitFor({ timeout: 20_000 });
    const file = join(work, 'fault.yaml');
    await writeFile(file, FAULT);
    const start = Date.now(); // from the moment `weft apply` starts (the CLI itself takes a moment)
    // Where the time goes: the CLI, the push to the proxies, the scrape, the page's refresh.
    const marks: string[] = [];
    const mark = (what: string) => marks.push(`${what} ${((Date.now() - start) / 1000).toFixed(1)} s`);
    const before = (
      (await (await fetch(`http://${admin}/api/proxies`)).json()) as {
        items: Array<{ id: string; acked?: string }>;
      }
    ).items.find((p) => p.id === 'reviews-v2-0.default')?.acked;
    let watching = true;
    const watch = (async () => {
      let synced = false;
      let apiRed = false;
      while (watching && !(synced && apiRed)) {
        if (!synced) {
          const r = (await (await fetch(`http://${admin}/api/proxies`)).json()) as {
            items: Array<{ id: string; served?: string; acked?: string }>;
          };
          const rv = r.items.find((p) => p.id === 'reviews-v2-0.default');
          if (rv && rv.served === rv.acked && rv.served !== before) {
            synced = true;
            mark('proxy acked');
          }
        }
        if (!apiRed) {
          const g = (await (await fetch(`http://${admin}/api/graph`)).json()) as {
            edges: Array<{ target: string; errorRate: number | null }>;
          };
          if (g.edges.some((e) => e.target === RATINGS && (e.errorRate ?? 0) > 0.05)) {
            apiRed = true;
            mark('API red');
          }
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const applied = await mesh!.weft(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    mark('weft apply done');
    const applyDone = Date.now();
    await page.locator(`#graph g.edge.error[data-id$="->${RATINGS}"]`).first().waitFor({ timeout: 25_000 });
    mark('page red');
    watching = false;
    await watch;
    const seconds = (Date.now() - applyDone) / 1000;
    t.diagnostic(
      `edge red ${seconds.toFixed(1)} s after weft apply returned (from its start: ${marks.join(', ')})`,
    );
    // The dashboard's share: a 2 s scrape and a 2 s page refresh (the CLI's own start-up is not its doing).
    assert.ok(seconds < 10, `${seconds} s`);
    await page.waitForTimeout(2500); // one more refresh, so the screenshot shows the error rate settled
    const label = await page.textContent(`#graph g.edge.error[data-id$="->${RATINGS}"] .label text`);
    assert.match(label ?? '', /[1-9]\d*\.\d% err/);
    await page.screenshot({ path: SHOT('fault') });
    const removed = await mesh!.weft(['delete', 'vs', 'ratings']);
    assert.equal(removed.code, 0, removed.stderr);
  });

  test('an endpoint ejected by outlier detection marks its service in the graph', async (t) => {
    // Requests from the tcp-client sidecar: flaky-bad answers 503 (retried onto flaky-good, so the
    // caller mostly sees 200) until two in a row eject it.
    type GraphNode = { id: string; ejected: number; health: string; ready: number; instances: number };
    let node: GraphNode | undefined;
    await waitFor(
      'flaky-bad to be ejected and the graph to say so',
      async () => {
        for (let i = 0; i < 4; i++) await viaSidecar(clientOutbound, 'flaky:8080', `/e/${i}`);
        const g = (await (await fetch(`http://${admin}/api/graph`)).json()) as { nodes: GraphNode[] };
        node = g.nodes.find((n) => n.id === FLAKY);
        return (node?.ejected ?? 0) >= 1;
      },
      30_000,
    );
    assert.equal(node!.health, 'degraded');
    assert.deepEqual([node!.ready, node!.instances], [2, 2], 'both instances are ready: only ejected');
    // With the bad endpoint out, every request lands on the good one.
    for (let i = 0; i < 6; i++) assert.equal(await viaSidecar(clientOutbound, 'flaky:8080', '/after'), 200);
    page = await openPage('#graph');
    const marked = page.locator(`#graph g.node.degraded[data-id="${FLAKY}"]`);
    await marked.waitFor({ timeout: 20_000 });
    assert.match((await marked.textContent()) ?? '', /1 ejected/);
    await page.screenshot({ path: SHOT('ejected') });
    t.diagnostic(`screenshot ${SHOT('ejected')}`);
  });

  test('a synthetic 1,000-node graph renders', async (t) => {
    const synthetic = syntheticGraph();
    const p = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      await p.route('**/api/graph*', (route) =>
        route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(synthetic) }),
      );
      const start = Date.now();
      await p.goto(`http://${admin}/dashboard/#graph`);
      await p.waitForFunction(
        () => (globalThis as unknown as InPage).document.querySelectorAll('#graph g.node').length === 1000,
        null,
        {
          timeout: 20_000,
        },
      );
      const ms = Date.now() - start;
      assert.equal(await p.locator('#graph g.edge').count(), synthetic.edges.length);
      assert.ok((await p.locator('#graph g.edge.error').count()) > 0);
      const stats = (await p.evaluate('window.__weftGraph')) as { layoutMs: number };
      // The next refresh re-renders without a new layout: it must stay quick.
      const t0 = Date.now();
      await p.waitForTimeout(2500);
      const box = await p.locator('#graph svg.canvas').boundingBox();
      assert.ok(box && box.width > 800 && box.height > 400);
      t.diagnostic(
        `1,000 nodes, ${synthetic.edges.length} edges: shown ${ms} ms after navigation (layout ${stats.layoutMs.toFixed(0)} ms); refresh idle ${Date.now() - t0} ms`,
      );
      assert.ok(ms < 10_000, `rendering took ${ms} ms`);
      await p.screenshot({ path: SHOT('1000-nodes') });
    } finally {
      await p.close();
    }
  });
});
