// Load generators over an undici Pool (HTTP/1.1, keep-alive, no pipelining).
//
// openLoop sends on a fixed schedule (request i is due at start + i/rate) whatever the responses do,
// so a slow system builds a queue instead of slowing the generator down ("coordinated omission").
// Each request gets two latencies, both to the last body byte:
//  - `latency`: from the moment it was handed to the pool. Includes waiting for a free connection in
//    the pool, i.e. queueing caused by the system under test; excludes our own timer jitter.
//  - `fromSchedule`: from its due time (wrk2 style). Adds the generator's send lag, which on a busy
//    2-core box is partly our own event loop, hence reported separately rather than as the headline.
// closedLoop runs N workers back to back for maximum throughput.
import { Pool } from 'undici';
import { h2Client } from './h2client.js';
import { summarize, type Summary } from './stats.js';

export interface Target {
  origin: string; // where the TCP connections go
  host?: string; // Host header (the service name when going through the outbound sidecar)
  path: string;
}

export interface OpenLoopResult {
  connections: number;
  rate: number;
  durationS: number;
  sent: number; // requests due in the measured window
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  achievedRps: number; // ok responses / (last response − window start)
  peakInflight: number; // most requests outstanding at once (sent, not yet answered) in the window
  latency: Summary; // ms
  fromSchedule: Summary; // ms
  sendLag: Summary; // ms, actual send − due time
  /** Pooled rounds (poolRounds): each round's own p99 latency, to show how much one window varies. */
  roundP99?: number[];
  /** The raw samples behind the summaries, with `keepSamples` (for poolRounds; not for reports). */
  samples?: { latency: number[]; fromSchedule: number[]; sendLag: number[] };
}

export interface ClosedLoopResult {
  connections: number;
  durationS: number;
  ok: number;
  errors: number;
  rps: number;
  latency: Summary;
}

const nowNs = () => Number(process.hrtime.bigint());
const ms = (ns: number) => ns / 1e6;

function makePool(t: Target, connections: number): Pool {
  return new Pool(t.origin, { connections, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
}

/** One GET, body read to the end. Throws on transport errors; returns the status. */
async function get(pool: Pool, t: Target): Promise<number> {
  const res = await pool.request({ path: t.path, method: 'GET', headers: t.host ? { host: t.host } : {} });
  await res.body.arrayBuffer(); // the response is complete only when its last byte has arrived
  return res.statusCode;
}

export async function openLoop(
  t: Target,
  o: {
    connections: number;
    rate: number;
    warmupS: number;
    durationS: number;
    /** Called when the first measured request is sent and when the last one is (e.g. to sample CPU). */
    onWindow?: (edge: 'start' | 'end') => void;
    /** 'h2': h2c with prior knowledge over `connections` HTTP/2 sessions (node:http2) instead of undici. */
    protocol?: 'h1' | 'h2';
    keepSamples?: boolean;
  },
): Promise<OpenLoopResult> {
  let send: () => Promise<number>;
  let close: () => Promise<void>;
  if (o.protocol === 'h2') {
    const c = await h2Client(t.origin, t.path, t.host, o.connections);
    send = c.get;
    close = c.close;
  } else {
    const pool = makePool(t, o.connections);
    send = () => get(pool, t);
    close = () => pool.destroy();
  }
  const interval = 1e9 / o.rate;
  const warm = Math.round(o.warmupS * o.rate);
  const total = warm + Math.round(o.durationS * o.rate);
  const latency: number[] = [];
  const fromSchedule: number[] = [];
  const sendLag: number[] = [];
  const errorKinds: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  let inflight = 0;
  let peakInflight = 0;
  let lastEnd = 0;
  const start = nowNs() + 5e6; // small head start so request 0 is not already late
  const windowStart = start + warm * interval;

  const fire = (i: number) => {
    const due = start + i * interval;
    const sent = nowNs();
    const measured = i >= warm;
    inflight++;
    if (measured) peakInflight = Math.max(peakInflight, inflight);
    send()
      .then((status) => {
        if (!measured || inflight < 0) return;
        const end = nowNs();
        if (status !== 200) throw new Error(`HTTP ${status}`);
        ok++;
        lastEnd = Math.max(lastEnd, end);
        latency.push(ms(end - sent));
        fromSchedule.push(ms(end - due));
        sendLag.push(ms(sent - due));
      })
      .catch((e: Error & { code?: string }) => {
        if (!measured || inflight < 0) return;
        errors++;
        const k = e.code ?? e.message;
        errorKinds[k] = (errorKinds[k] ?? 0) + 1;
      })
      .finally(() => inflight--);
  };

  // The scheduler: on each wake-up send everything that is due (catching up in a burst if the timer
  // fired late), then sleep until the next due time. Never waits for responses.
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = nowNs();
      while (i < total && start + i * interval <= now) {
        if (i === warm) o.onWindow?.('start');
        fire(i++);
      }
      if (i >= total) {
        o.onWindow?.('end');
        return resolve();
      }
      setTimeout(tick, Math.max(0, ms(start + i * interval - nowNs())));
    };
    setTimeout(tick, ms(start - nowNs()));
  });
  // Drain: give stragglers up to 10 s (the request timeouts), then count what is left as errors.
  const drainUntil = Date.now() + 11_000;
  while (inflight > 0 && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 10));
  if (inflight > 0) {
    // Still unanswered after the drain: failures, whatever happens to them once we close.
    errors += inflight;
    errorKinds.unfinished = (errorKinds.unfinished ?? 0) + inflight;
  }
  inflight = -1e9; // late settlements must not count again
  await close();

  const windowEnd = Math.max(lastEnd, windowStart + o.durationS * 1e9);
  return {
    connections: o.connections,
    rate: o.rate,
    durationS: o.durationS,
    sent: total - warm,
    ok,
    errors,
    errorKinds,
    achievedRps: ok / ((windowEnd - windowStart) / 1e9),
    peakInflight,
    latency: summarize(latency),
    fromSchedule: summarize(fromSchedule),
    sendLag: summarize(sendLag),
    ...(o.keepSamples ? { samples: { latency, fromSchedule, sendLag } } : {}),
  };
}

/**
 * Several rounds of one open-loop run (each with `keepSamples`) as one result: percentiles over all
 * their requests, so one noisy window on a shared machine moves the p99 less than it moves its own.
 */
export function poolRounds(rounds: OpenLoopResult[]): OpenLoopResult {
  const first = rounds[0];
  if (!first) throw new Error('poolRounds: no rounds');
  const all = (k: 'latency' | 'fromSchedule' | 'sendLag') => rounds.flatMap((r) => r.samples?.[k] ?? []);
  const sum = (k: 'sent' | 'ok' | 'errors' | 'durationS') => rounds.reduce((a, r) => a + r[k], 0);
  const errorKinds: Record<string, number> = {};
  for (const r of rounds)
    for (const [k, n] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + n;
  return {
    connections: first.connections,
    rate: first.rate,
    durationS: sum('durationS'),
    sent: sum('sent'),
    ok: sum('ok'),
    errors: sum('errors'),
    errorKinds,
    // The slowest round decides whether the setup kept up.
    achievedRps: Math.min(...rounds.map((r) => r.achievedRps)),
    peakInflight: Math.max(...rounds.map((r) => r.peakInflight)),
    latency: summarize(all('latency')),
    fromSchedule: summarize(all('fromSchedule')),
    sendLag: summarize(all('sendLag')),
    roundP99: rounds.map((r) => r.latency.p99),
  };
}

export async function closedLoop(
  t: Target,
  o: { connections: number; warmupS: number; durationS: number },
): Promise<ClosedLoopResult> {
  const pool = makePool(t, o.connections);
  const measureFrom = nowNs() + o.warmupS * 1e9;
  const end = measureFrom + o.durationS * 1e9;
  const latency: number[] = [];
  let ok = 0;
  let errors = 0;
  // Each worker keeps exactly one request outstanding: N workers = N busy connections.
  const worker = async () => {
    while (nowNs() < end) {
      const s = nowNs();
      try {
        const status = await get(pool, t);
        const e = nowNs();
        if (e < measureFrom || e > end) continue; // warm-up, or finished after the window
        if (status === 200) {
          ok++;
          latency.push(ms(e - s));
        } else errors++;
      } catch {
        if (nowNs() >= measureFrom) errors++;
        await new Promise((r) => setTimeout(r, 1)); // do not spin hot on a refused connection
      }
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  await pool.destroy();
  return {
    connections: o.connections,
    durationS: o.durationS,
    ok,
    errors,
    rps: ok / o.durationS,
    latency: summarize(latency),
  };
}
