// `weft proxy --concurrency 2` (here through WEFT_PROXY_CONCURRENCY, which `weft up` passes on to every
// proxy): two data-plane worker processes per proxy share its listeners. Through a real mesh: traffic
// flows over mTLS and lands on both workers, the metrics port still reports the proxy's totals, tap
// still sees requests, a config change is applied by every worker before it is ACKed, and a worker that
// dies is replaced without the proxy going down.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { changeConfig } from './support/config-sync.js';
import { freePort } from '../src/local/ports.js';
import { ECHO_YAML, clientYaml } from './support/mesh-yaml.js';

const CLIENT = 'client-0.default';
const ECHO = 'echo-0.default';

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, headers, agent: false, timeout: 15_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The worker processes of a proxy: its children running worker-main.js. */
function workersOf(proxyPid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(proxyPid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes('worker-main.js'))
    .map((l) => Number(l.trim().split(/\s+/, 1)[0]));
}

/** User + system CPU time of a process so far, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Sum of a metric's samples whose label text includes every needle. */
function sum(text: string, metric: string, ...needles: string[]): number {
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(metric + '{') && needles.every((n) => line.includes(n)))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

describe('a proxy with two data-plane workers', { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let outbound: number;

  before(async () => {
    process.env.WEFT_PROXY_CONCURRENCY = '2'; // read by every `weft proxy` that `weft up` starts
    dir = await tempDir('weft-concurrency-');
    outbound = await freePort();
    await writeFile(
      join(dir, 'mesh.yaml'),
      `${clientYaml(outbound)}
---
${ECHO_YAML}
`,
    );
    mesh = await RunningMesh.up([dir]);
  });

  after(async () => {
    delete process.env.WEFT_PROXY_CONCURRENCY;
    await mesh?.stop();
  });

  test('each proxy runs two workers, and requests through both sides succeed', async () => {
    for (const id of [CLIENT, ECHO]) {
      const pid = (await mesh.instance(id)).proxyPid!;
      assert.equal(workersOf(pid).length, 2, `${id} has two workers`);
    }
    // New connections each time (agent: false): the primary hands them to the workers in turn, so
    // both spend CPU on them.
    const workers = workersOf((await mesh.instance(CLIENT)).proxyPid!);
    const before = workers.map(cpuTicks);
    for (let i = 0; i < 200; i++) {
      const r = await get(outbound, `/n/${i}`, { host: 'echo:8080' });
      assert.equal(r.status, 200, r.body);
    }
    const spent = workers.map((pid, i) => cpuTicks(pid) - before[i]!);
    assert.ok(
      spent.every((t) => t > 0),
      `both workers carried requests (CPU ticks: ${spent.join(', ')})`,
    );
  });

  test('the metrics port reports the proxy totals, summed over its workers', async () => {
    const client = await mesh.instance(CLIENT);
    const before = sum(
      (await get(client.ports!.metrics!, '/stats/prometheus')).body,
      'istio_requests_total',
      'reporter="source"',
      'destination_service_name="echo"',
    );
    for (let i = 0; i < 30; i++)
      assert.equal((await get(outbound, '/count', { host: 'echo:8080' })).status, 200);
    const text = (await get(client.ports!.metrics!, '/stats/prometheus')).body;
    const after = sum(text, 'istio_requests_total', 'reporter="source"', 'destination_service_name="echo"');
    assert.equal(after - before, 30, 'every request counted once');
    // One HELP/TYPE per family (the merge must not repeat them), and the agent's own figures.
    assert.equal(text.match(/^# TYPE istio_requests_total /gm)?.length, 1);
    assert.match(text, /^weft_proxy_control_plane_connected 1$/m);
    assert.match(text, /^weft_proxy_config_acks_total [1-9]/m);
    // Both workers carried some of them: each has its own process CPU, and both served connections.
    const echo = await mesh.instance(ECHO);
    const server = (await get(echo.ports!.metrics!, '/stats/prometheus')).body;
    assert.ok(sum(server, 'istio_requests_total', 'reporter="destination"') >= 50, server.slice(0, 400));
  });

  test('tap on the admin port sees requests carried by the workers', async () => {
    const client = await mesh.instance(CLIENT);
    const lines: string[] = [];
    const req = http.get({
      host: '127.0.0.1',
      port: client.ports!.admin,
      path: '/tap?path=/tapped',
      agent: false,
    });
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => lines.push(...c.split('\n').filter(Boolean)));
    });
    await new Promise((r) => setTimeout(r, 300)); // the workers are told to tap
    try {
      await waitFor('tap to show a request', async () => {
        await get(outbound, '/tapped', { host: 'echo:8080' });
        return lines.some((l) => l.includes('"/tapped"'));
      });
    } finally {
      req.destroy();
    }
    const e = JSON.parse(lines.find((l) => l.includes('"/tapped"'))!) as Record<string, unknown>;
    assert.equal(e.status, 200);
    assert.equal(e.destinationService, 'echo.default.svc.cluster.local');
  });

  test('a config change reaches every worker before it is acknowledged', async () => {
    const file = join(dir, 'route.yaml');
    await writeFile(
      file,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - headers: {response: {set: {x-route: v2}}}
    route: [{destination: {host: echo}}]
`,
    );
    assert.ok(await changeConfig(mesh, ['apply', '-f', file], [CLIENT]), 'the client ACKed');
    // Fresh connections land on either worker; every one must have the new route.
    for (let i = 0; i < 10; i++) {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
        http
          .get(
            { host: '127.0.0.1', port: outbound, path: '/', headers: { host: 'echo:8080' }, agent: false },
            resolve,
          )
          .on('error', reject),
      );
      res.resume();
      assert.equal(res.headers['x-route'], 'v2', `request ${i}`);
    }
  });

  test('a worker that dies is replaced and the proxy keeps serving', async () => {
    const pid = (await mesh.instance(CLIENT)).proxyPid!;
    const [victim] = workersOf(pid);
    process.kill(victim!, 'SIGKILL');
    await waitFor('a replacement worker', async () => {
      const now = workersOf(pid);
      return now.length === 2 && !now.includes(victim!);
    });
    for (let i = 0; i < 10; i++)
      assert.equal((await get(outbound, '/after', { host: 'echo:8080' })).status, 200);
    const status = await mesh.weft(['proxy-status']);
    assert.match(status.stdout, /client-0\.default\s+\S+\s+SYNCED/, status.stdout);
  });
});
