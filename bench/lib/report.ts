// Turns the suite's results into the markdown report (stdout + bench/results/<date>.md): ratios to direct
// for every setup, weft against nginx, and the issue's targets met or not with the numbers behind them.
// Latencies are ms, memory MB (10^6 bytes), CPU in vCPU (CPU seconds per wall-clock second).
import os from 'node:os';
import type { ThroughputResult } from './closed.js';
import type { HandshakeResult } from './handshake.js';
import type { OpenLoopResult } from './load.js';

export type Setup = 'direct' | 'nginx' | 'haproxy' | 'weft';
export type ProxySetup = Exclude<Setup, 'direct'>;

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  os: string;
  memGiB: number;
  loadavg1: number; // at start: other work on the box skews everything
  loadavg1End?: number;
  weft: string;
  tools?: Record<string, string>;
}

export interface Results {
  date: string;
  machine: Machine;
  config: {
    bodyBytes: number;
    rate: number;
    connections: number[];
    warmupS: number;
    durationS: number;
    /** Rounds per setup, pooled (absent in results from before rounds: one). */
    latencyRounds?: number;
    wrkConnections: number;
    h2Connections: number;
    h2Streams: number;
    throughputWarmupS: number;
    throughputS: number;
    rates: number[];
    resourceConnections: number;
    resourceWarmupS: number;
    resourceS: number;
    idleSettleS: number;
    handshakeParallel: number;
    handshakeS: number;
  };
  quick: boolean;
  meshProtocol: string;
  pinning?: Record<string, string | undefined>;
  installed: string[];
  /** cpus: per CPU, the share of the phase's wall time it was busy (anyone) and stolen by the hypervisor. */
  phases: Array<{
    name: string;
    at: string;
    loadavg1: number;
    cpus?: Array<{ busy: number; steal: number }>;
  }>;
  idle: Array<{
    setup: ProxySetup;
    role: Role;
    when: 'start' | 'after load';
    rssMB: number;
    pssMB: number;
    pids: number[];
  }>;
  latency: Array<{ setup: Setup; proto: 'h1' | 'h2' } & OpenLoopResult>;
  /** hops: 0 = direct, 1 = one proxy without TLS, 2 = the two hops with mTLS. */
  throughput: Array<{ setup: Setup; hops: 0 | 1 | 2; proto: 'h1' | 'h2' } & ThroughputResult>;
  resources: Array<{
    setup: ProxySetup;
    rate: number;
    achievedRps: number;
    errors: number;
    p99: number;
    peakInflight: number;
    proxies: Array<{ role: Role; cpuS: number; vcpu: number; rssMB: number; hwmMB: number; pssMB: number }>;
  }>;
  handshakes: Array<{ setup: ProxySetup; cpuS: number; vcpu: number; rssMB: number } & HandshakeResult>;
  targets: Target[];
}

export type Role = 'outer' | 'inner';

export interface Target {
  name: string;
  goal: string;
  weft: string;
  reference: string;
  met: boolean | undefined; // undefined: could not be evaluated
  note?: string;
}

export function machine(weftVersion: string): Machine {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg1: os.loadavg()[0]!,
    weft: weftVersion,
  };
}

/**
 * Overloaded, at least for a while: it served under 98% of the offered rate, or a backlog of 100+
 * requests built up, or requests failed. Then the latency measures time spent waiting in that queue,
 * not the cost of one request.
 */
export const saturated = (o: { achievedRps: number; rate: number; peakInflight: number; errors: number }) =>
  o.achievedRps < 0.98 * o.rate || o.peakInflight >= 100 || o.errors > 0;

type Pct = 'p50' | 'p90' | 'p99' | 'max';
const PCTS: Pct[] = ['p50', 'p90', 'p99', 'max'];

/** Latency added over direct at the same connection count, per percentile (ms). */
export function added(
  r: Results,
  setup: Setup,
  connections: number,
  proto: 'h1' | 'h2' = 'h1',
): Record<Pct, number> | undefined {
  const d = lat(r, 'direct', connections, proto);
  const s = lat(r, setup, connections, proto);
  if (!d || !s) return undefined;
  return Object.fromEntries(PCTS.map((p) => [p, s.latency[p] - d.latency[p]])) as Record<Pct, number>;
}

/**
 * Added p99 (ms) round by round: each round of `setup` less the same round of direct. Rounds run
 * interleaved (direct, nginx, HAProxy, weft; then again), so a noisy moment spoils one round of one
 * setup; the median of three is the round that noise did not pick. Undefined without rounds.
 */
export function roundAddedP99(r: Results, setup: Setup, connections: number): number[] | undefined {
  const d = lat(r, 'direct', connections)?.roundP99;
  const s = lat(r, setup, connections)?.roundP99;
  if (!d || !s || d.length !== s.length || s.length < 3) return undefined;
  return s.map((p, i) => p - d[i]!);
}

export function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

export const lat = (r: Results, setup: Setup, connections: number, proto: 'h1' | 'h2' = 'h1') =>
  r.latency.find((x) => x.setup === setup && x.connections === connections && (x.proto ?? 'h1') === proto);

const tput = (r: Results, setup: Setup, hops: number, proto: 'h1' | 'h2') =>
  r.throughput.find((x) => x.setup === setup && x.hops === hops && x.proto === proto);

const roundsText = (c: Results['config']) =>
  (c.latencyRounds ?? 1) > 1
    ? `${c.latencyRounds} rounds of ${c.durationS} s per setup, each after ${c.warmupS} s warm-up, interleaved with the other setups; percentiles over all rounds' requests`
    : `${c.durationS} s after ${c.warmupS} s warm-up`;

const f = (n: number | undefined, d = 2) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : '-');
const sg = (n: number, d = 3) => (n >= 0 ? `+${f(n, d)}` : f(n, d));
const x2 = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? `${n.toFixed(2)}×` : '-');

export function evaluateTargets(r: Results): Target[] {
  const out: Target[] = [];
  // 1. Added p99 at 1,000 req/s through two hops: weft at most 1.5 × nginx, per connection count.
  for (const c of r.config.connections) {
    const w = added(r, 'weft', c);
    const n = added(r, 'nginx', c);
    const wl = lat(r, 'weft', c);
    if (!w || !n || !wl) continue;
    // Judged on the median round when there are rounds (see roundAddedP99), else on all requests.
    const wr = roundAddedP99(r, 'weft', c);
    const nr = roundAddedP99(r, 'nginx', c);
    const byRound = wr !== undefined && nr !== undefined;
    const wp = byRound ? median(wr) : w.p99;
    const np = byRound ? median(nr) : n.p99;
    const limit = 1.5 * Math.max(np, 0);
    out.push({
      name: `added p99, ${r.config.rate} req/s, ${c} conn${c > 1 ? 's' : ''}`,
      goal: byRound ? '≤ 1.5 × nginx (median round)' : '≤ 1.5 × nginx',
      weft: byRound
        ? `${sg(wp)} ms (rounds ${wr.map((x) => sg(x, 2)).join(' / ')}; all requests ${sg(w.p99)})`
        : `${sg(w.p99)} ms`,
      reference:
        (byRound
          ? `nginx ${sg(np)} ms (rounds ${nr.map((x) => sg(x, 2)).join(' / ')}; all requests ${sg(n.p99)})`
          : `nginx ${sg(n.p99)} ms`) +
        ` → limit ${f(limit, 3)} ms` +
        (np > 0 ? `; weft is ${x2(wp / np)} nginx` : ''),
      met: !saturated(wl) && wp <= limit,
      note: saturated(wl) ? 'weft overloaded at this rate' : undefined,
    });
  }
  // 2. Throughput through one proxy on one core, HTTP/1.1 keep-alive: at least 50 % of nginx (1 worker).
  for (const proto of ['h1', 'h2'] as const) {
    const w = tput(r, 'weft', 1, proto);
    const n = tput(r, 'nginx', 1, proto);
    if (!w || !n) continue;
    out.push({
      name: `one proxy, one core, ${proto === 'h1' ? 'HTTP/1.1 (wrk)' : 'h2c (h2load)'}`,
      goal: '≥ 0.50 × nginx',
      weft: `${f(w.rps, 0)} req/s`,
      reference: `nginx ${f(n.rps, 0)} req/s; weft is ${x2(w.rps / n.rps)} nginx`,
      met: w.errors === 0 && w.rps >= 0.5 * n.rps,
      note: proto === 'h2' ? 'the issue states the target for HTTP/1.1; h2c shown for reference' : undefined,
    });
  }
  // 3 and 4. CPU and memory per proxy at 1,000 req/s; idle memory.
  const at1k = r.resources.find((x) => x.setup === 'weft' && x.rate === 1000);
  const ng1k = r.resources.find((x) => x.setup === 'nginx' && x.rate === 1000);
  if (at1k) {
    const per1k = at1k.proxies.map((p) => p.vcpu / (at1k.achievedRps / 1000));
    const worst = Math.max(...per1k);
    const ngPer1k = ng1k ? Math.max(...ng1k.proxies.map((p) => p.vcpu / (ng1k.achievedRps / 1000))) : NaN;
    out.push({
      name: 'CPU per proxy per 1,000 req/s',
      goal: '≤ 0.20 vCPU',
      weft: at1k.proxies.map((p, i) => `${p.role} ${f(per1k[i], 3)}`).join(', ') + ' vCPU',
      reference: `nginx (worst proxy) ${f(ngPer1k, 3)} vCPU`,
      met: !saturated({ ...at1k, rate: at1k.rate }) && worst <= 0.2,
    });
    const rss = Math.max(...at1k.proxies.map((p) => p.rssMB));
    out.push({
      name: 'resident memory per proxy at 1,000 req/s',
      goal: '≤ 60 MB',
      weft: at1k.proxies.map((p) => `${p.role} ${f(p.rssMB, 1)}`).join(', ') + ' MB',
      reference: ng1k ? `nginx ${ng1k.proxies.map((p) => `${p.role} ${f(p.rssMB, 1)}`).join(', ')} MB` : '-',
      met: rss <= 60,
    });
  }
  const idle = r.idle.filter((x) => x.setup === 'weft');
  if (idle.length) {
    const show = (w: 'start' | 'after load', s: ProxySetup) =>
      r.idle
        .filter((x) => x.setup === s && x.when === w)
        .map((x) => `${x.role} ${f(x.rssMB, 1)}`)
        .join(', ');
    const worst = Math.max(...idle.map((x) => x.rssMB));
    out.push({
      name: 'idle resident memory per proxy',
      goal: '≤ 45 MB',
      weft: `after start: ${show('start', 'weft')} MB; idle after load: ${show('after load', 'weft')} MB`,
      reference: `nginx after start: ${show('start', 'nginx')} MB`,
      met: worst <= 45,
      note: 'judged on the worse of the two idle samples',
    });
  }
  return out;
}

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
const head = (cells: string[]) => [row(cells), row(cells.map((_, i) => (i === 0 ? '---' : '--:')))];
const metText = (m: boolean | undefined) => (m === undefined ? 'n/a' : m ? '**met**' : '**not met**');

export function markdown(r: Results): string {
  const m = r.machine;
  const c = r.config;
  const pin = r.pinning
    ? `Pinned with \`taskset\`: the four proxy processes under test (nginx A and B, HAProxy A and B, weft's two ` +
      `sidecars) on CPU ${r.pinning.proxies}; the load generators (this Node process for the open loop, wrk, ` +
      `h2load), the nginx backend, weft's control plane (\`weft up\`) and its idle ingress gateway on CPU ` +
      `${r.pinning.generator}. Only one setup carries traffic at a time, so each proxy pair has CPU ` +
      `${r.pinning.proxies} to itself (apart from other users of the machine).`
    : 'Not pinned (`--no-pin` or a single CPU): generator, backend and proxies share every core.';
  const L: string[] = [
    `# Weft benchmark ${r.date}: direct vs nginx vs HAProxy vs weft${r.quick ? ' (--quick smoke run)' : ''}`,
    '',
    `Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB, ${m.os}, Node ${m.node}, weft ${m.weft} (working tree). ` +
      `Tools: ${Object.entries(m.tools ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}.`,
    '',
    `1-minute load average ${f(m.loadavg1)} at start, ${f(m.loadavg1End)} at end. This is a shared machine ` +
      '(a VM): other people’s tests run at the same time and the hypervisor steals time, so every figure is ' +
      'noisy. Per phase, the load average at its start and how each CPU was used during it (busy = by anyone, ' +
      'us included; steal = taken by the hypervisor):',
    '',
    ...head([
      'phase',
      'started',
      'load avg',
      ...(r.phases[0]?.cpus ?? []).flatMap((_, i) => [`CPU ${i} busy`, `CPU ${i} steal`]),
    ]),
    ...r.phases.map((p) =>
      row([
        p.name,
        p.at.slice(11, 19),
        f(p.loadavg1),
        ...(p.cpus ?? []).flatMap((c) => [
          `${(c.busy * 100).toFixed(0)} %`,
          `${(c.steal * 100).toFixed(0)} %`,
        ]),
      ]),
    ),
    '',
    pin,
    '',
    'Setups (same nginx backend answering 1 KB for all):',
    '',
    '- **direct**: client → backend.',
    '- **nginx**: client → nginx A → (mTLS, keep-alive pool of 64) → nginx B → backend (keep-alive pool). One ' +
      'worker each, access log off.',
    '- **haproxy**: the same two hops with HAProxy (`nbthread 1`, `http-reuse always`, `verify required` both ' +
      'ways), no logging.',
    `- **weft**: client → outbound sidecar → (mTLS, ${r.meshProtocol}) → inbound sidecar → backend, from ` +
      '`weft up` with its default telemetry (metrics and access logs on).',
    '- **one hop** (scenario 2): client → proxy → backend, plain HTTP, no TLS: nginx A’s second server, ' +
      'HAProxy A’s second frontend, weft’s outbound sidecar to a MESH_EXTERNAL ServiceEntry on the backend.',
    '',
    `![latency percentiles per setup](CHART)`,
    '',
    '## Targets (issue 6)',
    '',
    ...head(['target', 'goal', 'weft', 'reference', 'result', 'note']),
    ...r.targets.map((t) => row([t.name, t.goal, t.weft, t.reference, metText(t.met), t.note ?? ''])),
    '',
    `## 1. Latency at a fixed ${c.rate} req/s, ${c.bodyBytes} B, two hops (open loop, ${roundsText(c)})`,
    '',
    'Time from handing the request to the client until the last body byte, every request recorded ' +
      '(exact percentiles, no histogram). Requests are sent on a fixed schedule whatever the responses do ' +
      '(no coordinated omission). `overloaded`: under 98 % of the rate served, a backlog of 100+, or errors. ' +
      '`gen. lag p99`: how late the generator itself sent (ms); large values mean CPU 1 was starved. ' +
      'HTTP/1.1 through an undici pool of N keep-alive connections; h2c (prior knowledge) through N node:http2 ' +
      'sessions, requests spread round-robin.',
    '',
  ];
  for (const proto of ['h1', 'h2'] as const) {
    const rows = r.latency.filter((x) => (x.proto ?? 'h1') === proto);
    if (!rows.length) continue;
    L.push(
      `### ${proto === 'h1' ? 'HTTP/1.1' : 'h2c'}`,
      '',
      ...head([
        'setup',
        'conns',
        'p50',
        'p90',
        'p99',
        'max',
        'served req/s',
        'peak in flight',
        'errors',
        'gen. lag p99',
        'p99 per round',
        'note',
      ]),
      ...rows.map((o) =>
        row([
          o.setup,
          o.connections,
          f(o.latency.p50, 3),
          f(o.latency.p90, 3),
          f(o.latency.p99, 3),
          f(o.latency.max),
          f(o.achievedRps, 0),
          o.peakInflight,
          o.errors,
          f(o.sendLag.p99, 1),
          o.roundP99 ? o.roundP99.map((p) => f(p, 2)).join(' / ') : '-',
          saturated(o) ? 'overloaded' : '',
        ]),
      ),
      '',
      `Added over direct, ${proto === 'h1' ? 'HTTP/1.1' : 'h2c'} (ms, and × direct):`,
      '',
      ...head(['setup', 'conns', 'Δp50', 'Δp90', 'Δp99', 'Δmax', 'p50 ×', 'p99 ×', 'Δp99 vs nginx']),
    );
    for (const conns of c.connections) {
      const d = lat(r, 'direct', conns, proto);
      const n = added(r, 'nginx', conns, proto);
      for (const s of ['nginx', 'haproxy', 'weft'] as const) {
        const a = added(r, s, conns, proto);
        const o = lat(r, s, conns, proto);
        if (!a || !d || !o) continue;
        L.push(
          row([
            s,
            conns,
            f(a.p50, 3),
            f(a.p90, 3),
            f(a.p99, 3),
            f(a.max),
            f(o.latency.p50 / d.latency.p50, 1),
            f(o.latency.p99 / d.latency.p99, 1),
            n && n.p99 > 0 ? x2(a.p99 / n.p99) : '-',
          ]),
        );
      }
    }
    L.push('');
  }
  L.push(
    'Istio 1.20 publishes +0.228 ms p90 and +0.298 ms p99 for two sidecars at 1,000 req/s (16 connections, ' +
      'on dedicated cores); the rows above are from 2 shared cores.',
    '',
    `## 2. Maximum throughput (closed loop)`,
    '',
    `HTTP/1.1: \`wrk -t1 -c${c.wrkConnections}\` (keep-alive). h2c: \`h2load -t1 -c${c.h2Connections} ` +
      `-m${c.h2Streams}\` (prior knowledge). ${c.throughputS} s each after a ${c.throughputWarmupS} s warm-up. ` +
      'Hops 0 = direct, 1 = one proxy without TLS, 2 = two proxies with mTLS between them. The generator and the ' +
      'backend share CPU 1, so direct is capped by that core too: read it as the ceiling of the rig.',
    '',
    'nginx 1.22 speaks h2c only on a `listen … http2` port of its own (no HTTP/1.1 there), so its h2c rows use ' +
      'extra ports on A (two hops and one hop) and on the backend (direct). HAProxy detects the HTTP/2 preface ' +
      'on its HTTP/1.1 ports; weft’s outbound listener does the same. Behind the first proxy every setup ' +
      'speaks HTTP/1.1 (nginx cannot proxy to an HTTP/2 upstream), so h2c measures the client side only.',
    '',
  );
  for (const proto of ['h1', 'h2'] as const) {
    const rows = r.throughput.filter((x) => x.proto === proto);
    if (!rows.length) continue;
    const d = tput(r, 'direct', 0, proto);
    L.push(
      `### ${proto === 'h1' ? 'HTTP/1.1 (wrk)' : 'h2c (h2load)'}`,
      '',
      ...head(['setup', 'hops', 'req/s', '× direct', '× nginx (same hops)', 'p50', 'p99', 'errors']),
    );
    for (const hops of [0, 1, 2] as const)
      for (const x of rows.filter((y) => y.hops === hops)) {
        const n = tput(r, 'nginx', hops, proto);
        L.push(
          row([
            x.setup,
            hops,
            f(x.rps, 0),
            d ? f(x.rps / d.rps, 2) : '-',
            n && hops > 0 ? f(x.rps / n.rps, 2) : '-',
            x.latency ? f(x.latency.p50, 3) : x.meanMs !== undefined ? `mean ${f(x.meanMs, 3)}` : '-',
            x.latency ? f(x.latency.p99, 3) : '-',
            x.errors,
          ]),
        );
      }
    L.push('');
  }
  L.push(
    `## 3. CPU and memory per proxy at fixed rates (two hops, ${c.resourceConnections} connections, ${c.resourceS} s)`,
    '',
    'CPU from `/proc/PID/stat` (utime + stime, all threads) between the first and last measured request; ' +
      'resident memory (`VmRSS`, and the peak `VmHWM`) from `/proc/PID/status` and PSS from `/proc/PID/smaps_rollup` ' +
      'at the end. Each proxy counts its process and any children (nginx: master + worker; RSS counts their ' +
      'shared pages twice, PSS splits them). `outer` is the client-side proxy (A, weft’s outbound sidecar), `inner` the server side (B, the ' +
      'inbound sidecar). vCPU = CPU seconds per second; per 1k = per 1,000 req/s served.',
    '',
    ...head([
      'setup',
      'req/s',
      'served',
      'proxy',
      'vCPU',
      'vCPU per 1k',
      'RSS MB',
      'PSS MB',
      'peak RSS MB',
      'p99 ms',
      'note',
    ]),
  );
  for (const x of r.resources)
    for (const p of x.proxies)
      L.push(
        row([
          x.setup,
          x.rate,
          f(x.achievedRps, 0),
          p.role,
          f(p.vcpu, 3),
          f(p.vcpu / (x.achievedRps / 1000), 3),
          f(p.rssMB, 1),
          f(p.pssMB, 1),
          f(p.hwmMB, 1),
          f(x.p99, 3),
          saturated(x) ? 'overloaded' : '',
        ]),
      );
  L.push(
    '',
    'Per 1k at 10 req/s is dominated by fixed costs (timers, heartbeats, GC) and by the 10 ms resolution of ' +
      'the CPU counters: read the 1,000 and 3,000 rows for per-request cost.',
    '',
    `## 4a. New mTLS connections per second into the inner proxy`,
    '',
    `\`openssl s_time -new\` × ${c.handshakeParallel} in parallel on the generator's CPU for ${c.handshakeS} s: a full ` +
      'TLS handshake with a client certificate per connection (ECDSA P-256 on both sides, no session reuse), ' +
      'then close. For weft the client certificate is signed by the mesh CA with a SPIFFE ID, against the ' +
      'inbound sidecar’s mTLS listener. The rate is capped by whichever side runs out of CPU first (openssl ' +
      'does as much crypto as the server), so the proxy’s CPU time per handshake is the number to compare.',
    '',
    ...head(['setup', 'handshakes/s', '× nginx', 'proxy vCPU', 'proxy CPU ms per handshake', 'RSS MB after']),
    ...r.handshakes.map((h) => {
      const n = r.handshakes.find((x) => x.setup === 'nginx');
      return row([
        h.setup,
        f(h.perSecond, 0),
        n ? f(h.perSecond / n.perSecond, 2) : '-',
        f(h.vcpu, 2),
        f((h.cpuS * 1000) / Math.max(1, h.connections), 3),
        f(h.rssMB, 1),
      ]);
    }),
    '',
    '## 4. Idle memory per proxy (MB resident)',
    '',
    `Sampled ${c.idleSettleS} s after everything was up and before any traffic, and again ${c.idleSettleS} s ` +
      'after the last load phase.',
    '',
    ...head([
      'setup',
      'proxy',
      'RSS after start',
      'PSS after start',
      'RSS idle after load',
      'PSS idle after load',
    ]),
  );
  for (const s of ['nginx', 'haproxy', 'weft'] as const)
    for (const role of ['outer', 'inner'] as const) {
      const a = r.idle.find((x) => x.setup === s && x.role === role && x.when === 'start');
      const b = r.idle.find((x) => x.setup === s && x.role === role && x.when === 'after load');
      if (a || b) L.push(row([s, role, f(a?.rssMB, 1), f(a?.pssMB, 1), f(b?.rssMB, 1), f(b?.pssMB, 1)]));
    }
  L.push('', 'Not measured yet: gRPC (issue 6 scenario 5), and the 3,000 req/s rate through h2c.');
  return L.join('\n') + '\n';
}
