// Small SVG line charts for golden metrics over time (no chart library: a few polylines).
import { h } from 'preact';
import htm from 'htm';

const html = htm.bind(h);

/** lines: [{ name, cls, values: [number|null] }]; a null breaks the line (no traffic in that tick). */
export function LineChart({ title, lines, unit = '', width = 220, height = 64, max }) {
  const all = lines.flatMap((l) => l.values).filter((v) => v !== null && v !== undefined);
  const top = max ?? Math.max(1e-9, ...all);
  const n = Math.max(2, ...lines.map((l) => l.values.length));
  const x = (i) => (i / (n - 1)) * (width - 2) + 1;
  const y = (v) => height - 14 - (Math.min(v, top) / top) * (height - 24);
  const segments = (values) => {
    const out = [];
    let cur = [];
    values.forEach((v, i) => {
      if (v === null || v === undefined) {
        if (cur.length) out.push(cur);
        cur = [];
      } else cur.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    });
    if (cur.length) out.push(cur);
    return out;
  };
  const last = (l) => [...l.values].reverse().find((v) => v !== null && v !== undefined);
  const fmt = (v) =>
    v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return html`<figure class="chart">
    <figcaption>
      ${title}
      ${lines.map((l) => html`<span class=${'key ' + l.cls}>${l.name} ${fmt(last(l))}${unit}</span>`)}
    </figcaption>
    <svg width=${width} height=${height} viewBox="0 0 ${width} ${height}">
      <line class="axis" x1="0" x2=${width} y1=${height - 14} y2=${height - 14} />
      <text class="tick" x="2" y="9">${fmt(top)}${unit}</text>
      ${lines.flatMap((l) =>
        segments(l.values).map((pts) =>
          pts.length === 1
            ? html`<circle
                class=${'pt ' + l.cls}
                cx=${pts[0].split(',')[0]}
                cy=${pts[0].split(',')[1]}
                r="1.5"
              />`
            : html`<polyline class=${'line ' + l.cls} points=${pts.join(' ')} />`,
        ),
      )}
    </svg>
  </figure>`;
}
