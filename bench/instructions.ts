// User-space instructions per request through one proxy, counted by valgrind's callgrind: weft's client
// sidecar (its outbound port to a MESH_EXTERNAL ServiceEntry, plain HTTP: the suite's one-hop path) and
// nginx proxying the same way (`worker_processes 1`, keep-alive pool), the same requests to the same
// backend. A count, not a time: the same build, inputs and warm-up give the same figure within ~1 %
// whatever else the machine does, so two builds can be compared where wall-clock figures drown in noise.
// The kernel's work (the socket reads and writes, about the same for both) is not counted.
//
// weft's sidecar under callgrind is a second `weft proxy` for the mesh's `client` workload, started with
// the arguments `weft up` gave the first one (its own id, ports and token), since `weft up` starts its
// proxies itself.
//
// Run: npm run bench:instructions  (add --quick for shorter windows: less warm-up, a rougher figure;
// --weft-only to compare two builds of weft without nginx; --no-access-log to count weft without its
// default access log, turned off mesh-wide by a Telemetry resource)
import http from 'node:http';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackend } from './lib/backend.js';
import { freePort, ONE_HOP_HOST, PROJECT_ROOT, startMesh } from './lib/mesh.js';
import { conf } from './lib/nginx.js';
import { ensureTools } from './lib/tools.js';
import { alive, waitExit } from './lib/proc.js';

const QUICK = process.argv.includes('--quick');
const WEFT_ONLY = process.argv.includes('--weft-only');
const NO_ACCESS_LOG = process.argv.includes('--no-access-log');
// V8 compiles the hot path over the first thousands of requests: after 6,000 a window still counted
// ~8 % more instructions per request than after 12,000, after 3,000 three times as many.
const WARM_UP = QUICK ? 3_000 : 12_000;
const MEASURED = QUICK ? 1_000 : 5_000;
const CONNECTIONS = 8;
const WINDOWS = 3;
const CLI = join(PROJECT_ROOT, 'dist/src/cli/main.js');

const log = (s: string) => process.stderr.write(`[instructions] ${s}\n`);

/** `count` GETs over the agent's `CONNECTIONS` keep-alive connections, each answer read to the end. */
async function load(agent: http.Agent, port: number, host: string, count: number): Promise<void> {
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent }, (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
      req.end();
    });
  let sent = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (sent++ < count) await one();
    }),
  );
}

/** A process under callgrind whose counts are read between two marks. */
class Counted {
  readonly child: ChildProcess;
  constructor(
    readonly name: string,
    private readonly dir: string,
    command: string[],
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const out = join(dir, `${name}.%p`);
    this.child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, ...command], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    });
    let err = '';
    this.child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    this.child.once('exit', (code) => code && log(`${name} exited (${code}): ${err}`));
  }

  /** Counts from now on only. */
  zero(): void {
    execFileSync('callgrind_control', ['-z', String(this.child.pid)], { stdio: 'ignore' });
  }

  private dumps = 0;

  /** Instructions since `zero` or the last call. */
  async instructions(): Promise<number> {
    execFileSync('callgrind_control', ['-d', String(this.child.pid)], { stdio: 'ignore' });
    const file = join(this.dir, `${this.name}.${this.child.pid}.${++this.dumps}`);
    for (let i = 0; i < 100; i++) {
      const m = /^(?:summary|totals):\s*(\d+)/m.exec(await readFile(file, 'utf8').catch(() => ''));
      if (m) return Number(m[1]);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no callgrind dump ${file}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    await waitExit(this.child, 10_000);
    if (this.child.pid && alive(this.child.pid)) this.child.kill('SIGKILL');
  }
}

async function waitListening(port: number, what: string, proc: Counted, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: ONE_HOP_HOST } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    if (proc.child.exitCode !== null || Date.now() > deadline) throw new Error(`${what} never answered`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Warm up, then the instructions per request over WINDOWS windows, lowest first. Windows differ by the
 * major GCs that fall into them (V8 runs them on timers as well as on allocation, and under callgrind a
 * window lasts seconds): the lowest is the request path with the fewest, the highest says how much more.
 */
async function measure(proc: Counted, port: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    const t0 = Date.now();
    await load(agent, port, ONE_HOP_HOST, WARM_UP);
    log(`${proc.name}: ${WARM_UP} warm-up requests in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const perRequest: number[] = [];
    proc.zero();
    for (let i = 0; i < WINDOWS; i++) {
      await load(agent, port, ONE_HOP_HOST, MEASURED);
      perRequest.push((await proc.instructions()) / MEASURED);
    }
    return perRequest.sort((a, b) => a - b);
  } finally {
    agent.destroy();
  }
}

/** `weft proxy` for the mesh's client workload with the arguments `weft up` gave its own, renamed. */
async function clientProxyArgs(pid: number, stateDir: string, outbound: number, logFile: string) {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  const args = argv.slice(argv.indexOf(CLI) + 1);
  const id = `client-callgrind.default`;
  const set = (flag: string, value: string) => {
    const i = args.indexOf(flag);
    if (i < 0) throw new Error(`weft up no longer passes ${flag}: ${args.join(' ')}`);
    args[i + 1] = value;
  };
  set('--id', id);
  set('--outbound-port', String(outbound));
  set('--inbound-port', '0');
  set('--admin-port', '0');
  set('--metrics-port', '0');
  set('--app-log', logFile);
  const token = execFileSync(
    process.execPath,
    [CLI, '--state-dir', stateDir, 'ca', 'token', 'client', '--instance', id],
    { encoding: 'utf8' },
  ).trim();
  return { args, token };
}

/** nginx proxying the one-hop way, one process (no master), under callgrind. */
async function nginxInstructions(dir: string, backendPort: number): Promise<number[]> {
  const nginxPort = await freePort();
  const nginxConf = join(dir, 'one-hop.conf');
  await writeFile(
    nginxConf,
    conf(
      dir,
      'one-hop',
      `
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`,
    ),
  );
  const nginx = new Counted('nginx', dir, [
    'nginx',
    '-p',
    dir,
    '-c',
    nginxConf,
    '-g',
    'daemon off; master_process off;',
  ]);
  try {
    await waitListening(nginxPort, 'nginx under callgrind', nginx);
    return await measure(nginx, nginxPort);
  } finally {
    await nginx.stop();
  }
}

async function main(): Promise<void> {
  ensureTools(log, { valgrind: 'valgrind', callgrind_control: 'valgrind' });
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-instructions-'));
  const backend = await startBackend();
  const stops: Array<() => Promise<void>> = [() => backend.stop()];
  const results: Array<[string, number[]]> = [];
  try {
    // nginx, one process (no master), under callgrind.
    if (!WEFT_ONLY) results.push(['nginx (1 worker)', await nginxInstructions(dir, backend.port)]);

    log('starting a weft mesh');
    const mesh = await startMesh(join(dir, 'weft'), backend.port, { oneHop: true });
    stops.push(() => mesh.stop());
    if (NO_ACCESS_LOG) {
      const file = join(dir, 'no-access-log.yaml');
      await writeFile(
        file,
        'apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: mesh-default, namespace: istio-system}\nspec:\n  accessLogging: [{disabled: true}]\n',
      );
      execFileSync(process.execPath, [CLI, '--state-dir', mesh.stateDir, 'apply', '-f', file], {
        stdio: 'ignore',
      });
    }
    const client = Object.entries(mesh.proxies).find(([id]) => id.startsWith('client-'))![1];
    const outbound = await freePort();
    const { args, token } = await clientProxyArgs(client, mesh.stateDir, outbound, join(dir, 'app.log'));
    log('starting a client sidecar under callgrind (slow: about a minute)');
    const weft = new Counted('weft', dir, [process.execPath, CLI, ...args], {
      ...process.env,
      WEFT_BOOTSTRAP_TOKEN: token,
    });
    stops.push(() => weft.stop());
    await waitListening(outbound, 'the weft sidecar under callgrind', weft);
    results.push([
      `weft client sidecar${NO_ACCESS_LOG ? ', no access log' : ''}`,
      await measure(weft, outbound),
    ]);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
  const nginx = WEFT_ONLY ? undefined : results[0]![1][0]!;
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  process.stdout.write(
    [
      `User-space instructions per request, one proxy, HTTP/1.1 keep-alive, ${CONNECTIONS} connections, 1 KB answers`,
      `(${WINDOWS} windows of ${MEASURED} requests after ${WARM_UP} of warm-up; callgrind, kernel not counted):`,
      '',
      '| proxy | instructions per request (lowest window) | × nginx | other windows |',
      '| --- | --: | --: | --: |',
      ...results.map(
        ([name, w]) =>
          `| ${name} | ${n(w[0]!)} | ${nginx ? (w[0]! / nginx).toFixed(2) : '–'} | ${w.slice(1).map(n).join(', ')} |`,
      ),
      '',
    ].join('\n'),
  );
}

void main();
