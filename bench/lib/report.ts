// Turns results into the markdown report (stdout + bench/results/<date>.md) and computes the
// weft-vs-direct comparison. Numbers are ms unless a column says otherwise.
import os from 'node:os';
import type { ClosedLoopResult, OpenLoopResult } from './load.js';

export type Setup = 'direct' | 'weft';

export interface Results {
  date: string;
  machine: Machine;
  config: { rate: number; warmupS: number; durationS: number; bodyBytes: number; closedLoopS: number };
  open: Array<{ setup: Setup } & OpenLoopResult>;
  closed: Array<{ setup: Setup } & ClosedLoopResult>;
  overhead: Overhead[];
}

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  os: string;
  memGiB: number;
  loadavg1: number; // at start: other work on the box skews everything
  loadavg1End?: number;
  weft: string;
}

export interface Overhead {
  connections: number;
  saturated: boolean; // weft fell behind the offered rate (see saturated()): its latency is mostly queueing
  delta: { p50: number; p90: number; p99: number };
  ratio: { p50: number; p90: number; p99: number };
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

export function overhead(open: Results['open']): Overhead[] {
  const out: Overhead[] = [];
  for (const d of open.filter((r) => r.setup === 'direct')) {
    const w = open.find((r) => r.setup === 'weft' && r.connections === d.connections);
    if (!w) continue;
    const k = (['p50', 'p90', 'p99'] as const).map((p) => [
      p,
      w.latency[p] - d.latency[p],
      w.latency[p] / d.latency[p],
    ]);
    out.push({
      connections: d.connections,
      saturated: saturated(w),
      delta: Object.fromEntries(k.map(([p, dl]) => [p, dl])) as Overhead['delta'],
      ratio: Object.fromEntries(k.map(([p, , r]) => [p, r])) as Overhead['ratio'],
    });
  }
  return out;
}

/**
 * Overloaded, at least for a while: it served under 98% of the offered rate, or a backlog of 100+
 * requests built up (≥ 100 ms of work at 1000 req/s; a request costs ~1 ms here). Then the latency
 * measures time spent waiting in that queue, not the cost of one request.
 */
export const saturated = (o: OpenLoopResult) =>
  o.achievedRps < 0.98 * o.rate || o.peakInflight >= 100 || o.errors > 0;

const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
const head = (cells: string[]) => [row(cells), row(cells.map((c) => (c === cells[0] ? '---' : '--:')))];

export function markdown(r: Results): string {
  const m = r.machine;
  const c = r.config;
  const L: string[] = [
    `# Weft benchmark ${r.date}: latency through two proxies vs direct`,
    '',
    `Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB, ${m.os}, Node ${m.node}, weft ${m.weft}, ` +
      `1-min load average ${f(m.loadavg1)} at start, ${f(m.loadavg1End ?? NaN)} at end.`,
    `The load generator, backend, \`weft up\` (control plane) and both sidecars all share these ` +
      `${m.nproc} cores (no taskset/CPU pinning yet), so the figures include CPU contention.`,
    '',
    `## Open loop: ${c.rate} req/s for ${c.durationS} s (after ${c.warmupS} s warm-up), ${c.bodyBytes} B body`,
    '',
    'Latency from handing the request to the pool until the last body byte. `sched p99` is the same',
    "measured from each request's due time (includes the generator's own send lag).",
    '',
    '`peak` is the most requests outstanding at once. `overloaded`: under 98% of the offered rate served,',
    'or a backlog of 100+ requests: the latency is then mostly time spent queued, not per-request cost.',
    '',
    ...head([
      'setup',
      'conns',
      'p50',
      'p90',
      'p99',
      'max',
      'achieved req/s',
      'peak',
      'errors',
      'sched p99',
      'lag p99',
      'note',
    ]),
    ...r.open.map((o) =>
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
        f(o.fromSchedule.p99, 3),
        f(o.sendLag.p99, 3),
        saturated(o) ? 'overloaded' : '',
      ]),
    ),
    '',
    '## Added latency of weft over direct (open loop)',
    '',
    ...head(['conns', 'Δp50 ms', 'Δp90 ms', 'Δp99 ms', 'p50 ×', 'p90 ×', 'p99 ×', 'note']),
    ...r.overhead.map((o) =>
      row([
        o.connections,
        f(o.delta.p50, 3),
        f(o.delta.p90, 3),
        f(o.delta.p99, 3),
        f(o.ratio.p50, 1),
        f(o.ratio.p90, 1),
        f(o.ratio.p99, 1),
        o.saturated ? 'weft overloaded: queueing, not per-request cost' : '',
      ]),
    ),
  ];
  if (r.closed.length) {
    L.push(
      '',
      `## Closed loop: max throughput, ${c.closedLoopS} s (each connection keeps one request outstanding)`,
      '',
      ...head(['setup', 'conns', 'req/s', 'vs direct', 'p50', 'p99', 'max', 'errors']),
      ...r.closed.map((x) => {
        const d = r.closed.find((y) => y.setup === 'direct' && y.connections === x.connections);
        return row([
          x.setup,
          x.connections,
          f(x.rps, 0),
          d ? f(x.rps / d.rps, 2) : '-',
          f(x.latency.p50, 3),
          f(x.latency.p99, 3),
          f(x.latency.max),
          x.errors,
        ]);
      }),
    );
  }
  return L.join('\n') + '\n';
}
