// `weft tap`: the live request stream of the mesh in the terminal, like `linkerd viz tap`. Reads the
// control plane's /api/tap (every proxy's tap, filtered at the proxies) until Ctrl-C, --max or --duration.
import type { Command } from 'commander';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { parseDuration } from '../../config/duration.js';
import type { TapEvent } from '../../proxy/listeners/tap.js';

export interface TapOptions {
  source?: string;
  destination?: string;
  path?: string;
  status?: string;
  method?: string;
  reporter?: string;
  max?: string;
  duration?: string;
}

export function tapQuery(o: TapOptions): string {
  const q = new URLSearchParams();
  for (const k of ['source', 'destination', 'path', 'status', 'method', 'reporter'] as const) {
    const v = o[k];
    if (v) q.set(k, v);
  }
  return q.toString();
}

/** Streams tap events until `max` events, `duration`, Ctrl-C or the server ends; `ready` once tapping. */
export async function streamTap(
  client: MeshClient,
  o: TapOptions,
  onEvent: (e: TapEvent) => void,
  onReady?: (proxies: number) => void,
): Promise<number> {
  const max = o.max ? Number(o.max) : Infinity;
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = o.duration ? setTimeout(stop, parseDuration(o.duration)) : undefined;
  let n = 0;
  try {
    await client.events(
      `/api/tap?${tapQuery(o)}`,
      (event, data) => {
        if (event === 'ready') onReady?.((JSON.parse(data) as { proxies: number }).proxies);
        else if (event === 'dropped')
          process.stderr.write(`(${(JSON.parse(data) as { dropped: number }).dropped} events dropped)\n`);
        else if (event === 'tap' && n < max) {
          n++;
          onEvent(JSON.parse(data) as TapEvent);
          if (n >= max) ac.abort();
        }
      },
      ac.signal,
    );
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return n;
}

export function tapLine(e: TapEvent): string {
  const dst = e.destinationWorkload !== 'unknown' ? e.destinationWorkload : e.destinationService;
  return [
    e.time.slice(11, 23),
    e.reporter === 'source' ? 'client' : 'server',
    `${e.sourceWorkload} -> ${dst}`,
    e.method,
    `${e.authority}${e.path}`,
    String(e.status),
    `${e.latencyMs}ms`,
    `flags=${e.flags || '-'}`,
    ...(e.traceId ? [`trace=${e.traceId}`] : []),
  ].join('  ');
}

export function addTapFilters(cmd: Command): Command {
  return cmd
    .option('--source <workload>', 'only requests from workloads whose name contains this')
    .option('--destination <name>', 'only requests to services or workloads whose name contains this')
    .option('--path <prefix>', 'only paths starting with this')
    .option('--status <code>', 'only this status (503) or class (5xx)')
    .option('--method <method>', 'only this HTTP method')
    .option('--duration <d>', 'stop after this long (e.g. 10s)');
}

export function registerTap(program: Command, mesh: () => MeshFlags): void {
  addTapFilters(
    program
      .command('tap')
      .description(
        'live requests through the mesh (method, path, status, latency, flags, trace id); Ctrl-C stops',
      ),
  )
    .option('--reporter <side>', 'source (client side) or destination (server side); default both')
    .option('--max <n>', 'stop after this many requests')
    .option('-o, --output <format>', 'table or json (one object per line)', 'table')
    .action(async (o: TapOptions & { output: string }) => {
      const client = await MeshClient.connect(mesh());
      const n = await streamTap(
        client,
        o,
        (e) => process.stdout.write((o.output === 'json' ? JSON.stringify(e) : tapLine(e)) + '\n'),
        (proxies) =>
          process.stderr.write(
            `Tapping ${proxies} prox${proxies === 1 ? 'y' : 'ies'}${o.max ? ` until ${o.max} requests` : ''} (Ctrl-C to stop)\n`,
          ),
      );
      if (o.output !== 'json') process.stderr.write(`${n} requests\n`);
    });
}
