// `weft top`: the busiest paths right now, from the live tap (like `linkerd viz top`): a table that
// refreshes every second until Ctrl-C, or one table after --duration with --once (for scripts).
import type { Command } from 'commander';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { printStructured, table } from '../output.js';
import type { TapEvent } from '../../proxy/listeners/tap.js';
import { addTapFilters, streamTap, type TapOptions } from './tap.js';

export interface TopRow {
  source: string;
  destination: string;
  method: string;
  path: string;
  count: number;
  success: number; // not 5xx, not 0
  bestMs: number;
  worstMs: number;
  lastMs: number;
}

export class TopTable {
  private readonly rows = new Map<string, TopRow>();

  add(e: TapEvent): void {
    const destination = e.destinationWorkload !== 'unknown' ? e.destinationWorkload : e.destinationService;
    const path = e.path.split('?')[0]!;
    const k = `${e.sourceWorkload}\0${destination}\0${e.method}\0${path}`;
    let r = this.rows.get(k);
    if (!r) {
      r = {
        source: e.sourceWorkload,
        destination,
        method: e.method,
        path,
        count: 0,
        success: 0,
        bestMs: Infinity,
        worstMs: 0,
        lastMs: 0,
      };
      this.rows.set(k, r);
    }
    r.count++;
    if (e.status !== 0 && e.status < 500) r.success++;
    r.bestMs = Math.min(r.bestMs, e.latencyMs);
    r.worstMs = Math.max(r.worstMs, e.latencyMs);
    r.lastMs = e.latencyMs;
  }

  top(n: number): TopRow[] {
    return [...this.rows.values()]
      .sort((a, b) => b.count - a.count || a.path.localeCompare(b.path))
      .slice(0, n);
  }

  render(n: number): string {
    const rows = this.top(n).map((r) => [
      r.source,
      r.destination,
      r.method,
      r.path,
      String(r.count),
      `${((r.success / r.count) * 100).toFixed(1)}%`,
      `${r.bestMs}ms`,
      `${r.worstMs}ms`,
      `${r.lastMs}ms`,
    ]);
    return table(rows, [
      'SOURCE',
      'DESTINATION',
      'METHOD',
      'PATH',
      'COUNT',
      'SUCCESS',
      'BEST',
      'WORST',
      'LAST',
    ]);
  }
}

export function registerTop(program: Command, mesh: () => MeshFlags): void {
  addTapFilters(
    program.command('top').description('the busiest paths in the mesh right now, from the live tap'),
  )
    .option(
      '--reporter <side>',
      'which side counts a request: source (client, default) or destination',
      'source',
    )
    .option('--once', 'collect for --duration (default 5s), print one table and exit')
    .option('--rows <n>', 'rows to show', '20')
    .option('-o, --output <format>', 'table, json or yaml (with --once)', 'table')
    .action(async (o: TapOptions & { once?: boolean; rows: string; output: string }) => {
      const client = await MeshClient.connect(mesh());
      const t = new TopTable();
      const rows = Number(o.rows) || 20;
      const live = !o.once && process.stdout.isTTY;
      const draw = () => {
        process.stdout.write(
          `\x1b[H\x1b[2J weft top  ${new Date().toLocaleTimeString()}  (Ctrl-C to stop)\n\n${t.render(rows)}\n`,
        );
      };
      const timer = live ? setInterval(draw, 1000) : undefined;
      if (live) draw();
      try {
        await streamTap(client, { ...o, duration: o.duration ?? (o.once ? '5s' : undefined) }, (e) =>
          t.add(e),
        );
      } finally {
        clearInterval(timer);
      }
      if (o.output === 'json' || o.output === 'yaml') return printStructured(t.top(rows), o.output);
      if (live) draw();
      else process.stdout.write(t.render(rows) + '\n');
    });
}
