// The Weft dashboard: Preact + htm as plain ES modules (no build step), refreshed every 2 s from the
// control plane's /api/*. Views: Graph, Services/Workloads (golden metrics), Tap, Config & proxies.
/* global document, window, fetch, EventSource, setInterval, clearInterval, URLSearchParams, location */
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { GraphView } from './graph.js';
import { LineChart } from './charts.js';

const html = htm.bind(h);
export const REFRESH_MS = 2000;

function usePoll(url, ms = REFRESH_MS) {
  const [state, setState] = useState({ data: undefined, error: undefined, at: undefined });
  useEffect(() => {
    let alive = true;
    const load = async () => {
      try {
        const res = await fetch(url, { cache: 'no-store' });
        if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
        const data = await res.json();
        if (alive) setState({ data, error: undefined, at: new Date() });
      } catch (e) {
        if (alive) setState((s) => ({ ...s, error: e.message }));
      }
    };
    load();
    const t = setInterval(load, ms);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [url]);
  return state;
}

const pct = (v) => (v === null || v === undefined ? '–' : (v * 100).toFixed(1) + '%');
const ms = (v) => (v === null || v === undefined ? '–' : v.toFixed(v < 10 ? 1 : 0) + ' ms');
const num = (v) => (v === null || v === undefined ? '–' : v.toFixed(v < 10 ? 2 : 1));

function Status({ error, at }) {
  return html`<span class=${error ? 'status bad' : 'status'}
    >${error ? `⚠ ${error}` : at ? `updated ${at.toLocaleTimeString()}` : 'loading…'}</span
  >`;
}

function GraphTab() {
  const { data, error, at } = usePoll('../api/graph');
  return html`<section>
    <h2>Topology <${Status} error=${error} at=${at} /></h2>
    <${GraphView} graph=${data} />
  </section>`;
}

function StatsTab() {
  const [kind, setKind] = useState('service');
  const { data, error, at } = usePoll(`../api/stats?kind=${kind}`);
  const items = data?.items ?? [];
  return html`<section>
    <h2>
      Golden metrics
      <select value=${kind} onChange=${(e) => setKind(e.target.value)}>
        <option value="service">services</option>
        <option value="workload">workloads</option>
      </select>
      <${Status} error=${error} at=${at} />
    </h2>
    <p class="muted">
      ${`Current values over the last ${data?.windowSeconds ?? 10} s; charts over the last ${Math.round(
        ((items[0]?.series.length ?? 0) * (data?.intervalMs ?? REFRESH_MS)) / 1000,
      )} s. Success = not 5xx.`}
    </p>
    <table class="stats">
      <thead>
        <tr>
          <th>name</th>
          <th>meshed</th>
          <th>success</th>
          <th>rps</th>
          <th>p50</th>
          <th>p95</th>
          <th>p99</th>
          <th>over time</th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (s) =>
            html`<tr key=${s.node} data-id=${s.node}>
              <td>
                <b>${s.name}</b>
                <div class="muted">${s.namespace}${s.gateway ? ' · gateway' : ''}</div>
              </td>
              <td class=${s.ready < s.instances ? 'warn' : ''}>
                ${s.meshed}${s.ejected ? html`<div class="warn">${s.ejected} ejected</div>` : ''}
              </td>
              <td class=${s.successRate !== null && s.successRate < 0.95 ? 'bad' : ''}>
                ${pct(s.successRate)}
              </td>
              <td>${num(s.rps)}</td>
              <td>${ms(s.p50)}</td>
              <td>${ms(s.p95)}</td>
              <td>${ms(s.p99)}</td>
              <td class="charts">
                <${LineChart}
                  title="rate"
                  unit=" rps"
                  lines=${[{ name: '', cls: 'c1', values: s.series.map((p) => p.rps) }]}
                />
                <${LineChart}
                  title="success"
                  unit="%"
                  max=${100}
                  lines=${[{ name: '', cls: 'c2', values: s.series.map((p) => (p.successRate === null ? null : p.successRate * 100)) }]}
                />
                <${LineChart}
                  title="latency"
                  unit=" ms"
                  lines=${[
                    { name: 'p50', cls: 'c1', values: s.series.map((p) => p.p50) },
                    { name: 'p95', cls: 'c3', values: s.series.map((p) => p.p95) },
                    { name: 'p99', cls: 'c4', values: s.series.map((p) => p.p99) },
                  ]}
                />
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

const TAP_FIELDS = ['source', 'destination', 'path', 'status'];
const TAP_ROWS = 300;

function TapTab() {
  const [filter, setFilter] = useState({ source: '', destination: '', path: '', status: '' });
  const [draft, setDraft] = useState(filter);
  const [running, setRunning] = useState(true);
  const [rows, setRows] = useState([]);
  const [info, setInfo] = useState('');
  const es = useRef(null);
  useEffect(() => {
    if (!running) return undefined;
    const q = new URLSearchParams();
    for (const k of TAP_FIELDS) if (filter[k]) q.set(k, filter[k]);
    const src = new EventSource(`../api/tap?${q}`);
    es.current = src;
    const desc = [...q].map(([k, v]) => `${k}=${v}`).join(' ') || 'everything';
    setRows([]);
    setInfo(`connecting… (${desc})`);
    src.addEventListener('ready', (ev) =>
      setInfo(`tapping ${JSON.parse(ev.data).proxies} proxies (${desc})`),
    );
    src.addEventListener('dropped', (ev) =>
      setInfo(`dropped ${JSON.parse(ev.data).dropped} events (too slow)`),
    );
    // Rows arrive in bursts under load: render at most four times a second.
    let pending = [];
    src.addEventListener('tap', (ev) => pending.push(JSON.parse(ev.data)));
    const flush = setInterval(() => {
      if (!pending.length) return;
      const batch = pending.reverse();
      pending = [];
      setRows((old) => [...batch, ...old].slice(0, TAP_ROWS));
    }, 250);
    src.onerror = () => setInfo('disconnected, retrying…');
    return () => {
      clearInterval(flush);
      src.close();
    };
  }, [running, JSON.stringify(filter)]);
  return html`<section id="tap">
    <h2>Live tap <span class="status">${info}</span></h2>
    <form
      class="filters"
      onSubmit=${(e) => {
        e.preventDefault();
        setFilter({ ...draft });
      }}
    >
      ${TAP_FIELDS.map(
        (k) =>
          html`<label
            >${k}<input
              name=${k}
              value=${draft[k]}
              placeholder=${k === 'status' ? '500 or 5xx' : k === 'path' ? '/prefix' : 'workload/service'}
              onInput=${(e) => setDraft({ ...draft, [k]: e.target.value.trim() })}
          /></label>`,
      )}
      <button type="submit">Apply</button>
      <button type="button" onClick=${() => setRunning(!running)}>${running ? 'Stop' : 'Start'}</button>
      <button type="button" onClick=${() => setRows([])}>Clear</button>
    </form>
    <table class="tap">
      <thead>
        <tr>
          <th>time</th>
          <th>reporter</th>
          <th>source</th>
          <th>destination</th>
          <th>method</th>
          <th>authority</th>
          <th>path</th>
          <th>status</th>
          <th>latency</th>
          <th>flags</th>
          <th>trace id</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (r, i) =>
            html`<tr key=${rows.length - i} class=${r.status >= 500 || r.status === 0 ? 'bad' : ''}>
              <td>${r.time.slice(11, 23)}</td>
              <td>${r.reporter === 'source' ? 'client' : 'server'}</td>
              <td>${r.sourceWorkload}</td>
              <td>${r.destinationWorkload !== 'unknown' ? r.destinationWorkload : r.destinationService}</td>
              <td>${r.method}</td>
              <td>${r.authority}</td>
              <td class="path">${r.path}</td>
              <td>${r.status}</td>
              <td>${ms(r.latencyMs)}</td>
              <td>${r.flags || '-'}</td>
              <td class="mono">${r.traceId ? r.traceId.slice(0, 16) : '-'}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function until(iso) {
  if (!iso) return '–';
  const s = (Date.parse(iso) - Date.now()) / 1000;
  if (s < 0) return 'EXPIRED';
  return s > 86400 * 2
    ? `${(s / 86400).toFixed(0)} d`
    : s > 3600
      ? `${(s / 3600).toFixed(1)} h`
      : `${(s / 60).toFixed(0)} min`;
}

function ConfigTab() {
  const cfg = usePoll('../api/config');
  const px = usePoll('../api/proxies');
  const az = usePoll('../api/authz');
  const resources = cfg.data?.items ?? [];
  return html`<section>
    <h2>Proxies <${Status} error=${px.error} at=${px.at} /></h2>
    <table class="proxies">
      <thead>
        <tr>
          <th>proxy</th>
          <th>kind</th>
          <th>ready</th>
          <th>config served / acked</th>
          <th>last NACK</th>
          <th>cert expires in</th>
        </tr>
      </thead>
      <tbody>
        ${(px.data?.items ?? []).map(
          (p) =>
            html`<tr key=${p.id} data-id=${p.id}>
              <td>${p.id}</td>
              <td>${p.kind}</td>
              <td class=${p.ready ? '' : 'bad'}>${p.ready ? 'yes' : 'no'}</td>
              <td class=${p.synced ? '' : 'warn'}>
                ${p.served ?? '–'} / ${p.acked ?? '–'} ${p.synced ? '✓ synced' : 'STALE'}
              </td>
              <td class=${p.nack ? 'bad' : ''}>${p.nack ? `${p.nack.version}: ${p.nack.reason}` : '–'}</td>
              <td>${until(p.certExpiry)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Config <${Status} error=${cfg.error} at=${cfg.at} /></h2>
    <p class="muted">
      ${cfg.data ? `${cfg.data.counts.resources} resources, ${cfg.data.counts.errors} errors, ${cfg.data.counts.warnings} warnings` : ''}
    </p>
    <table class="config">
      <thead>
        <tr>
          <th>kind</th>
          <th>namespace/name</th>
          <th>problems</th>
        </tr>
      </thead>
      <tbody>
        ${resources.map(
          (r) =>
            html`<tr key=${r.kind + r.namespace + r.name} class=${r.problems.length ? 'has-problems' : ''}>
              <td>${r.kind}</td>
              <td>${r.namespace}/${r.name}</td>
              <td>
                ${
                  r.problems.length === 0
                    ? html`<span class="ok">ok</span>`
                    : r.problems.map(
                        (p) =>
                          html`<div class=${p.severity === 'error' ? 'bad' : 'warn'}>
                            ${p.severity}: ${p.field ? html`<code>${p.field}</code> ` : ''}${p.message}${' '}
                            <span class="muted">${p.code}</span>
                          </div>`,
                      )
                }
              </td>
            </tr>`,
        )}
        ${(cfg.data?.other ?? []).map(
          (p, i) =>
            html`<tr key=${'o' + i}>
              <td>${p.kind ?? '–'}</td>
              <td>${p.name ?? '–'}</td>
              <td class="warn">${p.message}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Authorization decisions <${Status} error=${az.error} at=${az.at} /></h2>
    ${
      (az.data?.items ?? []).length === 0
        ? html`<p class="muted">No AuthorizationPolicy decisions yet.</p>`
        : html`<table class="authz">
            <thead>
              <tr>
                <th>workload</th>
                <th>proxy</th>
                <th>policy</th>
                <th>action</th>
                <th>decision</th>
                <th>total</th>
                <th>per s</th>
              </tr>
            </thead>
            <tbody>
              ${az.data.items.map(
                (a) =>
                  html`<tr key=${a.proxy + a.policy + a.decision + a.action}>
                    <td>${a.namespace}/${a.workload}</td>
                    <td>${a.proxy}</td>
                    <td>${a.policy}</td>
                    <td>${a.action}</td>
                    <td class=${a.decision === 'deny' ? 'bad' : ''}>${a.decision}</td>
                    <td>${a.count}</td>
                    <td>${num(a.rate)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}

const TABS = [
  ['graph', 'Graph', GraphTab],
  ['services', 'Services', StatsTab],
  ['tap', 'Tap', TapTab],
  ['config', 'Config & proxies', ConfigTab],
];

function App() {
  const current = () =>
    TABS.some(([id]) => id === location.hash.slice(1)) ? location.hash.slice(1) : 'graph';
  const [tab, setTab] = useState(current());
  useEffect(() => {
    const on = () => setTab(current());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  const View = TABS.find(([id]) => id === tab)[2];
  return html`<header>
      <h1>Weft</h1>
      <nav>
        ${TABS.map(([id, label]) => html`<a href=${'#' + id} class=${id === tab ? 'active' : ''} data-tab=${id}>${label}</a>`)}
      </nav>
    </header>
    <main><${View} /></main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "Loading…" placeholder
render(html`<${App} />`, root);
