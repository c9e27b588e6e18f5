/* eslint-disable no-control-regex -- the test reads the terminal escape codes weft up writes */
// `weft up` as operators see it, with real processes:
//  - under a real pseudo-terminal (tmux) the status table is redrawn in place until every row is ready:
//    the raw bytes hold cursor-up redraws, the screen holds one table and no progress lines;
//  - through a pipe it prints one plain line per phase change, and a workload whose app dies shows in its
//    row with the reason and the log to read;
//  - an egress Gateway applied with `weft apply` while the mesh runs starts the egress gateway proxy,
//    and mesh traffic crosses it;
//  - --prometheus-url on `weft up` and `weft control-plane` selects Prometheus for the dashboard (over
//    WEFT_PROMETHEUS_URL), and `weft dashboard --prometheus-url` switches a running control plane.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { CLI, ROOT } from './support/paths.js';
import { tempDir, waitFor, weft } from './support/weft.js';
import { freePort } from '../src/local/ports.js';
import { clientYaml, workloadYaml } from './support/mesh-yaml.js';

const run = promisify(execFile);
const tmux = async (...args: string[]) => (await run('tmux', args)).stdout;

/** A plain HTTP/1.1 GET with the Host header we choose (fetch would set its own). */
function get(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const echo = (name: string) =>
  workloadYaml(name, 8080, ['node', 'dist/test/support/echo-server.js'], 'http', '/health');

describe('weft up under a real terminal', { timeout: 180_000 }, () => {
  const session = `weft-up-${process.pid}`;
  let dir: string;
  let raw: string;

  before(async () => {
    dir = await tempDir('weft-up-tty-');
    raw = join(dir, 'raw.txt');
    await writeFile(join(dir, 'mesh.yaml'), echo('echo'));
    // A shell first, its bytes piped to a file, then the command typed in: the file sees every byte
    // weft up writes to the terminal, escape codes included.
    await tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40', '-c', ROOT);
    await tmux('pipe-pane', '-t', session, '-o', `cat >> ${raw}`);
    const cmd = [
      process.execPath,
      CLI,
      '--state-dir',
      join(dir, 'state'),
      'up',
      '-f',
      join(dir, 'mesh.yaml'),
    ];
    cmd.push('--admin-port', '0', '--discovery-port', '0', '--ready-timeout', '60');
    await tmux('send-keys', '-t', session, cmd.join(' '), 'Enter');
  });

  after(async () => {
    await tmux('send-keys', '-t', session, 'C-c').catch(() => {});
    await waitFor(
      'weft up to stop',
      async () => (await tmux('capture-pane', '-p', '-t', session)).includes('Stopped.'),
      20_000,
    ).catch(() => {});
    await tmux('kill-session', '-t', session).catch(() => {});
  });

  test('the table is redrawn in place until every row is ready', async () => {
    const screen = await waitFor(
      'Press Ctrl-C on the screen',
      async () => {
        const s = await tmux('capture-pane', '-p', '-t', session);
        return s.includes('Press Ctrl-C to stop') && s;
      },
      90_000,
    );
    const lines = screen.split('\n');
    const header = lines.findIndex((l) => /^NAME\s+KIND\s+STATE\s+PORTS\s+DETAIL$/.test(l));
    assert.ok(header >= 0, screen);
    assert.equal(lines.filter((l) => l.startsWith('NAME ')).length, 1, `one table on the screen:\n${screen}`);
    const rows = lines.slice(header + 1, lines.indexOf('', header));
    assert.deepEqual(
      rows.map((l) => l.split(/\s+/)[0]),
      ['control-plane', 'echo-0.default', 'istio-ingressgateway-0.istio-system'],
      screen,
    );
    for (const r of rows) assert.match(r, /^\S+\s+\S+\s+✔ ready\s/, screen);
    assert.match(rows[1]!, /app=\d+ in=\d+ out=\d+ admin=\d+/);
    assert.match(screen, /Mesh is up\. Press Ctrl-C to stop\./);
    assert.doesNotMatch(screen, /^ {2}[…✔] /m, 'no line-by-line progress on a terminal');
    // The bytes behind the screen: the table was drawn more than once, each time after moving up over it.
    const bytes = await readFile(raw, 'utf8');
    assert.ok(bytes.split('NAME ').length - 1 > 1, 'the table was redrawn');
    assert.match(bytes, /\x1b\[\d+A\r\x1b\[2KNAME /, 'redrawn over itself (cursor up, clear line)');
  });
});

describe('weft up through a pipe, gateways applied later, --prometheus-url', { timeout: 240_000 }, () => {
  let dir: string;
  let child: ChildProcess;
  let output = '';
  let outbound: number;
  let gwPort: number;
  let server: http.Server;
  const paths: string[] = [];
  const state = () => join(dir, 'state');

  const graphMetrics = async () => {
    const r = await weft(['--state-dir', state(), 'dashboard', '--no-open']);
    assert.equal(r.code, 0, r.stderr);
    const url = /Weft dashboard: (\S+)\/dashboard\//.exec(r.stdout)![1];
    const res = await fetch(`${url}/api/graph`);
    return ((await res.json()) as { metrics: { source: string; url?: string } }).metrics;
  };

  before(async () => {
    dir = await tempDir('weft-up-pipe-');
    outbound = await freePort();
    gwPort = await freePort();
    server = http.createServer((req, res) => {
      paths.push(req.url ?? '');
      res.end(`outside saw ${req.headers.host}${req.url}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await writeFile(
      join(dir, 'mesh.yaml'),
      `
${clientYaml(outbound)}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: broken, labels: {app: broken}}
spec:
  serviceAccount: broken
  ports: [{name: http, containerPort: 8080}]
  command: [node, -e, "console.error('no database'); process.exit(3)"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: outside}
spec:
  hosts: [outside.example.test]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${(server.address() as AddressInfo).port}}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`,
    );
    child = spawn(
      process.execPath,
      [
        CLI,
        '--state-dir',
        state(),
        'up',
        '-f',
        join(dir, 'mesh.yaml'),
        '--admin-port',
        '0',
        '--discovery-port',
        '0',
      ].concat(['--ready-timeout', '60', '--prometheus-url', 'http://127.0.0.1:1/from-flag']),
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, WEFT_PROMETHEUS_URL: 'http://127.0.0.1:2/from-env' },
      },
    );
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(
      'weft up to settle',
      async () => output.includes('Press Ctrl-C to stop') || child.exitCode !== null,
      90_000,
    );
    assert.equal(child.exitCode, null, output);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
    server?.close();
  });

  test('plain lines per phase, and the failed row says why and which log to read', () => {
    assert.doesNotMatch(output, /\x1b/, 'no escape codes in a pipe');
    assert.match(output, /^ {2}… client-0\.default starting$/m);
    assert.match(output, /^ {2}✔ client-0\.default ready$/m);
    const why = /^ {2}✖ broken-0\.default exited: app exited \(code 3\); its proxy stopped; see (\S+)$/m.exec(
      output,
    );
    assert.ok(why, output);
    assert.equal(why[1], join('state', 'logs', 'broken-0.default.app.log'));
    assert.match(output, /^broken-0\.default\s+sidecar\s+✖ exited\s+app=\d+.*app exited \(code 3\)/m);
    assert.match(output, /^control-plane\s+control-plane\s+✔ ready\s+admin=\d+ discovery=\d+/m);
    assert.match(output, /Some workloads are not ready; see the table and their logs/);
  });

  test('the log the row names holds the app’s own error', async () => {
    assert.match(
      await readFile(join(dir, 'state', 'logs', 'broken-0.default.app.log'), 'utf8'),
      /no database/,
    );
  });

  test('--prometheus-url wins over WEFT_PROMETHEUS_URL; weft dashboard --prometheus-url switches it', async () => {
    const first = await graphMetrics();
    assert.equal(first.source, 'prometheus');
    assert.equal(first.url, 'http://127.0.0.1:1/from-flag');
    let r = await weft(['--state-dir', state(), 'dashboard', '--no-open', '--prometheus-url', '']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Golden metrics now come from the proxies/);
    assert.deepEqual(await graphMetrics(), { source: 'proxies' });
    r = await weft(['--state-dir', state(), 'dashboard', '--no-open', '--prometheus-url', 'ftp://nope']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--prometheus-url: not an http\(s\) URL: ftp:\/\/nope/);
    r = await weft([
      '--state-dir',
      state(),
      'dashboard',
      '--no-open',
      '--prometheus-url',
      'http://127.0.0.1:3',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await graphMetrics()).url, 'http://127.0.0.1:3');
  });

  test('an egress Gateway applied while the mesh runs starts the egress gateway, and traffic crosses it', async () => {
    const ids = async () =>
      (
        JSON.parse(await readFile(join(state(), 'instances.json'), 'utf8')) as {
          instances: Array<{ id: string; state: string; logs: { proxy: string } }>;
        }
      ).instances;
    assert.ok(!(await ids()).some((i) => i.id.startsWith('istio-egressgateway')), 'no egress gateway before');
    const file = join(dir, 'egress.yaml');
    await writeFile(
      file,
      `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: ${gwPort}, name: https, protocol: HTTPS}
    hosts: [outside.example.test]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-outside}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: outside
    trafficPolicy:
      portLevelSettings:
      - port: {number: ${gwPort}}
        tls: {mode: ISTIO_MUTUAL, sni: outside.example.test}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: outside-through-egress-gateway}
spec:
  hosts: [outside.example.test]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route:
    - destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: outside, port: {number: ${gwPort}}}
  - match: [{gateways: [istio-egressgateway], port: ${gwPort}}]
    route:
    - destination: {host: outside.example.test, port: {number: 80}}
`,
    );
    const r = await weft(['--state-dir', state(), 'apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    const gw = await waitFor(
      'the egress gateway to be ready',
      async () =>
        (await ids()).find((i) => i.id === 'istio-egressgateway-0.istio-system' && i.state === 'ready'),
      60_000,
    );
    assert.match(
      output,
      /^ {2}✔ istio-egressgateway-0\.istio-system ready$/m,
      'the live lines go on after start',
    );
    const body = await waitFor('a request through the egress gateway', async () => {
      const res = await get(outbound, '/via-egress', 'outside.example.test');
      return res.status === 200 && res.body;
    });
    assert.equal(body, 'outside saw outside.example.test/via-egress');
    const log = await waitFor('the egress gateway access log', async () => {
      const l = await readFile(gw.logs.proxy, 'utf8');
      return l.includes('/via-egress') && l;
    });
    assert.match(log, /"GET \/via-egress HTTP\/1\.1" 200 /);
  });
});

describe('weft control-plane --prometheus-url', { timeout: 60_000 }, () => {
  test('the flag wins over WEFT_PROMETHEUS_URL', async () => {
    const dir = await tempDir('weft-cp-prom-');
    const child = spawn(
      process.execPath,
      [CLI, '--state-dir', dir, 'control-plane', '--admin-port', '0', '--discovery-port', '0'].concat([
        '--prometheus-url',
        'http://127.0.0.1:1/from-flag',
      ]),
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, WEFT_PROMETHEUS_URL: 'http://127.0.0.1:2/' },
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const admin = await waitFor('the control plane', async () => /admin (http:\S+)/.exec(out)?.[1], 30_000);
      const g = (await (await fetch(`${admin}/api/graph`)).json()) as {
        metrics: { source: string; url?: string };
      };
      assert.equal(g.metrics.source, 'prometheus');
      assert.equal(g.metrics.url, 'http://127.0.0.1:1/from-flag');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
  });
});
