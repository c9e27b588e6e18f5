// The gRPC scenario's results (bench/results/<date>-grpc.json) and markdown report: per call kind, every
// setup's throughput as a ratio to direct and to nginx, latency per call, errors and each proxy's CPU.
// Several rounds of the same run are averaged; the per-round throughput is shown to give the spread.
import type { GrpcLoadResult } from './grpc-load.js';
import type { Kind } from './grpc-service.js';
import type { Machine, Setup } from './report.js';

export interface GrpcRun extends GrpcLoadResult {
  round: number;
  setup: Setup;
  loadavg1: number; // when the run started
  cpus: Array<{ busy: number; steal: number }>; // per CPU over the run: busy (anyone) and stolen
  proxies: Array<{ role: 'outer' | 'inner'; vcpu: number; cpuS: number; rssMB: number }>;
  backendVcpu: number;
  clientVcpu: number;
}

export interface GrpcResults {
  date: string;
  machine: Machine;
  quick: boolean;
  pinning?: Record<string, string>;
  config: Record<string, unknown>;
  runs: GrpcRun[];
}

const SETUPS: Setup[] = ['direct', 'nginx', 'haproxy', 'weft'];
const TITLE: Record<Kind, string> = {
  unary: 'Unary (1 KB echo)',
  serverStream: 'Server streaming',
  bidi: 'Bidi ping-pong',
};

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const f = (x: number, d = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
    : '–';
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) : '–');

/** Averages of one setup's rounds for one kind. */
export function aggregate(r: GrpcResults, kind: Kind, setup: Setup) {
  const runs = r.runs.filter((x) => x.kind === kind && x.setup === setup);
  const m = (g: (x: GrpcRun) => number) => mean(runs.map(g));
  const role = (i: number, g: (p: GrpcRun['proxies'][number]) => number) =>
    runs[0]?.proxies[i] ? m((x) => g(x.proxies[i]!)) : NaN;
  const msgs = m((x) => x.messagesPerS);
  // CPU per response message: a unary call and a bidi round trip are one message each way.
  const usPerMsg = (i: number) => (role(i, (p) => p.vcpu) / msgs) * 1e6;
  return {
    runs,
    callsPerS: m((x) => x.callsPerS),
    messagesPerS: msgs,
    mbPerS: m((x) => x.mbPerS),
    p50: m((x) => x.latency.p50),
    p99: m((x) => x.latency.p99),
    errors: runs.reduce((a, x) => a + x.errors, 0),
    errorKinds: Object.entries(
      runs.reduce<Record<string, number>>((a, x) => {
        for (const [k, n] of Object.entries(x.errorKinds)) a[k] = (a[k] ?? 0) + n;
        return a;
      }, {}),
    ).map(([k, n]) => `${k} ${n}`),
    vcpu: [role(0, (p) => p.vcpu), role(1, (p) => p.vcpu)],
    usPerMsg: [usPerMsg(0), usPerMsg(1)],
    rssMB: [role(0, (p) => p.rssMB), role(1, (p) => p.rssMB)],
    backendVcpu: m((x) => x.backendVcpu),
    clientVcpu: m((x) => x.clientVcpu),
  };
}

function kindTable(r: GrpcResults, kind: Kind): string {
  const c = r.runs.find((x) => x.kind === kind);
  if (!c) return '';
  const direct = aggregate(r, kind, 'direct');
  const nginx = aggregate(r, kind, 'nginx');
  const lines = [
    `### ${TITLE[kind]}: ${c.concurrency} ${kind === 'bidi' ? 'streams' : 'calls'} in flight over ${c.channels} connections`,
    '',
    '| setup | calls/s | messages/s | × direct | × nginx | p50 ms | p99 ms | errors | vCPU outer / inner | CPU µs per message outer / inner | RSS MB outer / inner | backend vCPU | client vCPU | calls/s per round |',
    '| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |',
  ];
  for (const s of SETUPS) {
    const a = aggregate(r, kind, s);
    if (!a.runs.length) continue;
    const pair = (xs: number[], d: number) => (s === 'direct' ? '' : `${f(xs[0]!, d)} / ${f(xs[1]!, d)}`);
    lines.push(
      `| ${s} | ${f(a.callsPerS)} | ${f(a.messagesPerS)} | ${ratio(a.messagesPerS, direct.messagesPerS)} | ${s === 'direct' ? '' : ratio(a.messagesPerS, nginx.messagesPerS)} | ${f(a.p50, 2)} | ${f(a.p99, 2)} | ${a.errors}${a.errors ? ` (${a.errorKinds.join(', ')})` : ''} | ${pair(a.vcpu, 2)} | ${pair(a.usPerMsg, 0)} | ${pair(a.rssMB, 0)} | ${f(a.backendVcpu, 2)} | ${f(a.clientVcpu, 2)} | ${a.runs.map((x) => f(x.callsPerS)).join(', ')} |`,
    );
  }
  const details = r.runs
    .filter((x) => x.kind === kind && x.errors)
    .flatMap((x) =>
      Object.entries(x.errorDetails ?? {}).map(([k, d]) => `${x.setup} round ${x.round}, ${k}: ${d}`),
    );
  if (details.length) lines.push('', 'Errors (first of each kind): ' + [...new Set(details)].join('; '));
  return lines.join('\n') + '\n';
}

/** The ratios the issue asks for, one line per kind. */
function summary(r: GrpcResults, kinds: Kind[]): string {
  const lines = [
    '| call kind | weft ÷ nginx, messages/s | weft ÷ direct | HAProxy ÷ nginx | weft ÷ nginx, p50 | weft ÷ nginx, p99 | weft ÷ nginx, CPU per message (outer / inner) |',
    '| --- | --: | --: | --: | --: | --: | --: |',
  ];
  for (const k of kinds) {
    const [d, n, h, w] = SETUPS.map((s) => aggregate(r, k, s)) as [
      ReturnType<typeof aggregate>,
      ReturnType<typeof aggregate>,
      ReturnType<typeof aggregate>,
      ReturnType<typeof aggregate>,
    ];
    lines.push(
      `| ${TITLE[k]} | ${ratio(w.messagesPerS, n.messagesPerS)} | ${ratio(w.messagesPerS, d.messagesPerS)} | ${ratio(h.messagesPerS, n.messagesPerS)} | ${ratio(w.p50, n.p50)} | ${ratio(w.p99, n.p99)} | ${ratio(w.usPerMsg[0]!, n.usPerMsg[0]!)} / ${ratio(w.usPerMsg[1]!, n.usPerMsg[1]!)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

export function grpcMarkdown(r: GrpcResults, kinds: Kind[]): string {
  const m = r.machine;
  const loads = r.runs.map((x) => x.loadavg1);
  const busy = (i: number) => r.runs.map((x) => x.cpus[i]?.busy ?? NaN);
  const steal = r.runs.flatMap((x) => x.cpus.map((c) => c.steal));
  const pct = (xs: number[]) => `${f(Math.min(...xs) * 100)}–${f(Math.max(...xs) * 100)} %`;
  return `# Weft benchmark, gRPC through two proxies: ${r.date}${r.quick ? ' (quick smoke run, not a measurement)' : ''}

${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB, ${m.os}, Node ${m.node}, weft ${m.weft}; ${Object.entries(
    m.tools ?? {},
  )
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}.
Load average (1 min): ${m.loadavg1.toFixed(2)} at start, ${m.loadavg1End?.toFixed(2) ?? '?'} at end, ${f(Math.min(...loads), 1)}–${f(Math.max(...loads), 1)} at the start of the runs. CPU busy during the runs (anyone's work): CPU 0 ${pct(busy(0))}, CPU 1 ${pct(busy(1))}; stolen by the hypervisor ${pct(steal)}.
Pinning: ${r.pinning ? `proxies on CPU ${r.pinning.proxies}; load client, gRPC backend, weft control plane on CPU ${r.pinning.generator}` : 'off'}.

Paths: direct (client → backend); nginx and HAProxy: client → A → (mTLS, HTTP/2) → B → backend (h2c); weft:
client → outbound sidecar → (mTLS) → inbound sidecar → backend, Service port named \`grpc\`. Closed loop,
@grpc/grpc-js client in its own process, ${r.config.warmupS} s warm-up then ${r.config.durationS} s measured, ${r.config.rounds} round(s), setups
interleaved within each round; figures are means over rounds. Messages: ${r.config.msgBytes} bytes; a server-streaming call
returns ${r.config.streamMessages} of them. Latency is per call (server streaming: to the last message; bidi: one round trip on an open
stream). CPU µs per message = the proxy's CPU time ÷ response messages; a unary call and a bidi round trip carry one
message each way.

## Ratios

${summary(r, kinds)}
${kinds.map((k) => kindTable(r, k)).join('\n')}`;
}
