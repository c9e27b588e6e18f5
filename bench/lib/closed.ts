// Closed-loop maximum throughput with the standard tools: wrk (HTTP/1.1 keep-alive) and h2load (h2c
// with prior knowledge), run pinned with `taskset`. Each run is preceded by a short warm-up run of the
// same tool (connections, TLS sessions between the proxies, JIT), which is not recorded.
import { execFile } from 'node:child_process';

export interface ToolTarget {
  url: string; // http://127.0.0.1:PORT/
  host?: string; // Host / :authority to send (the service name when going through weft's outbound)
}

export interface ThroughputResult {
  tool: 'wrk' | 'h2load';
  connections: number;
  streams: number; // concurrent requests per connection (1 for wrk)
  durationS: number;
  rps: number;
  requests: number;
  errors: number; // socket errors, non-2xx, failed streams
  latency?: { p50: number; p90: number; p99: number; max: number }; // ms (wrk only)
  meanMs?: number; // h2load: mean time per request
}

function run(cmd: string, args: string[], cpus: string | undefined, timeoutMs: number): Promise<string> {
  const [file, argv] = cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(
      file,
      argv,
      { timeout: timeoutMs, maxBuffer: 1 << 20, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** "1.23ms" / "456.00us" / "1.2s" → ms. */
function toMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

export function parseWrk(out: string, connections: number, durationS: number): ThroughputResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const pct = (p: string) => toMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const max = toMs(/Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? '');
  if (!Number.isFinite(rps)) throw new Error(`could not parse wrk output:\n${out}`);
  return {
    tool: 'wrk',
    connections,
    streams: 1,
    durationS,
    rps,
    requests,
    errors,
    latency: { p50: pct('50'), p90: pct('90'), p99: pct('99'), max },
  };
}

export async function wrk(
  t: ToolTarget,
  o: { connections: number; warmupS: number; durationS: number; cpus?: string },
): Promise<ThroughputResult> {
  const base = ['-t1', `-c${o.connections}`, '--latency', ...(t.host ? ['-H', `Host: ${t.host}`] : [])];
  const limit = (s: number) => (s + 15) * 1000;
  const secs = (s: number) => Math.max(1, Math.round(s)); // wrk takes whole seconds
  if (o.warmupS > 0) await run('wrk', [...base, `-d${secs(o.warmupS)}s`, t.url], o.cpus, limit(o.warmupS));
  const out = await run('wrk', [...base, `-d${secs(o.durationS)}s`, t.url], o.cpus, limit(o.durationS));
  return parseWrk(out, o.connections, secs(o.durationS));
}

export function parseH2load(
  out: string,
  connections: number,
  streams: number,
  durationS: number,
): ThroughputResult {
  const fin = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  const req =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      out,
    );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1];
  if (!fin || !req) throw new Error(`could not parse h2load output:\n${out}`);
  const n = (i: number) => Number(req[i]);
  return {
    tool: 'h2load',
    connections,
    streams,
    durationS,
    rps: Number(fin[1]),
    requests: n(4),
    errors: n(5) + n(6) + n(7) + (codes ? Number(codes[3]) + Number(codes[4]) : 0),
    meanMs: mean ? toMs(mean) : undefined,
  };
}

export async function h2load(
  t: ToolTarget,
  o: { connections: number; streams: number; warmupS: number; durationS: number; cpus?: string },
): Promise<ThroughputResult> {
  const args = [
    '-t1',
    `-c${o.connections}`,
    `-m${o.streams}`,
    `-D${Math.max(1, Math.round(o.durationS))}`,
    `--warm-up-time=${Math.max(1, Math.round(o.warmupS))}`,
    ...(t.host ? ['-H', `:authority: ${t.host}`] : []),
    t.url,
  ];
  const out = await run('h2load', args, o.cpus, (o.durationS + o.warmupS + 20) * 1000);
  return parseH2load(out, o.connections, o.streams, o.durationS);
}

/** A few requests must succeed over h2c (used to check each target before measuring). */
export async function h2check(t: ToolTarget): Promise<void> {
  const out = await run(
    'h2load',
    ['-n10', '-c1', ...(t.host ? ['-H', `:authority: ${t.host}`] : []), t.url],
    undefined,
    20_000,
  );
  const r = parseH2load(out, 1, 1, 0);
  if (r.requests !== 10 || r.errors) throw new Error(`h2c check of ${t.url} failed:\n${out}`);
}
