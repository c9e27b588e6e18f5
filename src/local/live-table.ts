// `weft up`'s status display. On a terminal the table is redrawn in place (cursor up, clear line, as
// `docker compose up` does); anywhere else (CI, pipes, files) each change is one plain line, so logs
// stay readable. After the mesh is up the table is left as it is and later changes print as lines.
import type { Phase, StatusRow } from './status-rows.js';

export const MARK: Record<Phase, string> = {
  starting: '…',
  certificate: '…',
  config: '…',
  'app starting': '…',
  ready: '✔',
  'not ready': '!',
  exited: '✖',
  failed: '✖',
  stopped: '■',
};

const HEADER = ['NAME', 'KIND', 'STATE', 'PORTS', 'DETAIL'];
const COLOR: Partial<Record<Phase, string>> = {
  ready: '\x1b[32m',
  'not ready': '\x1b[33m',
  exited: '\x1b[31m',
  failed: '\x1b[31m',
};
const RESET = '\x1b[0m';

export interface Out {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const stateCell = (r: StatusRow) => `${MARK[r.phase]} ${r.phase}`;

/**
 * The table as lines, each cut to `width` characters (a wrapped line would break the redraw, which
 * counts lines). With `color`, the STATE cell is coloured after padding, so columns stay aligned.
 */
export function renderTable(rows: StatusRow[], width = Infinity, color = false): string[] {
  const cells = rows.map((r) => [r.name, r.kind, stateCell(r), r.ports, r.detail]);
  const all = [HEADER, ...cells];
  const widths = HEADER.map((_, i) => Math.max(...all.map((c) => c[i]!.length)) + 3);
  return all.map((c, n) => {
    const plain = c
      .map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!)))
      .join('')
      .trimEnd();
    const line = plain.length > width ? plain.slice(0, Math.max(0, width - 1)) + '…' : plain;
    const row = rows[n - 1];
    const hue = row && COLOR[row.phase];
    if (!color || !hue) return line;
    const start = widths[0]! + widths[1]!;
    const cell = stateCell(row);
    if (line.length < start + cell.length) return line;
    return line.slice(0, start) + hue + cell + RESET + line.slice(start + cell.length);
  });
}

/** One plain progress line for a row that changed phase. */
export function progressLine(r: StatusRow): string {
  return `  ${MARK[r.phase]} ${r.name} ${r.phase}${r.detail ? `: ${r.detail}` : ''}\n`;
}

export class LiveTable {
  private drawn = 0;
  private lastText = '';
  private readonly phases = new Map<string, Phase>();
  private live: boolean;

  private readonly color: boolean;

  /** `env`: a dumb terminal cannot move its cursor (plain lines then); NO_COLOR turns colour off. */
  constructor(
    private readonly out: Out,
    env: Record<string, string | undefined> = process.env,
  ) {
    this.live = !!out.isTTY && env.TERM !== 'dumb';
    this.color = env.NO_COLOR === undefined || env.NO_COLOR === '';
  }

  get isLive(): boolean {
    return this.live;
  }

  /** Shows the rows: redraws the table on a terminal, prints the rows whose phase changed otherwise. */
  update(rows: StatusRow[]): void {
    if (this.live) this.redraw(rows);
    else
      for (const r of rows) {
        // Lines only for proxies that moved on; the control plane's own start is the first line of output.
        if (this.phases.get(r.name) !== r.phase && r.kind !== 'control-plane')
          this.out.write(progressLine(r));
      }
    for (const r of rows) this.phases.set(r.name, r.phase);
  }

  /** Leaves the table as drawn; later changes print as lines on a terminal too. */
  freeze(): void {
    this.live = false;
  }

  private redraw(rows: StatusRow[]): void {
    const lines = renderTable(rows, (this.out.columns ?? 120) - 1, this.color);
    const text = lines.join('\n');
    if (text === this.lastText) return;
    this.lastText = text;
    // Up to the table's first line, rewrite each line, clear whatever is left below.
    const up = this.drawn ? `\x1b[${this.drawn}A\r` : '';
    this.out.write(up + lines.map((l) => `\x1b[2K${l}\n`).join('') + '\x1b[J');
    this.drawn = lines.length;
  }
}
