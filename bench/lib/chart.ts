// The latency chart of the report, as a hand-written SVG (no dependencies): one row per protocol
// (HTTP/1.1, h2c), one panel per connection count, latency percentiles p50/p90/p99/max of each setup at
// the fixed rate, on a log scale (the setups differ by orders of magnitude). A dashed line marks a setup that was overloaded in that phase.
import { saturated, type Results, type Setup } from './report.js';

const COLORS: Record<Setup, string> = {
  direct: '#555555',
  nginx: '#2a9d4b',
  haproxy: '#1f6fb4',
  weft: '#d6402b',
};
const PCTS = ['p50', 'p90', 'p99', 'max'] as const;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function label(ms: number): string {
  if (ms >= 1000) return `${ms / 1000} s`;
  if (ms >= 1) return `${ms} ms`;
  return `${Math.round(ms * 1000)} µs`;
}

export function renderLatencyChart(r: Results): string {
  const conns = r.config.connections;
  const setups = [...new Set(r.latency.map((x) => x.setup))];
  const values = r.latency
    .flatMap((x) => PCTS.map((p) => x.latency[p]))
    .filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 1))));

  const protos = (['h1', 'h2'] as const).filter((p) => r.latency.some((x) => (x.proto ?? 'h1') === p));
  const W = 1000;
  const top0 = 70;
  const rowH = 360;
  const plotH = rowH - 90;
  const H = top0 + rowH * protos.length;
  const left = 70;
  const gap = 30;
  const panelW = (W - left - 20 - gap * (conns.length - 1)) / conns.length;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(
      `Latency at ${r.config.rate} req/s, ${r.config.bodyBytes} B, two hops with mTLS (weft ${r.machine.weft}, ${r.date})`,
    )}</text>`,
    `<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${esc(
      `log scale; ${r.machine.nproc} shared CPUs, load average ${r.machine.loadavg1.toFixed(1)}–${(r.machine.loadavg1End ?? NaN).toFixed(1)}; dashed = overloaded (queueing)`,
    )}</text>`,
  ];
  // Legend.
  setups.forEach((s, i) => {
    const lx = left + i * 130;
    out.push(
      `<line x1="${lx}" y1="56" x2="${lx + 24}" y2="56" stroke="${COLORS[s]}" stroke-width="3"/>`,
      `<circle cx="${lx + 12}" cy="56" r="3.5" fill="${COLORS[s]}"/>`,
      `<text x="${lx + 30}" y="60">${s}</text>`,
    );
  });
  // Y axis grid (1, 2, 5 × 10^k) and labels, shared by the panels.
  const ticks: number[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10)
    for (const k of [1, 2, 5]) if (d * k <= hi * 1.0001) ticks.push(d * k);
  protos.forEach((proto, ri) => {
    const top = top0 + ri * rowH + 30;
    const y = (v: number) =>
      top + plotH * (1 - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / Math.log10(hi / lo));
    out.push(
      `<text x="${left}" y="${top - 10}" font-size="14" font-weight="bold">${proto === 'h1' ? 'HTTP/1.1 (keep-alive connections)' : 'h2c (HTTP/2 sessions, prior knowledge)'}</text>`,
      `<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">latency</text>`,
    );
    conns.forEach((c, pi) => {
      const x0 = left + pi * (panelW + gap);
      const x = (i: number) => x0 + 30 + (i * (panelW - 60)) / (PCTS.length - 1);
      out.push(
        `<rect x="${x0}" y="${top}" width="${panelW}" height="${plotH}" fill="#fafafa" stroke="#bbb"/>`,
      );
      for (const t of ticks) {
        const major = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
        out.push(
          `<line x1="${x0}" y1="${y(t).toFixed(1)}" x2="${x0 + panelW}" y2="${y(t).toFixed(1)}" stroke="${major ? '#ccc' : '#eee'}"/>`,
        );
        if (pi === 0)
          out.push(
            `<text x="${x0 - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="${major ? '#333' : '#888'}">${label(t)}</text>`,
          );
      }
      PCTS.forEach((p, i) =>
        out.push(`<text x="${x(i)}" y="${top + plotH + 18}" text-anchor="middle">${p}</text>`),
      );
      out.push(
        `<text x="${x0 + panelW / 2}" y="${top + plotH + 36}" text-anchor="middle" font-weight="bold">${c} ${proto === 'h1' ? 'connection' : 'session'}${c > 1 ? 's' : ''}</text>`,
      );
      for (const s of setups) {
        const o = r.latency.find((z) => z.setup === s && z.connections === c && (z.proto ?? 'h1') === proto);
        if (!o) continue;
        if (!PCTS.every((p) => Number.isFinite(o.latency[p]))) {
          // Nothing answered in the window: say so instead of drawing a line.
          out.push(
            `<text x="${x0 + 8}" y="${top + 16 + 14 * setups.indexOf(s)}" font-size="11" fill="${COLORS[s]}">${esc(
              `${s}: no answers (${o.errors} errors of ${o.sent})`,
            )}</text>`,
          );
          continue;
        }
        const pts = PCTS.map((p, i) => `${x(i).toFixed(1)},${y(o.latency[p]).toFixed(1)}`);
        const dash = saturated(o) ? ' stroke-dasharray="6 4"' : '';
        out.push(
          `<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[s]}" stroke-width="2.5"${dash}/>`,
          ...PCTS.map(
            (p, i) =>
              `<circle cx="${x(i).toFixed(1)}" cy="${y(o.latency[p]).toFixed(1)}" r="3.5" fill="${COLORS[s]}"><title>${esc(
                `${s}, ${c} conns, ${p}: ${o.latency[p].toFixed(3)} ms`,
              )}</title></circle>`,
          ),
        );
        // p99 value printed next to the point, the figure the targets are about.
        out.push(
          `<text x="${(x(2) + 6).toFixed(1)}" y="${(y(o.latency.p99) - 5).toFixed(1)}" font-size="10" fill="${COLORS[s]}">${o.latency.p99.toFixed(2)}</text>`,
        );
      }
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
