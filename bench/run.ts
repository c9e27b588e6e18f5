// `npm run bench`: the side-by-side suite of issue 6. The same work through four setups in one run, on
// one machine, over loopback, reported as ratios to direct (and, for weft, to nginx):
//
//   direct   client → backend (nginx answering 1 KB)
//   nginx    client → nginx A → (mTLS) → nginx B → backend
//   haproxy  client → HAProxy A → (mTLS) → HAProxy B → backend
//   weft     client → outbound sidecar → (mTLS) → inbound sidecar → backend (`weft up`)
//
// Scenarios: latency at a fixed 1,000 req/s with 1/16/64 connections (open loop, undici); maximum
// throughput through two hops and through one proxy without TLS (wrk for HTTP/1.1, h2load for h2c); CPU
// and resident memory per proxy at 10/100/1,000/3,000 req/s; idle memory. See bench/README.md.
//
// `node dist/bench/run.js [--quick] [--no-pin] [--mesh-h2]`
//   --quick    a few seconds per phase, every setup end to end (smoke test; results not written)
//   --no-pin   no taskset pinning
//   --mesh-h2  weft carries HTTP/1.1 between its proxies over HTTP/2 sessions (WEFT_MESH_PROTOCOL=h2)
//   --concurrency N  each weft proxy runs N data-plane workers (`weft proxy --concurrency`); pinning is
//              then off, since N workers on the one proxy core would only take turns
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { makeCerts, weftClientCert } from './lib/certs.js';
import { handshakes } from './lib/handshake.js';
import { renderLatencyChart } from './lib/chart.js';
import { h2check, h2load, wrk, type ThroughputResult, type ToolTarget } from './lib/closed.js';
import { stopAll } from './lib/daemon.js';
import { innerConf as haInner, outerConf as haOuter, startHaproxy } from './lib/haproxy.js';
import { openLoop, poolRounds, type OpenLoopResult, type Target } from './lib/load.js';
import { freePort, ONE_HOP_HOST, PROJECT_ROOT, startMesh, type Mesh } from './lib/mesh.js';
import {
  BODY_BYTES,
  backendConf,
  innerConf as ngInner,
  outerConf as ngOuter,
  startNginx,
  type NginxPorts,
} from './lib/nginx.js';
import {
  cpuShares,
  cpuTimes,
  sample,
  vcpu,
  withDescendants,
  type CpuTimes,
  type ProcSample,
} from './lib/procstat.js';
import {
  evaluateTargets,
  machine,
  markdown,
  type ProxySetup,
  type Results,
  type Setup,
} from './lib/report.js';
import { ensureTools, versions } from './lib/tools.js';

const QUICK = process.argv.includes('--quick');
const MESH_H2 = process.argv.includes('--mesh-h2');
if (MESH_H2) process.env.WEFT_MESH_PROTOCOL = 'h2';
const concurrencyAt = process.argv.indexOf('--concurrency');
const WORKERS = concurrencyAt > 0 ? Number(process.argv[concurrencyAt + 1]) : 1;
if (!Number.isInteger(WORKERS) || WORKERS < 1) throw new Error('--concurrency wants a whole number ≥ 1');
if (WORKERS > 1) process.env.WEFT_PROXY_CONCURRENCY = String(WORKERS);
const SUFFIX = (MESH_H2 ? '-mesh-h2' : '') + (WORKERS > 1 ? `-c${WORKERS}` : '');
const PIN = !process.argv.includes('--no-pin') && WORKERS === 1 && os.availableParallelism() >= 2;

const CONFIG = {
  bodyBytes: BODY_BYTES,
  // Scenario 1: open loop at a fixed rate (light enough that no setup should saturate).
  rate: 1000,
  connections: [1, 16, 64],
  warmupS: QUICK ? 0.5 : 1.5,
  durationS: QUICK ? 2 : 5,
  // Each setup's latency is measured in this many rounds, interleaved with the other setups', and the
  // percentiles are taken over all their requests: one 8 s window gave nginx's Δp99 at 16 connections
  // as +0.19 ms in one full run and +0.30 in the next, too little to hold a 1.5× target against.
  latencyRounds: QUICK ? 1 : 3,
  // Scenario 2: closed loop, maximum throughput.
  wrkConnections: 32,
  h2Connections: 16,
  h2Streams: 8,
  throughputWarmupS: 1,
  throughputS: QUICK ? 2 : 6,
  // Scenario 3: CPU and memory per proxy at fixed rates (open loop, 16 connections).
  rates: [10, 100, 1000, 3000],
  resourceConnections: 16,
  resourceWarmupS: QUICK ? 0.5 : 1.5,
  resourceS: QUICK ? 2 : 8,
  // Scenario 4: new mTLS connections per second into the server-side proxy (openssl s_time -new).
  handshakeParallel: 4,
  handshakeS: QUICK ? 1 : 5,
  // Scenario 4: idle memory, sampled after this long with no traffic: 10 s, past start-up and the
  // proxy's own idle GC (6.5 s after traffic stops, proxy/young-gen.ts), as a resting proxy is.
  idleSettleS: QUICK ? 1 : 10,
};

// Pinning on 2 cores: CPU 0 for the proxies under test only; CPU 1 for everything else (this process,
// which is the open-loop generator, wrk and h2load, the nginx backend, weft's control plane and its idle
// ingress gateway). A proxy then has a core to itself and never competes with the generator.
const CPU = PIN
  ? { proxies: '0', generator: '1', backend: '1', controlPlane: '1' }
  : { proxies: undefined, generator: undefined, backend: undefined, controlPlane: undefined };

const SETUPS: Setup[] = ['direct', 'nginx', 'haproxy', 'weft'];
const PROXY_SETUPS: ProxySetup[] = ['nginx', 'haproxy', 'weft'];

const log = (s: string): void =>
  void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

let mesh: Mesh | undefined;
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    await mesh?.stop();
    await stopAll();
  })());

// Ctrl-C or a stuck phase must not leave proxies behind: stop what we started, then exit.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => void cleanup().then(() => process.exit(130)));
const WATCHDOG_S = QUICK ? 300 : 900;
setTimeout(() => {
  log(`watchdog: still running after ${WATCHDOG_S} s, giving up`);
  void cleanup().then(() => process.exit(1));
}, WATCHDOG_S * 1000).unref();

/** GET once and check we really reach the backend (200, full body); retried while config settles. */
async function check(t: Target): Promise<void> {
  const pool = new Pool(t.origin);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await pool.request({
          path: t.path,
          method: 'GET',
          headers: t.host ? { host: t.host } : {},
        });
        const n = (await res.body.arrayBuffer()).byteLength;
        if (res.statusCode === 200 && n === CONFIG.bodyBytes) return;
        if (attempt >= 25)
          throw new Error(`${t.origin} (${t.host ?? ''}): HTTP ${res.statusCode}, ${n} bytes`);
      } catch (e) {
        if (attempt >= 25) throw e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await pool.close();
  }
}

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const tool = (t: Target): ToolTarget => ({ url: t.origin + t.path, host: t.host });
const fromTool = (t: ToolTarget): Target => {
  const u = new URL(t.url);
  return { origin: u.origin, path: u.pathname, host: t.host };
};
const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
const taskset = (cpus: string, pid: number) =>
  execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });

interface SetupInfo {
  twoHop: Target;
  twoHopH2: ToolTarget;
  oneHop?: Target;
  oneHopH2?: ToolTarget;
  /** The proxy processes: outer (A, the client side) and inner (B, the server side). */
  proxies: Array<{ role: 'outer' | 'inner'; pids: () => number[] }>;
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  const m = machine(pkg.version); // before we start anything, so loadavg reflects the box without us
  const installed = ensureTools(log);
  m.tools = versions();
  if (PIN) taskset(CPU.generator!, process.pid);
  const dir = await mkdtemp(join(os.tmpdir(), 'weft-bench-'));
  log(
    `temp dir ${dir}; pinning ${PIN ? 'proxies on CPU 0, generator/backend/control plane on CPU 1' : 'off'}`,
  );

  const certs = makeCerts(dir);
  const port = async () => freePort();
  const np: NginxPorts = {
    backend: await port(),
    backendH2c: await port(),
    outer: await port(),
    outerH2c: await port(),
    inner: await port(),
    one: await port(),
    oneH2c: await port(),
  };
  const hp = { backend: np.backend, outer: await port(), inner: await port(), one: await port() };

  await startNginx(dir, 'backend', backendConf(dir, np), np.backend, CPU.backend);
  const ngB = await startNginx(dir, 'nginx-inner', ngInner(dir, np, certs), np.inner, CPU.proxies);
  const ngA = await startNginx(dir, 'nginx-outer', ngOuter(dir, np, certs), np.outer, CPU.proxies);
  const haB = await startHaproxy(dir, 'haproxy-inner', haInner(hp, certs), hp.inner, CPU.proxies);
  const haA = await startHaproxy(dir, 'haproxy-outer', haOuter(hp, certs), hp.outer, CPU.proxies);
  log(
    `nginx backend on ${np.backend}; nginx A ${np.outer} → B ${np.inner}; HAProxy A ${hp.outer} → B ${hp.inner}`,
  );

  const t0 = Date.now();
  mesh = await startMesh(join(dir, 'weft'), np.backend, { cpus: CPU.proxies, oneHop: true });
  const ids = Object.keys(mesh.proxies);
  const client = ids.find((i) => i.startsWith('client-'));
  const server = ids.find((i) => i.startsWith('backend-'));
  if (!client || !server) throw new Error(`weft proxies not found in instances.json: ${ids.join(', ')}`);
  if (PIN) {
    // The proxies inherited CPU 0 from `weft up`; move the control plane and the (idle) gateway away.
    taskset(CPU.controlPlane!, mesh.pid);
    for (const id of ids.filter((i) => i !== client && i !== server))
      taskset(CPU.controlPlane!, mesh.proxies[id]!);
  }
  log(
    `weft up ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; outbound sidecar on ${mesh.outboundPort}`,
  );
  const wp = { client: mesh.proxies[client]!, server: mesh.proxies[server]! };

  const local = (p: number, host?: string): Target => ({ origin: `http://127.0.0.1:${p}`, host, path: '/' });
  const weftTwo = local(mesh.outboundPort, `backend:${np.backend}`);
  const weftOne = local(mesh.outboundPort, ONE_HOP_HOST);
  const setups: Record<Setup, SetupInfo> = {
    direct: { twoHop: local(np.backend), twoHopH2: tool(local(np.backendH2c)), proxies: [] },
    nginx: {
      twoHop: local(np.outer),
      twoHopH2: tool(local(np.outerH2c)),
      oneHop: local(np.one),
      oneHopH2: tool(local(np.oneH2c)),
      proxies: [
        { role: 'outer', pids: () => withDescendants(ngA.daemon.pid) },
        { role: 'inner', pids: () => withDescendants(ngB.daemon.pid) },
      ],
    },
    haproxy: {
      twoHop: local(hp.outer),
      twoHopH2: tool(local(hp.outer)),
      oneHop: local(hp.one),
      oneHopH2: tool(local(hp.one)),
      proxies: [
        { role: 'outer', pids: () => withDescendants(haA.pid) },
        { role: 'inner', pids: () => withDescendants(haB.pid) },
      ],
    },
    weft: {
      twoHop: weftTwo,
      twoHopH2: tool(weftTwo),
      oneHop: weftOne,
      oneHopH2: tool(weftOne),
      proxies: [
        { role: 'outer', pids: () => withDescendants(wp.client) },
        { role: 'inner', pids: () => withDescendants(wp.server) },
      ],
    },
  };
  for (const s of SETUPS) {
    const x = setups[s];
    for (const t of [x.twoHop, x.oneHop]) if (t) await check(t);
    for (const t of [x.twoHopH2, x.oneHopH2]) if (t) await h2check(t);
  }
  log('every setup answers 200 with 1 KB (HTTP/1.1 and h2c)');

  const results: Results = {
    date: today(),
    machine: m,
    config: CONFIG,
    quick: QUICK,
    meshProtocol:
      (MESH_H2 ? 'h2' : 'http/1.1 pools') + (WORKERS > 1 ? `; ${WORKERS} data-plane workers per proxy` : ''),
    pinning: PIN ? { ...CPU } : undefined,
    installed,
    phases: [],
    idle: [],
    latency: [],
    throughput: [],
    resources: [],
    handshakes: [],
    targets: [],
  };
  // Each phase records the load average when it starts and, when it ends, how busy each CPU was and how
  // much time the hypervisor stole: the context every number of that phase needs on a shared box.
  let phaseStart: CpuTimes | undefined;
  const endPhase = () => {
    const last = results.phases.at(-1);
    if (last && phaseStart) last.cpus = cpuShares(phaseStart, cpuTimes());
  };
  const phase = (name: string) => {
    endPhase();
    phaseStart = cpuTimes();
    results.phases.push({ name, at: new Date().toISOString(), loadavg1: os.loadavg()[0]! });
    log(`${name} (load average ${os.loadavg()[0]!.toFixed(2)})`);
  };

  // Scenario 4: resident memory of every proxy at rest (after a settle time), at start and after load.
  const idleMemory = async (when: 'start' | 'after load') => {
    phase(when === 'start' ? 'idle memory after start' : 'idle memory after load');
    await sleep(CONFIG.idleSettleS);
    for (const s of PROXY_SETUPS)
      for (const p of setups[s].proxies) {
        const x = sample(p.pids());
        results.idle.push({ setup: s, role: p.role, when, rssMB: x.rssMB, pssMB: x.pssMB, pids: p.pids() });
      }
  };

  // Scenario 4 (part): idle memory, before any load.
  await idleMemory('start');

  // Scenario 3: CPU and memory per proxy at fixed rates through the two hops. First, so that the memory
  // figures are those of a proxy that has seen only this load (the throughput runs grow buffers and pools).
  phase('resources: CPU and RSS per proxy at fixed rates');
  for (const rate of CONFIG.rates)
    for (const setup of PROXY_SETUPS) {
      const x = setups[setup];
      let a: ProcSample[] = [];
      let b: ProcSample[] = [];
      const r = await openLoop(x.twoHop, {
        connections: CONFIG.resourceConnections,
        rate,
        warmupS: CONFIG.resourceWarmupS,
        durationS: CONFIG.resourceS,
        onWindow: (edge) => {
          const s = x.proxies.map((p) => sample(p.pids()));
          if (edge === 'start') a = s;
          else b = s;
        },
      });
      const proxies = x.proxies.map((p, i) => ({
        role: p.role,
        cpuS: b[i]!.cpuS - a[i]!.cpuS,
        vcpu: vcpu(a[i]!, b[i]!),
        rssMB: b[i]!.rssMB,
        hwmMB: b[i]!.hwmMB,
        pssMB: b[i]!.pssMB,
      }));
      log(
        `  ${setup} ${rate} req/s: ${r.achievedRps.toFixed(0)} served; ` +
          proxies.map((p) => `${p.role} ${p.vcpu.toFixed(3)} vCPU ${p.rssMB.toFixed(1)} MB`).join(', '),
      );
      results.resources.push({
        setup,
        rate,
        achievedRps: r.achievedRps,
        errors: r.errors,
        p99: r.latency.p99,
        peakInflight: r.peakInflight,
        proxies,
      });
    }

  // Scenario 1: latency at a fixed rate, HTTP/1.1 then h2c. Setups interleaved per connection count and
  // round so slow drift (noisy neighbours) hits all of them; each setup's rounds are pooled.
  for (const proto of ['h1', 'h2'] as const) {
    phase(`latency: open loop ${CONFIG.rate} req/s, ${proto === 'h1' ? 'HTTP/1.1' : 'h2c'}`);
    for (const connections of CONFIG.connections) {
      const rounds = new Map<Setup, OpenLoopResult[]>();
      for (let round = 1; round <= CONFIG.latencyRounds; round++)
        for (const setup of SETUPS) {
          log(`  ${setup}, ${proto}, ${connections} conn × ${CONFIG.durationS} s, round ${round}`);
          const x = setups[setup];
          const t = proto === 'h1' ? x.twoHop : fromTool(x.twoHopH2);
          const r = await openLoop(t, {
            connections,
            rate: CONFIG.rate,
            warmupS: CONFIG.warmupS,
            durationS: CONFIG.durationS,
            protocol: proto,
            keepSamples: true,
          });
          rounds.set(setup, [...(rounds.get(setup) ?? []), r]);
        }
      for (const setup of SETUPS) results.latency.push({ setup, proto, ...poolRounds(rounds.get(setup)!) });
    }
  }

  // Scenario 2: maximum throughput, closed loop. Two hops (the mesh path) and one proxy without TLS.
  phase('throughput: wrk (HTTP/1.1) and h2load (h2c)');
  const tp = { warmupS: CONFIG.throughputWarmupS, durationS: CONFIG.throughputS, cpus: CPU.generator };
  const runTp = async (setup: Setup, hops: 0 | 1 | 2, proto: 'h1' | 'h2', r: Promise<ThroughputResult>) => {
    const x = await r;
    log(`  ${setup} ${hops} hop(s) ${proto}: ${x.rps.toFixed(0)} req/s, ${x.errors} errors`);
    results.throughput.push({ setup, hops, proto, ...x });
  };
  for (const setup of SETUPS) {
    const x = setups[setup];
    await runTp(
      setup,
      setup === 'direct' ? 0 : 2,
      'h1',
      wrk(tool(x.twoHop), { connections: CONFIG.wrkConnections, ...tp }),
    );
    if (x.oneHop)
      await runTp(setup, 1, 'h1', wrk(tool(x.oneHop), { connections: CONFIG.wrkConnections, ...tp }));
  }
  const h2o = { connections: CONFIG.h2Connections, streams: CONFIG.h2Streams, ...tp };
  for (const setup of SETUPS) {
    const x = setups[setup];
    await runTp(setup, setup === 'direct' ? 0 : 2, 'h2', h2load(x.twoHopH2, h2o));
    if (x.oneHopH2) await runTp(setup, 1, 'h2', h2load(x.oneHopH2, h2o));
  }

  // Scenario 4: new mTLS connections per second into the inner proxy, with its CPU time per handshake.
  phase('new mTLS connections per second (openssl s_time -new)');
  const weftCert = weftClientCert(dir, join(mesh.stateDir, 'ca'), 'default', 'client');
  const hsTargets: Record<ProxySetup, { port: number; cert: string; key: string }> = {
    nginx: { port: np.inner, cert: certs.clientCert, key: certs.clientKey },
    haproxy: { port: hp.inner, cert: certs.clientCert, key: certs.clientKey },
    weft: { port: mesh.inboundPorts[server]!, ...weftCert },
  };
  for (const setup of PROXY_SETUPS) {
    const t = hsTargets[setup];
    const inner = setups[setup].proxies.find((p) => p.role === 'inner')!;
    const a = sample(inner.pids());
    const h = await handshakes(t.port, t.cert, t.key, {
      parallel: CONFIG.handshakeParallel,
      durationS: CONFIG.handshakeS,
      cpus: CPU.generator,
    });
    const b = sample(inner.pids());
    const cpuS = b.cpuS - a.cpuS;
    log(
      `  ${setup}: ${h.perSecond.toFixed(0)} handshakes/s, inner proxy ${((cpuS * 1000) / Math.max(1, h.connections)).toFixed(2)} ms CPU each`,
    );
    results.handshakes.push({ setup, ...h, cpuS, vcpu: vcpu(a, b), rssMB: b.rssMB });
  }

  // Scenario 4 (rest): idle memory again, after all that traffic (heaps, pools and buffers have grown).
  await idleMemory('after load');
  endPhase();
  results.machine.loadavg1End = os.loadavg()[0]!;
  results.targets = evaluateTargets(results);

  await cleanup();
  await rm(dir, { recursive: true, force: true }); // only on success: a failed run keeps its logs

  const md = markdown(results);
  process.stdout.write(md);
  const out = join(PROJECT_ROOT, 'bench', 'results');
  const base = `${results.date}${SUFFIX}${PIN ? '' : '-nopin'}${QUICK ? '-quick' : ''}`;
  const svg = renderLatencyChart(results);
  if (QUICK) {
    // Smoke test: the chart goes to the temp dir only, nothing under bench/results.
    const tmp = join(os.tmpdir(), `weft-bench-quick-latency.svg`);
    await writeFile(tmp, svg);
    return log(`--quick: results not written (chart: ${tmp})`);
  }
  await mkdir(out, { recursive: true });
  await writeFile(join(out, `${base}.md`), md.replace('](CHART)', `](${base}-latency.svg)`));
  await writeFile(join(out, `${base}.json`), JSON.stringify(results, null, 2) + '\n');
  await writeFile(join(out, `${base}-latency.svg`), svg);
  log(`wrote bench/results/${base}.md, .json and -latency.svg`);
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await cleanup();
    process.exit(1);
  },
);
