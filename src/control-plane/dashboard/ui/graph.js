// The topology graph: a layered left-to-right layout computed here (longest path from the callers, then
// two barycenter sweeps to untangle each column), drawn as SVG. Cheap enough for 1,000 nodes: the
// layout runs only when the set of nodes or edges changes, and edge labels give way to tooltips when
// the graph is large.
/* global document, performance, window */
import { h } from 'preact';
import { useMemo, useRef, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);
const COL = 260;
const ROW = 74;
const SUB = 120; // between the sub-columns of a wrapped column
const LABEL_LIMIT = 150; // more edges than this: labels only on hover
export const ERROR_THRESHOLD = 0.05;

export function layout(nodes, edges) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const preds = new Map(nodes.map((n) => [n.id, []]));
  const succs = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (!byId.has(e.source) || !byId.has(e.target) || e.source === e.target) continue;
    preds.get(e.target).push(e.source);
    succs.get(e.source).push(e.target);
  }
  // Longest path from a node nobody calls; an edge closing a cycle is ignored.
  const rank = new Map();
  const onStack = new Set();
  const rankOf = (id) => {
    if (rank.has(id)) return rank.get(id);
    onStack.add(id);
    let r = 0;
    for (const p of preds.get(id)) if (!onStack.has(p)) r = Math.max(r, rankOf(p) + 1);
    onStack.delete(id);
    rank.set(id, r);
    return r;
  };
  const connected = nodes.filter((n) => preds.get(n.id).length || succs.get(n.id).length);
  for (const n of connected) rankOf(n.id);
  let maxRank = -1;
  for (const r of rank.values()) maxRank = Math.max(maxRank, r);
  // Nodes without traffic: their own columns at the right (workloads, then services).
  for (const n of nodes) if (!rank.has(n.id)) rank.set(n.id, maxRank + 1 + (n.kind === 'service' ? 1 : 0));
  const layers = [];
  for (const n of nodes) (layers[rank.get(n.id)] ??= []).push(n.id);
  const cols = layers.filter(Boolean);
  const pos = new Map();
  const place = () => cols.forEach((col) => col.forEach((id, i) => pos.set(id, i)));
  cols.forEach((col) => col.sort());
  place();
  const bary = (id, nb) => {
    const ns = nb.get(id);
    if (!ns.length) return pos.get(id);
    return ns.reduce((a, x) => a + pos.get(x), 0) / ns.length;
  };
  // Each column is placed as soon as it is sorted, so the next one sorts against the new order (with
  // stale positions two callers could keep their edges crossed).
  const sortCol = (col, nb) => {
    col.sort((a, b) => bary(a, nb) - bary(b, nb));
    col.forEach((id, i) => pos.set(id, i));
  };
  for (let sweep = 0; sweep < 2; sweep++) {
    for (const col of cols) sortCol(col, preds);
    for (const col of [...cols].reverse()) sortCol(col, succs);
  }
  // A tall column wraps into sub-columns, so a big mesh keeps a usable aspect ratio.
  const rowsMax = Math.max(15, Math.ceil(Math.sqrt(nodes.length) * 1.2));
  const xy = new Map();
  let x = 0;
  let width = 0;
  cols.forEach((col, c) => {
    const sub = Math.ceil(col.length / rowsMax);
    const rows = Math.ceil(col.length / sub);
    col.forEach((id, i) => {
      const s = Math.floor(i / rows);
      const r = i % rows;
      const inThis = Math.min(rows, col.length - s * rows);
      xy.set(id, { c, x: x + s * SUB, y: (r - (inThis - 1) / 2) * ROW + (s % 2 ? ROW / 2 : 0) });
    });
    width = x + (sub - 1) * SUB;
    x = width + COL;
  });
  let minY = 0;
  let maxY = 0;
  for (const p of xy.values()) {
    minY = Math.min(minY, p.y);
    maxY = Math.max(maxY, p.y);
  }
  // The top of each layer, so an edge that skips layers can pass above them.
  const colTop = cols.map(() => Infinity);
  for (const p of xy.values()) colTop[p.c] = Math.min(colTop[p.c], p.y);
  return { xy, colTop, width: Math.max(COL, width), minY, maxY, dense: nodes.length > 300 };
}

const fmt = (v, digits = 1) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));
/** Bytes per second in B/s, kB/s or MB/s (powers of 1000, as network rates are usually shown). */
export const fmtBytes = (v) =>
  v >= 1e6 ? `${fmt(v / 1e6)} MB/s` : v >= 1e3 ? `${fmt(v / 1e3)} kB/s` : `${fmt(v, 0)} B/s`;
const isTcp = (e) => e.protocol === 'tcp';
/** TCP edges (istio_tcp_*) carry bytes and connections, not requests. */
export const edgeLabel = (e) =>
  isTcp(e)
    ? `TCP · ${fmtBytes(e.bytesPerSecond)} · ${fmt(e.connectionsPerSecond)} conn/s · ${e.openConnections} open`
    : `${fmt(e.rps)} rps · ${e.errorRate === null ? '–' : fmt(e.errorRate * 100)}% err · p99 ${fmt(e.p99, 0)} ms`;

const short = (n, max = 26) => (n.length > max ? n.slice(0, max - 1) + '…' : n);

function Lock({ x, y }) {
  // A padlock: mTLS on this edge.
  return html`<g class="lock" transform="translate(${x},${y})"
    ><title>mTLS</title
    ><path d="M2 5 V3.5 a3 3 0 0 1 6 0 V5" fill="none" stroke="currentColor" stroke-width="1.4" /><rect
      x="0.5"
      y="5"
      width="9"
      height="7"
      rx="1.5"
      fill="currentColor"
  /></g>`;
}

function Node({ n, p, dense, selected, onSelect }) {
  const cls = `node ${n.kind} ${n.health}${n.gateway ? ' gateway' : ''}${selected ? ' selected' : ''}`;
  const title = `${n.kind} ${n.namespace ? n.namespace + '/' : ''}${n.name}\n${n.ready}/${n.instances} ready${
    n.ejected ? `, ${n.ejected} ejected` : ''
  }\nhealth: ${n.health}`;
  const badge =
    n.ejected > 0
      ? `${n.ejected} ejected`
      : n.instances > 0 && n.ready < n.instances
        ? `${n.instances - n.ready} unhealthy`
        : '';
  return html`<g
    class=${cls}
    data-id=${n.id}
    transform="translate(${p.x},${p.y})"
    onClick=${() => onSelect(n.id)}
  >
    <title>${title}</title>
    ${
      n.kind === 'service'
        ? html`<rect x="-18" y="-14" width="36" height="28" rx="6" />`
        : n.gateway
          ? html`<polygon points="-17,0 -9,-15 9,-15 17,0 9,15 -9,15" />`
          : html`<circle r="16" />`
    }
    <text class="kind" y="4" text-anchor="middle"
      >${n.kind === 'service' ? 'S' : n.gateway ? 'G' : n.kind === 'external' ? '?' : 'W'}</text
    >
    <text class="name" y="30" text-anchor="middle">${short(n.name, dense ? 16 : 26)}</text>
    ${badge && html`<text class="badge" y="-20" text-anchor="middle">⚠ ${badge}</text>`}
  </g>`;
}

function Edge({ e, a, b, showLabel, colTop }) {
  const r = 20;
  let d;
  let mid;
  if (b.x > a.x) {
    const [x1, y1, x2, y2] = [a.x + r, a.y, b.x - r, b.y];
    const dx = (x2 - x1) / 2;
    // An edge that skips a layer bows away from the nodes in between.
    let bow = 0;
    if (b.c - a.c > 1) {
      const top = Math.min(...colTop.slice(a.c + 1, b.c));
      bow = Math.min(0, (top - 75 - (y1 + y2) / 2) / 0.75);
    }
    d = `M${x1},${y1} C${x1 + dx},${y1 + bow} ${x2 - dx},${y2 + bow} ${x2},${y2}`;
    mid = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 + 0.75 * bow };
  } else {
    // Same column or backwards (a cycle): a loop below.
    const [x1, y1, x2, y2] = [a.x, a.y + r, b.x, b.y + r];
    d = `M${x1},${y1} C${x1 + 60},${y1 + 90} ${x2 - 60},${y2 + 90} ${x2},${y2}`;
    mid = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 + 68 };
  }
  const bad = !isTcp(e) && e.errorRate !== null && e.errorRate > ERROR_THRESHOLD;
  // Width grows with the traffic: requests/s, or kB/s for TCP.
  const width = Math.min(6, 1.2 + Math.log10(1 + (isTcp(e) ? e.bytesPerSecond / 1000 : e.rps)) * 2);
  const label = edgeLabel(e);
  const cls = `edge${bad ? ' error' : ''}${e.mtls ? ' mtls' : ''}${isTcp(e) ? ' tcp' : ''}`;
  return html`<g class=${cls} data-id=${e.id}>
    <title>
      ${e.source} → ${e.target}
      ${label}${e.mtls ? '\nmTLS' : '\nplaintext'}${e.flags.length ? '\nflags: ' + e.flags.join(' ') : ''}
    </title>
    <path
      d=${d}
      stroke-width=${width}
      marker-end=${bad ? 'url(#arrow-red)' : isTcp(e) ? 'url(#arrow-tcp)' : 'url(#arrow)'}
    />
    ${
      showLabel &&
      // TCP labels go below the line: a CONNECT tunnel is also an HTTP edge between the same nodes.
      html`<g class="label" transform="translate(${mid.x},${mid.y + (isTcp(e) ? 14 : -6)})">
        <text text-anchor="middle">${label}</text>
        ${e.mtls && html`<${Lock} x=${-label.length * 2.9 - 14} y=${-10} />`}
      </g>`
    }
  </g>`;
}

function EdgeRows({ title, list, other }) {
  if (!list.length) return null;
  return html`<h4>${title}</h4>
    <table>
      <tbody>
        ${list.map(
          (e) =>
            html`<tr key=${e.id} class=${!isTcp(e) && e.errorRate > ERROR_THRESHOLD ? 'bad' : ''}>
              <td>
                ${other(e)
                  .replace(/^(wl|svc):/, '')
                  .replace(/\.svc\.cluster\.local$/, '')}
              </td>
              ${
                isTcp(e)
                  ? html`<td>TCP ${fmtBytes(e.bytesPerSecond)}</td>
                      <td>${fmt(e.connectionsPerSecond)} conn/s</td>
                      <td>${e.openConnections} open</td>`
                  : html`<td>${fmt(e.rps)} rps</td>
                      <td>${e.errorRate === null ? '–' : fmt(e.errorRate * 100)}%</td>
                      <td>p99 ${fmt(e.p99, 0)} ms</td>`
              }
              <td>${e.mtls ? 'mTLS' : 'plaintext'}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

function Details({ node, edges, onClose }) {
  const inbound = edges.filter((e) => e.target === node.id);
  const outbound = edges.filter((e) => e.source === node.id);
  return html`<aside class="details">
    <button class="close" onClick=${onClose}>×</button>
    <h3>${node.name}</h3>
    <p class="muted">
      ${node.kind}${node.gateway ? ' (gateway)' : ''}${node.namespace ? ' · ' + node.namespace : ''}
    </p>
    <p>
      health: <b class=${node.health}>${node.health}</b>${` · ${node.ready}/${node.instances} ready`}${
        node.ejected ? html`${' · '}<span class="warn">${node.ejected} ejected</span>` : ''
      }
    </p>
    <${EdgeRows} title="Inbound" list=${inbound} other=${(e) => e.source} />
    <${EdgeRows} title="Outbound" list=${outbound} other=${(e) => e.target} />
    ${!inbound.length && !outbound.length && html`<p class="muted">No traffic in this window.</p>`}
  </aside>`;
}

export function GraphView({ graph }) {
  const nodes = graph?.nodes ?? [];
  const edges = graph?.edges ?? [];
  const shape =
    nodes.map((n) => n.id).join('|') + '#' + edges.map((e) => e.source + '>' + e.target).join('|');
  const lay = useMemo(() => {
    const t0 = performance.now();
    const l = layout(nodes, edges);
    l.ms = performance.now() - t0;
    return l;
  }, [shape]);
  const [view, setView] = useState({ k: 1, x: 0, y: 0 });
  const [selected, setSelected] = useState(null);
  const drag = useRef(null);
  if (!graph) return html`<p class="muted">Waiting for the first scrape…</p>`;
  window.__weftGraph = { nodes: nodes.length, edges: edges.length, layoutMs: lay.ms };
  const pad = 90;
  const vb = `${-pad - 40} ${lay.minY - pad} ${lay.width + 2 * pad + 80} ${lay.maxY - lay.minY + 2 * pad}`;
  const showLabels = edges.length <= LABEL_LIMIT;
  const onWheel = (ev) => {
    ev.preventDefault();
    const k = Math.min(20, Math.max(0.2, view.k * (ev.deltaY < 0 ? 1.15 : 1 / 1.15)));
    setView({ ...view, k });
  };
  const onDown = (ev) => (drag.current = { x: ev.clientX, y: ev.clientY, v: view });
  const onMove = (ev) => {
    const d = drag.current;
    if (!d) return;
    const svg = document.querySelector('#graph svg.canvas');
    const scale = svg ? (lay.width + 2 * pad + 80) / svg.clientWidth : 1;
    setView({
      ...d.v,
      x: d.v.x + ((ev.clientX - d.x) * scale) / d.v.k,
      y: d.v.y + ((ev.clientY - d.y) * scale) / d.v.k,
    });
  };
  return html`<div id="graph" data-nodes=${nodes.length} data-edges=${edges.length}>
    <div class="graph-bar">
      <span
        >${`${nodes.length} nodes, ${edges.length} edges with traffic in the last ${graph.windowSeconds} s`}${
          graph.metrics
            ? ` · metrics from ${
                graph.metrics.source === 'prometheus'
                  ? `Prometheus ${graph.metrics.url ?? ''}`.trim()
                  : 'the proxies'
              }`
            : ''
        }</span
      >
      ${graph.metrics?.error && html`<span class="bad">⚠ ${graph.metrics.error}</span>`}
      <span class="legend">
        <span class="lg ok">healthy</span><span class="lg bad">edge error rate > 5 %</span
        ><span class="lg"
          ><svg width="12" height="13" viewBox="0 0 10 13"><${Lock} x=${0} y=${0} /></svg> mTLS</span
        ><span class="lg tcp">TCP (bytes, connections)</span
        ><span class="lg warn">⚠ unhealthy / ejected</span>
      </span>
      <button onClick=${() => setView({ k: 1, x: 0, y: 0 })}>reset view</button>
    </div>
    <svg
      class="canvas"
      viewBox=${vb}
      preserveAspectRatio="xMidYMid meet"
      onWheel=${onWheel}
      onMouseDown=${onDown}
      onMouseMove=${onMove}
      onMouseUp=${() => (drag.current = null)}
      onMouseLeave=${() => (drag.current = null)}
    >
      <defs>
        ${[
          ['arrow', 'arrow'],
          ['arrow-red', 'arrow red'],
          ['arrow-tcp', 'arrow tcp'],
        ].map(
          ([id, cls]) =>
            html`<marker
              id=${id}
              viewBox="0 0 10 10"
              refX="9"
              refY="5"
              markerWidth="10"
              markerHeight="10"
              markerUnits="userSpaceOnUse"
              orient="auto-start-reverse"
            >
              <path d="M0,0 L10,5 L0,10 z" class=${cls} />
            </marker>`,
        )}
      </defs>
      <g transform=${`scale(${view.k}) translate(${view.x},${view.y})`}>
        <g class="edges">
          ${edges.map((e) => {
            const a = lay.xy.get(e.source);
            const b = lay.xy.get(e.target);
            return (
              a &&
              b &&
              html`<${Edge} key=${e.id} e=${e} a=${a} b=${b} showLabel=${showLabels} colTop=${lay.colTop} />`
            );
          })}
        </g>
        <g class="nodes">
          ${nodes.map(
            (n) =>
              html`<${Node}
                key=${n.id}
                n=${n}
                p=${lay.xy.get(n.id)}
                dense=${lay.dense}
                selected=${n.id === selected}
                onSelect=${setSelected}
              />`,
          )}
        </g>
      </g>
    </svg>
    ${
      selected &&
      nodes.some((n) => n.id === selected) &&
      html`<${Details}
        node=${nodes.find((n) => n.id === selected)}
        edges=${edges}
        onClose=${() => setSelected(null)}
      />`
    }
  </div>`;
}
