// What telemetry costs: requests per second through two sidecars with everything on (Istio metrics,
// access logs, and tracing at Istio's default 1% exported over OTLP to a receiver) versus everything off.
// Issue 5's target: at most 15% lower with telemetry on.
//
// 1. In-process: what the tracing code costs per request in a proxy at 1% (and 100%) sampling, next to
//    the Istio metrics update, without the noise of a shared machine.
// 2. Fresh meshes: `weft up` with client -> backend (bench/lib/mesh.ts) started with telemetry off
//    (WEFT_PROXY_TELEMETRY=off: nothing subscribes to the request records, so none is even built) or on,
//    in alternating pairs; a closed loop of 16 connections into the client's outbound sidecar, then a
//    fixed 1,000 req/s; the proxies' CPU per request from /proc. Includes everything, but each mesh's
//    processes differ (which CPU, how far V8 compiled), so pairs scatter widely on a shared box.
// 3. One warm mesh switched between off, metrics + logs, and on with Telemetry resources, in rotation
//    (see `toggled`). Its 'off' still builds each request's record for the metrics subscriber (section 1
//    puts that at about a microsecond).
// 4. The steadiest figures on a shared box: where the sidecars' CPU goes at a fixed 1,000 req/s, sampled
//    by `perf` (Debian linux-perf; skipped without it) in one mesh switched between metrics + logs and
//    on, in alternating windows (see `perfWindows`): µs of CPU per request in tracing's frames, in the
//    metrics and access log frames, in handling request headers (undici, node:http: the trace headers
//    tracing adds to every request cost there, outside its own frames), GC, and the rest.
//
// Run: npm run bench:telemetry  (--quick: one short pair; --breakdown: adds metrics + logs without tracing)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startBackend } from './lib/backend.js';
import { PROJECT_ROOT, startMesh } from './lib/mesh.js';
import { closedLoop, openLoop, type ClosedLoopResult } from './lib/load.js';
import { ExportResultCode } from '@opentelemetry/core';
import type { ProxySnapshot } from '../src/model/snapshot.js';
import type { TracingSide } from '../src/model/tracing.js';
import { ProxyMetrics } from '../src/proxy/telemetry/metrics.js';
import { PRODUCTPAGE, record } from '../src/proxy/telemetry/testing.js';
import {
  injectServerSpan,
  startClientSpan,
  startServerSpan,
  Tracer,
} from '../src/proxy/telemetry/tracing.js';

const QUICK = process.argv.includes('--quick');
const DURATION_S = 6;
const ROUNDS = 5;
const BREAKDOWN = process.argv.includes('--breakdown'); // adds a run with metrics and logs but no tracing
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SAMPLING = 1; // percent, Istio's default

/** An OTLP/HTTP endpoint that accepts and counts export requests (the spans are not decoded: cheap). */
async function startReceiver(): Promise<{
  port: number;
  requests: () => number;
  bytes: () => number;
  stop(): Promise<void>;
}> {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => requests,
    bytes: () => bytes,
    stop: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

function tracingYaml(receiverPort: number): string {
  return `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  extensionProviders:
    - name: otel
      opentelemetry: { service: 127.0.0.1, port: ${receiverPort}, http: { path: /v1/traces } }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-default, namespace: istio-system }
spec:
  tracing:
    - providers: [{ name: otel }]
      randomSamplingPercentage: ${SAMPLING}
`;
}

function weft(args: string[], stateDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, '--state-dir', stateDir, ...args], {
      cwd: PROJECT_ROOT,
      stdio: 'inherit',
    });
    c.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`weft ${args.join(' ')} exited ${code}`)),
    );
  });
}

async function logBytes(stateDir: string): Promise<number> {
  const dir = join(stateDir, 'logs');
  let n = 0;
  for (const f of await readdir(dir).catch(() => [] as string[]))
    if (f.includes('proxy')) n += (await stat(join(dir, f))).size;
  return n;
}

type Mode = 'off' | 'on' | 'no-tracing';

/** CPU seconds (user + system) the mesh's proxy processes have used so far, from /proc (Linux). */
async function proxyCpuSeconds(stateDir: string): Promise<number> {
  const { instances } = JSON.parse(await readFile(join(stateDir, 'instances.json'), 'utf8')) as {
    instances: Array<{ proxyPid?: number }>;
  };
  let ticks = 0;
  for (const { proxyPid } of instances) {
    if (!proxyPid) continue;
    const stat = await readFile(`/proc/${proxyPid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0); // utime, stime (fields 14 and 15)
  }
  return ticks / 100; // USER_HZ
}

interface Run {
  mode: Mode;
  result: ClosedLoopResult;
  /** Proxy CPU per request in the measured window, in µs: what telemetry adds, whatever else runs. */
  cpuUsPerRequest: number;
  exportRequests: number;
  logBytes: number;
  /** Proxy CPU per request at a fixed FIXED_RATE req/s, in µs. */
  fixedRateCpuUs: number;
}

const FIXED_RATE = 1000;

/** Proxy CPU per request (µs, both sidecars) at FIXED_RATE req/s over 16 connections, after 1 s. */
async function cpuAtFixedRate(
  target: { origin: string; host: string; path: string },
  stateDir: string,
  durationS: number,
): Promise<{ cpuUs: number; errors: number }> {
  let start: Promise<number> | undefined;
  const r = await openLoop(target, {
    connections: 16,
    rate: FIXED_RATE,
    warmupS: 1,
    durationS,
    onWindow: (edge) => {
      if (edge === 'start') start = proxyCpuSeconds(stateDir);
    },
  });
  const cpu = (await proxyCpuSeconds(stateDir)) - (await start!);
  return { cpuUs: (cpu * 1e6) / Math.max(1, r.ok), errors: r.errors };
}

async function measure(
  mode: Mode,
  backendPort: number,
  receiver: Awaited<ReturnType<typeof startReceiver>>,
): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), `weft-bench-telemetry-${mode}-`));
  if (mode === 'off') process.env.WEFT_PROXY_TELEMETRY = 'off';
  else delete process.env.WEFT_PROXY_TELEMETRY;
  const mesh = await startMesh(dir, backendPort);
  delete process.env.WEFT_PROXY_TELEMETRY;
  try {
    if (mode === 'on') {
      const file = join(dir, 'tracing.yaml');
      await writeFile(file, tracingYaml(receiver.port));
      await weft(['apply', '-f', file], mesh.stateDir);
      await new Promise((r) => setTimeout(r, 2_000)); // the push is debounced; let the proxies ACK
    }
    const target = {
      origin: `http://127.0.0.1:${mesh.outboundPort}`,
      host: `backend:${backendPort}`,
      path: '/bench',
    };
    const exportsBefore = receiver.requests();
    const logsBefore = await logBytes(mesh.stateDir);
    // A long warm-up: V8 compiles the telemetry code paths in the first seconds of traffic.
    const load = { connections: 16, warmupS: QUICK ? 3 : 5, durationS: QUICK ? 4 : DURATION_S };
    // CPU is sampled at the start and end of the measured window (after the warm-up).
    const cpuStart = new Promise<number>((resolve) =>
      setTimeout(() => void proxyCpuSeconds(mesh.stateDir).then(resolve), load.warmupS * 1000),
    );
    const result = await closedLoop(target, load);
    const cpu = (await proxyCpuSeconds(mesh.stateDir)) - (await cpuStart);
    await new Promise((r) => setTimeout(r, 1_500)); // the last batch of spans
    if (result.errors > 0) throw new Error(`${result.errors} errors with telemetry ${mode}`);
    const fixed = await cpuAtFixedRate(target, mesh.stateDir, QUICK ? 3 : 6);
    if (fixed.errors > 0)
      throw new Error(`${fixed.errors} errors with telemetry ${mode} at ${FIXED_RATE} req/s`);
    return {
      fixedRateCpuUs: fixed.cpuUs,
      mode,
      result,
      cpuUsPerRequest: (cpu * 1e6) / Math.max(1, result.ok),
      exportRequests: receiver.requests() - exportsBefore,
      logBytes: (await logBytes(mesh.stateDir)) - logsBefore,
    };
  } finally {
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** ns per call of `fn`, after a warm-up, best of three runs. */
function nsPer(fn: (i: number) => void, n = 300_000): number {
  for (let i = 0; i < n / 5; i++) fn(i);
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  return best;
}

/** The tracing code's own cost per request (client side + server side), and the metrics update's. */
function inProcess(): void {
  const side = (samplingPercentage: number): TracingSide => ({
    samplingPercentage,
    istioTags: true,
    customTags: [],
    provider: {
      name: 'otel',
      kind: 'opentelemetry',
      host: '127.0.0.1',
      port: 4318,
      path: '/v1/traces',
      timeoutMs: 1000,
      headers: [],
      maxTagLength: 256,
    },
  });
  const snapshot = (pct: number) =>
    ({
      version: 'v1',
      proxy: PRODUCTPAGE,
      tracing: { client: side(pct), server: side(pct), meshId: 'cluster.local', clusterId: 'Kubernetes' },
    }) as unknown as ProxySnapshot;
  let snap = snapshot(SAMPLING);
  let exported = 0;
  const tracer = new Tracer({
    snapshot: () => snap,
    exporter: () => ({
      export: (spans, cb) => {
        exported += spans.length;
        cb({ code: ExportResultCode.SUCCESS });
      },
      shutdown: () => Promise.resolve(),
    }),
    queue: { scheduledDelayMs: 60_000 }, // exports never run inside the timed loops
  });
  tracer.start();
  const perRequest = () => {
    // What one request through two sidecars costs in tracing code: the client span at the outbound
    // listener (context, headers, record) and the server span at the inbound one.
    const incoming = { host: 'reviews:9080', 'user-agent': 'bench' };
    const upstream: Record<string, string> = { host: 'reviews:9080', 'x-request-id': 'r' };
    startClientSpan({ headers: incoming }, upstream);
    tracer.record(record({ requestHeaders: incoming }));
    const server = startServerSpan(upstream, '127.0.0.1');
    // Copied key by key, as the inbound listener does (http/headers.ts endToEnd): a spread copy that then
    // gets a new key (x-b3-parentspanid) is ~1.7 µs slower in V8, which is the benchmark's, not the proxy's.
    const toApp: Record<string, string> = {};
    for (const k in upstream) toApp[k] = upstream[k]!;
    if (server) injectServerSpan(toApp, server, 9080);
    tracer.record(
      record({ reporter: 'destination', listener: 'inbound', requestHeaders: upstream, trace: server! }),
    );
  };
  const baseline = nsPer(() => {
    record({ requestHeaders: {} });
    record({ requestHeaders: {} });
  });
  const at1 = nsPer(perRequest) - baseline;
  snap = snapshot(100);
  const at100 = nsPer(perRequest, 50_000) - baseline;
  void tracer.stop(0);
  const metrics = new ProxyMetrics({ state: () => undefined });
  const r = record({ requestHeaders: {} });
  const metricsNs = nsPer(() => metrics.record(r));
  console.log('In-process, per request through two sidecars (client span + server span), CPU time:');
  console.log(`  tracing at ${SAMPLING}%:   ${(at1 / 1000).toFixed(2)} µs`);
  console.log(
    `  tracing at 100%: ${(at100 / 1000).toFixed(2)} µs (every span built; the queue fills and drops, as under overload)`,
  );
  console.log(`  Istio metrics:   ${((2 * metricsNs) / 1000).toFixed(2)} µs (one record per sidecar)`);
  void exported;
}

/** Telemetry settings a running mesh is switched between (Telemetry API, no restart). */
type Variant = 'off' | 'metrics+logs' | 'on';
const VARIANTS: Variant[] = ['off', 'metrics+logs', 'on'];

function variantYaml(v: Variant, receiverPort: number): string {
  if (v === 'on') return tracingYaml(receiverPort); // metrics and Weft's access log line are on by default
  // off: no access log, every Istio metric disabled, no tracing. What is left of telemetry is the request
  // record each proxy still builds for the metrics subscriber, which then returns at once.
  return `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-default, namespace: istio-system }
spec:
${v === 'off' ? '  accessLogging: [{ disabled: true }]\n  metrics: [{ overrides: [{ match: { metric: ALL_METRICS }, disabled: true }] }]\n' : '  accessLogging: [{}]\n'}`;
}

interface Window {
  variant: Variant;
  rps: number;
  /** proxy CPU per request (both sidecars), µs: closed loop, then at FIXED_RATE */
  cpu: number;
  fixedCpu: number;
}

/**
 * The headline: one mesh switched between telemetry off, metrics + logs, and on (plus 1% tracing) by
 * applying Telemetry resources, in rotation: the same processes, already warm, in adjacent windows. On a
 * shared box this is far steadier than comparing separate meshes (section 2), whose processes differ in
 * where they run and how far V8 has compiled them.
 */
async function toggled(
  backendPort: number,
  receiver: Awaited<ReturnType<typeof startReceiver>>,
): Promise<Window[]> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-telemetry-toggle-'));
  const mesh = await startMesh(dir, backendPort);
  const file = join(dir, 'telemetry.yaml');
  const target = {
    origin: `http://127.0.0.1:${mesh.outboundPort}`,
    host: `backend:${backendPort}`,
    path: '/bench',
  };
  const switchTo = async (v: Variant) => {
    await writeFile(file, variantYaml(v, receiver.port));
    await weft(['apply', '-f', file], mesh.stateDir);
    await new Promise((r) => setTimeout(r, 1_500)); // debounced push, ACK
  };
  const out: Window[] = [];
  try {
    // Warm-up, not measured, with everything on: V8 compiles the telemetry code paths in the first
    // seconds of traffic, which is start-up, not steady state.
    await switchTo('on');
    await closedLoop(target, { connections: 16, warmupS: 0, durationS: QUICK ? 3 : 6 });
    const rounds = QUICK ? 1 : 4;
    for (let round = 0; round < rounds; round++) {
      // Each round in a different order, so no variant always follows the same one.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
      for (const variant of order) {
        await switchTo(variant);
        const before = await proxyCpuSeconds(mesh.stateDir);
        const r = await closedLoop(target, { connections: 16, warmupS: 0, durationS: QUICK ? 3 : 5 });
        const cpu = ((await proxyCpuSeconds(mesh.stateDir)) - before) * 1e6;
        const f = await cpuAtFixedRate(target, mesh.stateDir, QUICK ? 3 : 5);
        if (r.errors > 0 || f.errors > 0) throw new Error(`errors with telemetry ${variant}`);
        const w = {
          variant,
          rps: r.rps,
          cpu: cpu / Math.max(1, r.ok),
          fixedCpu: f.cpuUs,
        };
        out.push(w);
        console.error(
          `round ${round + 1}, ${variant}: ${Math.round(w.rps)} req/s, proxy CPU ${w.cpu.toFixed(0)} µs/request; at ${FIXED_RATE} req/s ${w.fixedCpu.toFixed(0)} µs/request`,
        );
      }
    }
  } finally {
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

function reportToggled(windows: Window[]): void {
  const med = (v: Variant, f: (w: Window) => number) => median(windows.filter((w) => w.variant === v).map(f));
  // Ratios per round: each variant against the 'off' window of the same round.
  const rounds = windows.length / VARIANTS.length;
  const ratio = (v: Variant, f: (w: Window) => number) =>
    median(
      Array.from({ length: rounds }, (_, i) => {
        const round = windows.slice(i * VARIANTS.length, (i + 1) * VARIANTS.length);
        return f(round.find((w) => w.variant === v)!) / f(round.find((w) => w.variant === 'off')!);
      }),
    );
  console.log(
    `\nOne mesh switched between settings (${rounds} rounds; closed loop of 16 connections, then ${FIXED_RATE} req/s; medians, and ratios to 'off' within each round):`,
  );
  for (const v of VARIANTS) {
    const rel =
      v === 'off'
        ? ''
        : ` (× off: ${ratio(v, (w) => w.rps).toFixed(3)} req/s, ${ratio(v, (w) => w.cpu).toFixed(3)} CPU; at ${FIXED_RATE} req/s ${ratio(v, (w) => w.fixedCpu).toFixed(3)} CPU)`;
    console.log(
      `  ${v.padEnd(13)} ${Math.round(med(v, (w) => w.rps))} req/s, proxy CPU ${med(v, (w) => w.cpu).toFixed(0)} µs/request; at ${FIXED_RATE} req/s ${med(v, (w) => w.fixedCpu).toFixed(0)} µs/request${rel}`,
    );
  }
  const r = ratio('on', (w) => w.rps);
  console.log(
    `  on vs off: ${Math.abs((1 - r) * 100).toFixed(1)}% ${r <= 1 ? 'lower' : 'higher'} throughput (target: at most 15% lower); CPU per request at ${FIXED_RATE} req/s × ${ratio('on', (w) => w.fixedCpu).toFixed(3)}`,
  );
}

/** Stack frames that are telemetry: the record builders (outbound onDone, inbound logLine) and everything
 *  they publish to, the span starts, the access log flush, the exporters. Names as --perf-basic-prof
 *  writes them (`JS:*onDone file:///…/listeners/outbound.js:…`). */
const TELEMETRY_FRAME =
  /\/proxy\/telemetry\/|JS:[*~^]?onDone [^ ]*\/listeners\/outbound\.js|JS:[*~^]?logLine [^ ]*\/listeners\/inbound-http\.js|@opentelemetry/;
/** Of those, tracing's: context and span starts, span building, the export queue and the exporters. */
const TRACING_FRAME =
  /trace-context\.js|\/telemetry\/tracing\.js|\/telemetry\/span\.js|tracing-export\.js|@opentelemetry/;
/** The nearest JavaScript frame handles a request's headers: undici building the request it sends
 *  (`Request`, `processHeader`), node:http turning the parsed header lines into `req.headers`. */
const HEADER_FRAME =
  /JS:[*~^]?(processHeader|Request) [^ ]*undici\/lib\/core\/request\.js|JS:[*~^]?(get|_addHeaderLines?|matchKnownFields) node:_http_incoming|JS:[*~^]?parserOnHeadersComplete /;
const GC_LEAF = /Scaveng|GarbageColl|MarkCompact|ConcurrentMarking|Heap::|Sweeper|MinorMC|Evacuat/;

const PERF_CATEGORIES = ['tracing', 'metrics + logs', 'request headers', 'GC', 'the rest'] as const;
type PerfCategory = (typeof PERF_CATEGORIES)[number];

/** One sample's stack (leaf first, one frame a line) -> where its CPU went. */
function perfCategory(stack: string): PerfCategory {
  const frames = stack.split('\n');
  if (GC_LEAF.test(frames[0] ?? '')) return 'GC';
  if (TELEMETRY_FRAME.test(stack)) return TRACING_FRAME.test(stack) ? 'tracing' : 'metrics + logs';
  const js = frames.find((f) => f.includes('JS:'));
  if (js && HEADER_FRAME.test(js)) return 'request headers';
  return 'the rest';
}

/**
 * The names of JIT-compiled code as a proxy's `--perf-basic-prof` map says at the end of a window, newest
 * entry winning where entries overlap. V8 reuses code space, so the map (append-only) holds stale names
 * for reused addresses, and `perf script`'s own lookup may pick them: in a window with tracing off, code
 * that once was a span start could still be named so. Each address is looked up again here.
 */
class JitNames {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly names: string[] = [];

  constructor(map: string) {
    for (const line of map.split('\n')) {
      const a = line.indexOf(' ');
      const b = line.indexOf(' ', a + 1);
      if (a < 0 || b < 0) continue;
      const start = parseInt(line.slice(0, a), 16);
      this.paint(start, start + parseInt(line.slice(a + 1, b), 16), line.slice(b + 1));
    }
  }

  /** Index of the last segment starting at or before `x`, -1 when none. */
  private floor(x: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** [start, end) is `name` now: what it overlaps of older entries is cut away. */
  private paint(start: number, end: number, name: string): void {
    const { starts, ends, names } = this;
    let i = this.floor(start);
    if (i >= 0 && ends[i]! > start) {
      if (ends[i]! > end) {
        starts.splice(i + 1, 0, end);
        ends.splice(i + 1, 0, ends[i]!);
        names.splice(i + 1, 0, names[i]!);
      }
      ends[i] = start;
    }
    i = this.floor(start - 1) + 1; // the first segment starting at or after `start`
    let k = i;
    while (k < starts.length && starts[k]! < end) {
      if (ends[k]! > end) {
        starts[k] = end;
        break;
      }
      k++;
    }
    starts.splice(i, k - i, start);
    ends.splice(i, k - i, end);
    names.splice(i, k - i, name);
  }

  lookup(ip: number): string | undefined {
    const i = this.floor(ip);
    return i >= 0 && ip < this.ends[i]! ? this.names[i] : undefined;
  }
}

/** `perf script -F pid,ip,sym` output -> one stack per sample (leaf first), JS frames named again. */
function perfStacks(script: string, maps: Map<number, JitNames>): string[] {
  const stacks: string[] = [];
  // One block per sample: "pid" and then its stack, one frame per line; blocks separated by blank lines.
  for (const block of script.split(/\n\s*\n/)) {
    const lines = block.trim().split('\n');
    if (lines.length < 2) continue;
    const names = maps.get(Number(lines[0]!.trim()));
    const frames = lines.slice(1).map((l) => {
      const f = l.trim();
      if (!names || !(f.includes('JS:') || f.includes('[unknown]'))) return f;
      const ip = f.slice(0, f.indexOf(' '));
      const name = names.lookup(parseInt(ip, 16));
      return name ? `${ip} ${name}` : f;
    });
    stacks.push(frames.join('\n'));
  }
  return stacks;
}

interface PerfWindow {
  variant: Variant;
  requests: number;
  samples: number;
  by: Record<PerfCategory, number>;
}

/**
 * Where the sidecars' CPU goes, by `perf` at FIXED_RATE req/s, in one mesh switched between metrics + logs
 * and on (1% tracing as well), in alternating windows: samples per request by category. Tracing costs
 * more than its own frames: the trace headers it adds to every request are serialized by undici and
 * parsed by node:http at each hop, which the 'request headers' row shows.
 */
async function perfWindows(
  backendPort: number,
  receiver: Awaited<ReturnType<typeof startReceiver>>,
): Promise<PerfWindow[] | string> {
  if (spawnSync('perf', ['--version']).status !== 0)
    return 'perf is not installed (Debian: apt-get install linux-perf): skipped';
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-telemetry-perf-'));
  process.env.WEFT_PROXY_NODE_ARGS = '--perf-basic-prof-only-functions'; // JS frames get names
  const mesh = await startMesh(dir, backendPort).finally(() => delete process.env.WEFT_PROXY_NODE_ARGS);
  const out: PerfWindow[] = [];
  try {
    const file = join(dir, 'telemetry.yaml');
    const switchTo = async (v: Variant) => {
      await writeFile(file, variantYaml(v, receiver.port));
      await weft(['apply', '-f', file], mesh.stateDir);
      await new Promise((r) => setTimeout(r, 1_500));
    };
    const target = {
      origin: `http://127.0.0.1:${mesh.outboundPort}`,
      host: `backend:${backendPort}`,
      path: '/bench',
    };
    await switchTo('on');
    await openLoop(target, { connections: 16, rate: 2 * FIXED_RATE, warmupS: 0, durationS: QUICK ? 3 : 6 });
    const { instances } = JSON.parse(await readFile(join(mesh.stateDir, 'instances.json'), 'utf8')) as {
      instances: Array<{ id: string; proxyPid?: number }>;
    };
    // The two sidecars (not the ingress gateway, which this traffic does not cross).
    const pids = instances.flatMap((i) => (i.proxyPid && !i.id.includes('gateway') ? [i.proxyPid] : []));
    const rounds = QUICK ? 1 : 5;
    for (let round = 0; round < rounds; round++) {
      for (const variant of (round % 2 ? ['on', 'metrics+logs'] : ['metrics+logs', 'on']) as Variant[]) {
        await switchTo(variant);
        const data = join(dir, `perf-${round}-${variant.replace('+', '-')}.data`);
        let perf: ReturnType<typeof spawn> | undefined;
        let stopped: Promise<unknown> = Promise.resolve();
        let maps: Promise<Map<number, JitNames>> = Promise.resolve(new Map());
        const r = await openLoop(target, {
          connections: 16,
          rate: FIXED_RATE,
          warmupS: 1,
          durationS: QUICK ? 4 : 6,
          onWindow: (edge) => {
            if (edge === 'start') {
              perf = spawn('perf', ['record', '-F', '999', '-g', '-o', data, '-p', pids.join(',')], {
                stdio: 'ignore',
              });
              stopped = new Promise((resolve) => perf!.once('exit', resolve));
            } else {
              perf?.kill('SIGINT');
              maps = Promise.all(
                pids.map(
                  async (p) => [p, new JitNames(await readFile(`/tmp/perf-${p}.map`, 'utf8'))] as const,
                ),
              ).then((m) => new Map(m));
            }
          },
        });
        await stopped;
        if (r.errors > 0) throw new Error(`${r.errors} errors with telemetry ${variant} under perf`);
        const script = spawnSync('perf', ['script', '-i', data, '-F', 'pid,ip,sym'], {
          encoding: 'utf8',
          maxBuffer: 1 << 30,
        });
        const w: PerfWindow = {
          variant,
          requests: r.ok,
          samples: 0,
          by: Object.fromEntries(PERF_CATEGORIES.map((c) => [c, 0])) as Record<PerfCategory, number>,
        };
        for (const stack of perfStacks(script.stdout, await maps)) {
          w.samples++;
          w.by[perfCategory(stack)]++;
        }
        out.push(w);
        console.error(
          `perf round ${round + 1}, ${variant}: ${w.samples} samples for ${w.requests} requests (${((1000 * w.samples) / Math.max(1, w.requests)).toFixed(0)} per 1,000)`,
        );
      }
    }
    return out;
  } finally {
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function reportPerf(windows: PerfWindow[] | string): void {
  console.log(
    `\nWhere the two sidecars' CPU goes at ${FIXED_RATE} req/s (perf, cpu-clock at 999 Hz; one mesh, metrics + logs and on in alternating windows):`,
  );
  if (typeof windows === 'string') {
    console.log(`  ${windows}`);
    return;
  }
  // Samples per request ≈ µs of CPU per request (one sample per ~1 ms of CPU), as means over windows,
  // and the mean of the per-round differences.
  const per = (w: PerfWindow, c?: PerfCategory) =>
    (1000 * (c ? w.by[c] : w.samples)) / Math.max(1, w.requests);
  const of = (v: Variant) => windows.filter((w) => w.variant === v);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const ml = of('metrics+logs');
  const on = of('on');
  const row = (label: string, c?: PerfCategory) => {
    const a = mean(ml.map((w) => per(w, c)));
    const b = mean(on.map((w) => per(w, c)));
    const d = mean(on.map((w, i) => per(w, c) - (ml[i] ? per(ml[i], c) : 0)));
    console.log(
      `  ${label.padEnd(38)}${a.toFixed(1).padStart(8)}${b.toFixed(1).padStart(8)}${d.toFixed(1).padStart(9)}`,
    );
  };
  console.log(
    `  ${'µs of CPU per request, both sidecars'.padEnd(38)}${'m+logs'.padStart(8)}${'on'.padStart(8)}${'on − m+l'.padStart(9)}`,
  );
  row('all');
  row('tracing frames', 'tracing');
  row('metrics and access log frames', 'metrics + logs');
  row('request headers (undici, node:http)', 'request headers');
  row('GC', 'GC');
  row('the rest', 'the rest');
  const samples = on.reduce((n, w) => n + w.samples, 0);
  const telemetry = on.reduce((n, w) => n + w.by.tracing + w.by['metrics + logs'], 0);
  const pct = (100 * telemetry) / Math.max(1, samples);
  console.log(
    `  with everything on, ${pct.toFixed(1)}% of ${samples} samples have a telemetry frame on the stack ` +
      `(a lower bound: it leaves out the trace headers' parsing and serialization, the 'request headers' row)`,
  );
}

async function main(): Promise<void> {
  inProcess();
  const modes: Mode[] = BREAKDOWN ? ['off', 'no-tracing', 'on'] : ['off', 'on'];
  const receiver = await startReceiver();
  const backend = await startBackend();
  const rounds: Run[][] = [];
  let windows: Window[] = [];
  let perfRun: Awaited<ReturnType<typeof perfWindows>> = 'not run';
  try {
    perfRun = await perfWindows(backend.port, receiver);
    windows = await toggled(backend.port, receiver);
    for (let round = 0; round < (QUICK ? 1 : ROUNDS); round++) {
      const runs: Run[] = [];
      // Alternate which goes first, so neither always runs on the warmer (or busier) side of a pair.
      for (const mode of round % 2 ? [...modes].reverse() : modes) {
        const r = await measure(mode, backend.port, receiver);
        runs.push(r);
        console.error(
          `round ${round + 1}, telemetry ${mode}: ${Math.round(r.result.rps)} req/s, p50 ${r.result.latency.p50.toFixed(2)} ms, p99 ${r.result.latency.p99.toFixed(2)} ms, proxy CPU ${r.cpuUsPerRequest.toFixed(0)} µs/request; at ${FIXED_RATE} req/s ${r.fixedRateCpuUs.toFixed(0)} µs/request`,
        );
      }
      rounds.push(runs);
    }
  } finally {
    await backend.stop();
    await receiver.stop();
  }
  const all = rounds.flat();
  const of = (mode: Mode) => all.filter((r) => r.mode === mode);
  const get = (runs: Run[], mode: Mode) => runs.find((r) => r.mode === mode)!;
  const rps = (mode: Mode) => median(of(mode).map((r) => r.result.rps));
  const p99 = (mode: Mode) => median(of(mode).map((r) => r.result.latency.p99));
  const cpu = (mode: Mode) => median(of(mode).map((r) => r.cpuUsPerRequest));
  const pairRatio = (mode: Mode, f: (r: Run) => number) =>
    median(rounds.map((runs) => f(get(runs, mode)) / f(get(runs, 'off'))));
  const ratio = pairRatio('on', (r) => r.result.rps);
  const cpuRatio = pairRatio('on', (r) => r.cpuUsPerRequest);
  const on = of('on');
  const requestsOn = on.reduce((n, r) => n + r.result.ok, 0);
  const line = (label: string, mode: Mode, note = '') =>
    console.log(
      `  ${label.padEnd(16)}${Math.round(rps(mode))} req/s, p99 ${p99(mode).toFixed(2)} ms, proxy CPU ${cpu(mode).toFixed(0)} µs/request${note}`,
    );
  console.log(
    `\nThrough two sidecars (closed loop, 16 connections, ${QUICK ? 4 : DURATION_S} s per run, ${rounds.length} pairs, medians):`,
  );
  line('telemetry off:', 'off');
  if (BREAKDOWN)
    line(
      'metrics + logs:',
      'no-tracing',
      `  (pair ratio ${pairRatio('no-tracing', (r) => r.result.rps).toFixed(3)} req/s, ${pairRatio('no-tracing', (r) => r.cpuUsPerRequest).toFixed(3)} CPU)`,
    );
  line('telemetry on:', 'on', `  (Istio metrics, access logs, tracing at ${SAMPLING}% over OTLP)`);
  console.log(
    `  on/off, median of pair ratios: ${ratio.toFixed(3)} req/s (${Math.abs((1 - ratio) * 100).toFixed(1)}% ${ratio <= 1 ? 'lower' : 'higher, within the noise'}; target: at most 15% lower), ` +
      `${cpuRatio.toFixed(3)} proxy CPU per request`,
  );
  const fixedRatio = pairRatio('on', (r) => r.fixedRateCpuUs);
  const fixedMedian = (mode: Mode) => median(of(mode).map((r) => r.fixedRateCpuUs));
  console.log(
    `\nAt a fixed ${FIXED_RATE} req/s (open loop, 16 connections), proxy CPU per request (both sidecars), medians:`,
  );
  console.log(`  telemetry off:  ${fixedMedian('off').toFixed(0)} µs`);
  if (BREAKDOWN)
    console.log(
      `  metrics + logs: ${fixedMedian('no-tracing').toFixed(0)} µs (pair ratio ${pairRatio('no-tracing', (r) => r.fixedRateCpuUs).toFixed(3)})`,
    );
  console.log(
    `  telemetry on:   ${fixedMedian('on').toFixed(0)} µs (pair ratio ${fixedRatio.toFixed(3)}: CPU-bound throughput ${((1 - 1 / fixedRatio) * 100).toFixed(1)}% lower; target: at most 15%)`,
  );
  console.log(
    `  pairs (off → on): ${rounds.map((runs) => `${get(runs, 'off').fixedRateCpuUs.toFixed(0)} → ${get(runs, 'on').fixedRateCpuUs.toFixed(0)}`).join(', ')}`,
  );
  reportToggled(windows);
  reportPerf(perfRun);
  console.log(
    `  with telemetry on: ${on.reduce((n, r) => n + r.exportRequests, 0)} OTLP export requests for ${requestsOn} requests, ` +
      `${(on.reduce((n, r) => n + r.logBytes, 0) / 1024).toFixed(0)} KiB of proxy logs; off: ${of('off').reduce((n, r) => n + r.logBytes, 0)} bytes`,
  );
}

await main();
