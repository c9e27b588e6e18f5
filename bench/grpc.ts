// `npm run bench:grpc`: scenario 5 of issue 6, gRPC unary and streaming throughput through two proxies,
// side by side in one run with the same backend:
//
//   direct   client → gRPC backend (@grpc/grpc-js, h2c)
//   nginx    client → nginx A → (mTLS, grpc_pass grpcs://) → nginx B → (grpc_pass grpc://) → backend
//   haproxy  client → HAProxy A → (mTLS, alpn h2) → HAProxy B → (proto h2) → backend
//   weft     client → outbound sidecar → (mTLS) → inbound sidecar → backend (`weft up`, port `grpc`)
//
// Unary echo, server streaming and bidi ping-pong, closed loop from a grpc-js client process pinned to the
// generator CPU; calls/s, messages/s, latency per call, errors and CPU per proxy, as ratios to direct and
// to nginx. See the "gRPC through two proxies" section of bench/README.md.
//
// `node dist/bench/grpc.js [--quick] [--no-pin]`
//   --quick    2-second runs, one round, every setup and call kind (smoke test; results not written)
//   --no-pin   no taskset pinning; result files get a -nopin suffix
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCerts } from './lib/certs.js';
import { startDaemon, stopAll, waitPort } from './lib/daemon.js';
import { grpcCheck } from './lib/grpc-check.js';
import { grpcLoad, stopLoads } from './lib/grpc-load.js';
import { haproxyInner, haproxyOuter, nginxInner, nginxOuter, type GrpcPorts } from './lib/grpc-proxies.js';
import { grpcMarkdown, type GrpcResults, type GrpcRun } from './lib/grpc-report.js';
import { KINDS, MSG_BYTES, STREAM_MESSAGES, type Kind } from './lib/grpc-service.js';
import { startHaproxy } from './lib/haproxy.js';
import { freePort, PROJECT_ROOT, startMesh, type Mesh } from './lib/mesh.js';
import { startNginx } from './lib/nginx.js';
import { cpuShares, cpuTimes, sample, vcpu, withDescendants, type ProcSample } from './lib/procstat.js';
import { machine, type Setup } from './lib/report.js';
import { ensureTools, versions } from './lib/tools.js';

const QUICK = process.argv.includes('--quick');
const PIN = !process.argv.includes('--no-pin') && os.availableParallelism() >= 2;
const SERVER = fileURLToPath(new URL('./lib/grpc-server.js', import.meta.url));

const CONFIG = {
  msgBytes: MSG_BYTES,
  streamMessages: STREAM_MESSAGES,
  // Calls (bidi: open streams) in flight and the HTTP/2 connections they share, per call kind.
  load: {
    unary: { concurrency: 32, channels: 4 },
    serverStream: { concurrency: 8, channels: 4 },
    bidi: { concurrency: 32, channels: 4 },
  } satisfies Record<Kind, { concurrency: number; channels: number }>,
  warmupS: QUICK ? 0.5 : 1,
  durationS: QUICK ? 2 : 6,
  rounds: QUICK ? 1 : 2,
};

// As in run.ts: CPU 0 for the proxies under test only, CPU 1 for the load client, the backend, the
// control plane and this process. Only one setup carries traffic at a time.
const CPU = PIN ? { proxies: '0', generator: '1', backend: '1', controlPlane: '1' } : undefined;
const SETUPS: Setup[] = ['direct', 'nginx', 'haproxy', 'weft'];

const log = (s: string): void =>
  void process.stderr.write(`[bench:grpc ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

let mesh: Mesh | undefined;
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    await stopLoads();
    await mesh?.stop();
    await stopAll();
  })());
let signalled = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    signalled = true;
    void cleanup().then(() => process.exit(130));
  });
const WATCHDOG_S = QUICK ? 240 : 600;
setTimeout(() => {
  log(`watchdog: still running after ${WATCHDOG_S} s, giving up`);
  void cleanup().then(() => process.exit(1));
}, WATCHDOG_S * 1000).unref();

const taskset = (cpus: string, pid: number) =>
  execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

interface Path {
  target: string;
  authority?: string;
  proxies: Array<{ role: 'outer' | 'inner'; pids: () => number[] }>;
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  const m = machine(pkg.version); // before we start anything, so loadavg reflects the box without us
  ensureTools(log);
  m.tools = versions();
  if (CPU) taskset(CPU.generator, process.pid);
  const dir = await mkdtemp(join(os.tmpdir(), 'weft-bench-grpc-'));
  log(`temp dir ${dir}; pinning ${CPU ? 'proxies on CPU 0, everything else on CPU 1' : 'off'}`);

  const certs = makeCerts(dir);
  const p: GrpcPorts = {
    backend: await freePort(),
    ngOuter: await freePort(),
    ngInner: await freePort(),
    haOuter: await freePort(),
    haInner: await freePort(),
  };
  const backend = startDaemon('grpc-backend', process.execPath, [SERVER, String(p.backend)], {
    cpus: CPU?.backend,
    logFile: join(dir, 'grpc-backend.log'),
  });
  await waitPort(p.backend, backend);
  const ngB = await startNginx(dir, 'nginx-grpc-inner', nginxInner(dir, p, certs), p.ngInner, CPU?.proxies);
  const ngA = await startNginx(dir, 'nginx-grpc-outer', nginxOuter(dir, p, certs), p.ngOuter, CPU?.proxies);
  const haB = await startHaproxy(dir, 'haproxy-grpc-inner', haproxyInner(p, certs), p.haInner, CPU?.proxies);
  const haA = await startHaproxy(dir, 'haproxy-grpc-outer', haproxyOuter(p, certs), p.haOuter, CPU?.proxies);
  log(
    `gRPC backend on ${p.backend}; nginx A ${p.ngOuter} → B ${p.ngInner}; HAProxy A ${p.haOuter} → B ${p.haInner}`,
  );

  const t0 = Date.now();
  mesh = await startMesh(join(dir, 'weft'), p.backend, { cpus: CPU?.proxies, portName: 'grpc' });
  const ids = Object.keys(mesh.proxies);
  const client = ids.find((i) => i.startsWith('client-'));
  const server = ids.find((i) => i.startsWith('backend-'));
  if (!client || !server) throw new Error(`weft proxies not found in instances.json: ${ids.join(', ')}`);
  if (CPU) {
    // The sidecars inherited CPU 0 from `weft up`; the control plane and the idle gateway move away.
    taskset(CPU.controlPlane, mesh.pid);
    for (const id of ids.filter((i) => i !== client && i !== server))
      taskset(CPU.controlPlane, mesh.proxies[id]!);
  }
  log(
    `weft up ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; outbound sidecar on ${mesh.outboundPort}`,
  );
  const wc = mesh.proxies[client]!;
  const ws = mesh.proxies[server]!;

  const local = (port: number) => `127.0.0.1:${port}`;
  const pair = (outer: number, inner: number): Path['proxies'] => [
    { role: 'outer', pids: () => withDescendants(outer) },
    { role: 'inner', pids: () => withDescendants(inner) },
  ];
  const paths: Record<Setup, Path> = {
    direct: { target: local(p.backend), proxies: [] },
    nginx: { target: local(p.ngOuter), proxies: pair(ngA.daemon.pid, ngB.daemon.pid) },
    haproxy: { target: local(p.haOuter), proxies: pair(haA.pid, haB.pid) },
    weft: { target: local(mesh.outboundPort), authority: `backend:${p.backend}`, proxies: pair(wc, ws) },
  };
  for (const s of SETUPS) await grpcCheck(paths[s].target, paths[s].authority);
  log('every path answers unary, server-streaming and bidi calls in full');

  const results: GrpcResults = {
    date: today(),
    machine: m,
    quick: QUICK,
    pinning: CPU ? { ...CPU } : undefined,
    config: CONFIG,
    runs: [],
  };
  for (let round = 1; round <= CONFIG.rounds; round++)
    for (const kind of KINDS) {
      // Rotate the order each round, so drift on a shared box does not always hit the same setup last.
      const order = SETUPS.map((_, i) => SETUPS[(i + round - 1) % SETUPS.length]!);
      for (const setup of order)
        results.runs.push(await measure(round, kind, setup, paths[setup], backend.pid));
    }
  results.machine.loadavg1End = os.loadavg()[0]!;

  await cleanup();
  await rm(dir, { recursive: true, force: true }); // only on success: a failed run keeps its logs
  const md = grpcMarkdown(results, KINDS);
  process.stdout.write(md);
  if (QUICK) return log('--quick: results not written');
  const out = join(PROJECT_ROOT, 'bench', 'results');
  const base = `${results.date}-grpc${PIN ? '' : '-nopin'}`;
  await mkdir(out, { recursive: true });
  await writeFile(join(out, `${base}.md`), md);
  await writeFile(join(out, `${base}.json`), JSON.stringify(results, null, 2) + '\n');
  log(`wrote bench/results/${base}.md and .json`);
}

/** One closed-loop run; the proxies', backend's and client's CPU are read at the measured window's edges. */
async function measure(
  round: number,
  kind: Kind,
  setup: Setup,
  path: Path,
  backendPid: number,
): Promise<GrpcRun> {
  const loadavg1 = os.loadavg()[0]!;
  let a: ProcSample[] = [];
  let b: ProcSample[] = [];
  let c0 = cpuTimes();
  let c1 = c0;
  const snap = (client: number) => [
    ...path.proxies.map((x) => sample(x.pids())),
    sample([backendPid]),
    sample([client]),
  ];
  const r = await grpcLoad(
    {
      target: path.target,
      authority: path.authority,
      kind,
      ...CONFIG.load[kind],
      warmupS: CONFIG.warmupS,
      durationS: CONFIG.durationS,
    },
    CPU?.generator,
    (edge, clientPid) => {
      if (edge === 'start') [a, c0] = [snap(clientPid), cpuTimes()];
      else [b, c1] = [snap(clientPid), cpuTimes()];
    },
  );
  const n = path.proxies.length;
  const run: GrpcRun = {
    ...r,
    round,
    setup,
    loadavg1,
    cpus: cpuShares(c0, c1),
    proxies: path.proxies.map((x, i) => ({
      role: x.role,
      vcpu: vcpu(a[i]!, b[i]!),
      cpuS: b[i]!.cpuS - a[i]!.cpuS,
      rssMB: b[i]!.rssMB,
    })),
    backendVcpu: vcpu(a[n]!, b[n]!),
    clientVcpu: vcpu(a[n + 1]!, b[n + 1]!),
  };
  log(
    `  round ${round} ${kind} ${setup}: ${r.callsPerS.toFixed(0)} calls/s, ${r.messagesPerS.toFixed(0)} msg/s, ` +
      `p50 ${r.latency.p50.toFixed(2)} p99 ${r.latency.p99.toFixed(2)} ms, ${r.errors} errors` +
      (n ? `; ${run.proxies.map((x) => `${x.role} ${x.vcpu.toFixed(2)} vCPU`).join(', ')}` : '') +
      ` (load ${loadavg1.toFixed(1)})`,
  );
  return run;
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    // After a signal the run fails because cleanup killed its load client: not worth a stack trace.
    if (!signalled) log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await cleanup();
    process.exit(1);
  },
);
