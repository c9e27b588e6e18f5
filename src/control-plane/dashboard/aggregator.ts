// The dashboard's metrics, without Prometheus: every interval (2 s) it scrapes each connected proxy's
// /stats/prometheus, turns istio_requests_total and the duration histogram into per-interval deltas, and
// keeps a bounded ring of them per edge (workload → service → workload), per service and per workload.
// Scraping runs only while someone looks: the first API call starts it, and it stops after `idleMs`
// without one, so a mesh nobody watches pays nothing.
import { request } from 'undici';
import type { ProxyStatus } from '../push/server.js';
import type { Logger } from '../../lib/logger.js';
import { ISTIO_DURATION_MS_BUCKETS } from '../../proxy/telemetry/histogram.js';
import { parseSamples, type Sample } from './prom-parse.js';
import { addInto, emptyWindow, Ring, toPoint, type Point, type Window } from './series.js';
import { TCP_CLOSED, TCP_METRICS, TCP_OPENED, TcpEdges, type TcpEdgeView } from './tcp-edges.js';

export const BOUNDS: readonly number[] = [...ISTIO_DURATION_MS_BUCKETS, Infinity];
const BOUND_INDEX = new Map(BOUNDS.map((b, i) => [b, i]));

const REQUESTS = 'istio_requests_total';
const DURATION = 'istio_request_duration_milliseconds_bucket';
const WANTED = new Set([
  REQUESTS,
  DURATION,
  'weft_authz_decisions_total',
  'weft_upstream_ejections_active',
  'weft_upstream_endpoints_healthy',
  'weft_proxy_certificate_expiry_timestamp_seconds',
  'weft_proxy_config_nacks_total',
  ...TCP_METRICS,
]);
const IS_TCP = new Set<string>(TCP_METRICS);

export const UNKNOWN_NODE = 'wl:unknown';
export const workloadNode = (ns: string, name: string) =>
  name === 'unknown' || !name ? UNKNOWN_NODE : `wl:${ns}/${name}`;
export const serviceNode = (host: string) => `svc:${host}`;

interface EdgeSeries {
  source: string;
  target: string;
  mtls: boolean;
  flags: Set<string>;
  ring: Ring<Window>;
  current: Window; // this tick, pushed into ring at the end of it
}

export interface ProxyScrape {
  id: string;
  workload: string;
  namespace: string;
  lastScrape?: number;
  error?: string;
  certExpiry?: number; // epoch ms
  nacks?: number;
  authz: Array<{ decision: string; action: string; policy: string; count: number; rate: number }>;
  /** cluster name → active ejections / healthy endpoints, from this proxy's view. */
  ejections: Map<string, number>;
  healthy: Map<string, number>;
  prev?: Map<string, number>;
}

export interface EdgeView {
  id: string;
  source: string;
  target: string;
  rps: number;
  requests: number;
  errorRate: number | null;
  successRate: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  mtls: boolean;
  flags: string[];
  protocol: 'http';
}

export interface SeriesView {
  node: string;
  current: Point;
  series: Point[];
}

export interface AggregatorDeps {
  statuses: () => ProxyStatus[];
  log: Logger;
  intervalMs?: number;
  /** Ticks kept per series (default 150: five minutes at 2 s). */
  capacity?: number;
  /** Stop scraping after this long without an API call (default 10 minutes). */
  idleMs?: number;
  scrapeTimeoutMs?: number;
  /** Read the proxies' metrics from this Prometheus (base URL) instead of scraping them. */
  prometheus?: string;
}

const isError = (code: string) => code === '0' || code.startsWith('5');
/** The labels that tell an edge apart (and its mTLS), for Prometheus queries. */
const EDGE_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'destination_service',
  'destination_workload',
  'destination_workload_namespace',
  'connection_security_policy',
];

export class Aggregator {
  readonly intervalMs: number;
  private readonly capacity: number;
  private readonly idleMs: number;
  private timer: NodeJS.Timeout | undefined;
  private lastUse = 0;
  private lastTick = 0;
  private running: Promise<void> | undefined;
  private readonly edges = new Map<string, EdgeSeries>();
  private readonly ticks: Ring<{ t: number; seconds: number }>;
  private readonly proxies = new Map<string, ProxyScrape>();
  private readonly tcp: TcpEdges;
  /** Resolves after the next completed tick (for callers that just woke the aggregator). */
  private waiters: Array<() => void> = [];
  tickCount = 0;
  /** The last Prometheus query failure, when reading from Prometheus. */
  prometheusError: string | undefined;

  constructor(private readonly deps: AggregatorDeps) {
    this.intervalMs = deps.intervalMs ?? 2000;
    this.capacity = deps.capacity ?? 150;
    this.idleMs = deps.idleMs ?? 10 * 60_000;
    this.ticks = new Ring(this.capacity);
    this.tcp = new TcpEdges(this.capacity);
  }

  /** An API call: start scraping if idle. Resolves at once when data is flowing, else after two ticks
   *  (the first scrape of a proxy is only a baseline), bounded by `maxWaitMs`. */
  async touch(maxWaitMs = 0): Promise<void> {
    this.lastUse = Date.now();
    if (!this.timer) {
      this.deps.log.info(
        this.deps.prometheus
          ? 'dashboard metrics: querying Prometheus'
          : 'dashboard metrics: scraping proxies',
        {
          intervalMs: this.intervalMs,
          ...(this.deps.prometheus ? { prometheus: this.deps.prometheus } : {}),
        },
      );
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
      void this.tick();
    }
    if (maxWaitMs > 0 && this.tickCount < 2) {
      const deadline = Date.now() + maxWaitMs;
      while (this.tickCount < 2 && Date.now() < deadline)
        await Promise.race([
          new Promise<void>((r) => this.waiters.push(r)),
          new Promise((r) => setTimeout(r, deadline - Date.now()).unref()),
        ]);
    }
  }

  get source(): 'proxies' | 'prometheus' {
    return this.deps.prometheus ? 'prometheus' : 'proxies';
  }

  /** The Prometheus base URL the numbers come from, if any. */
  get prometheusUrl(): string | undefined {
    return this.deps.prometheus;
  }

  /**
   * Switches the source (`weft dashboard --prometheus-url`): a Prometheus base URL, or undefined for the
   * proxies. The series start over, since rates from the two sources are not comparable tick to tick.
   */
  async setPrometheus(url: string | undefined): Promise<void> {
    if (url === this.deps.prometheus) return;
    const wasActive = this.active;
    // A scrape in flight would write the old source's numbers after the reset.
    await this.running;
    this.stop();
    this.prometheusError = undefined;
    if (url) this.deps.prometheus = url;
    else delete this.deps.prometheus;
    this.deps.log.info('dashboard metrics: source changed', {
      source: this.source,
      ...(url ? { prometheus: url } : {}),
    });
    if (wasActive) void this.touch();
  }

  get active(): boolean {
    return this.timer !== undefined;
  }

  /** Stops scraping and forgets the baselines: counters read after a pause must not count as one tick. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.proxies.clear();
    this.edges.clear();
    this.tcp.clear();
    this.ticks.clear();
    this.tickCount = 0;
    this.lastTick = 0;
  }

  async tick(): Promise<void> {
    if (this.running) return this.running;
    if (this.timer && Date.now() - this.lastUse > this.idleMs) {
      this.deps.log.info('dashboard metrics: idle, scraping stopped');
      this.stop();
      return;
    }
    this.running = this.scrapeAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async scrapeAll(): Promise<void> {
    const now = Date.now();
    const seconds = this.lastTick ? (now - this.lastTick) / 1000 : this.intervalMs / 1000;
    this.lastTick = now;
    if (this.deps.prometheus) await this.fromPrometheus(this.deps.prometheus, now, seconds);
    else await this.scrapeProxies(now, seconds);
    // Close the tick: every edge gets a window (zero when idle); edges idle for the whole ring go.
    this.ticks.push({ t: now, seconds });
    for (const [k, e] of this.edges) {
      e.ring.push(e.current);
      e.current = emptyWindow(BOUNDS.length);
      if (e.ring.size >= this.capacity && e.ring.all().every((w) => w.requests === 0)) this.edges.delete(k);
    }
    this.tcp.closeTick();
    this.tickCount++;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  private proxyState(s: Pick<ProxyStatus, 'id' | 'workload' | 'namespace'>): ProxyScrape {
    let p = this.proxies.get(s.id);
    if (!p) {
      p = {
        id: s.id,
        workload: s.workload,
        namespace: s.namespace,
        authz: [],
        ejections: new Map(),
        healthy: new Map(),
      };
      this.proxies.set(s.id, p);
    }
    return p;
  }

  /** Every connected proxy's /stats/prometheus, as counter deltas since its previous scrape. */
  private async scrapeProxies(now: number, seconds: number): Promise<void> {
    const statuses = this.deps.statuses().filter((s) => s.metricsPort);
    const seen = new Set<string>();
    await Promise.all(
      statuses.map(async (s) => {
        seen.add(s.id);
        const p = this.proxyState(s);
        try {
          const res = await request(`http://127.0.0.1:${s.metricsPort}/stats/prometheus`, {
            headersTimeout: this.deps.scrapeTimeoutMs ?? 1500,
            bodyTimeout: this.deps.scrapeTimeoutMs ?? 1500,
          });
          const text = await res.body.text();
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
          this.ingest(p, parseSamples(text, WANTED), seconds);
          p.lastScrape = now;
          delete p.error;
        } catch (e) {
          p.error = (e as Error).message;
        }
      }),
    );
    for (const id of this.proxies.keys()) if (!seen.has(id)) this.proxies.delete(id);
  }

  /**
   * The same edges from a Prometheus server that scrapes the proxies (through /prometheus/targets, whose
   * `proxy` label names each one): per-second rates over the last minute, as the requests of this tick,
   * so a scrape interval longer than the tick does not make the numbers jump. Proxy gauges (certificate
   * expiry, ejections, authorization decisions) come from the latest samples.
   */
  private async fromPrometheus(base: string, now: number, seconds: number): Promise<void> {
    const query = async (q: string) => {
      const res = await request(`${base.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(q)}`, {
        headersTimeout: this.deps.scrapeTimeoutMs ?? 1500,
        bodyTimeout: this.deps.scrapeTimeoutMs ?? 1500,
      });
      const body = (await res.body.json()) as {
        status: string;
        error?: string;
        data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      if (body.status !== 'success') throw new Error(`Prometheus: ${body.error ?? `HTTP ${res.statusCode}`}`);
      return body.data?.result ?? [];
    };
    const by = EDGE_LABELS.join(',');
    try {
      const [requests, buckets, gauges, connections, ...tcpRates] = await Promise.all([
        query(`sum by (${by},response_code,response_flags) (rate(${REQUESTS}[1m]))`),
        query(`sum by (${by},le) (rate(${DURATION}[1m]))`),
        query(`{__name__=~"${[...WANTED].filter((n) => n.startsWith('weft_')).join('|')}"}`),
        // Connections open now: the counters' current totals (opened − closed per edge).
        query(`sum by (__name__,${by}) ({__name__=~"${TCP_OPENED}|${TCP_CLOSED}"})`),
        ...TCP_METRICS.map((m) => query(`sum by (${by},response_flags) (rate(${m}[1m]))`)),
      ]);
      for (const r of requests) this.route(REQUESTS, r.metric, Number(r.value[1]) * seconds);
      for (const r of buckets) this.route(DURATION, r.metric, Number(r.value[1]) * seconds);
      for (const r of connections) this.routeTcp(r.metric.__name__ ?? '', r.metric, 0, Number(r.value[1]));
      TCP_METRICS.forEach((m, i) => {
        for (const r of tcpRates[i]!) this.routeTcp(m, r.metric, Number(r.value[1]) * seconds, undefined);
      });
      const perProxy = new Map<string, Sample[]>();
      for (const g of gauges) {
        const id = g.metric.proxy ?? g.metric.instance ?? 'unknown';
        const { __name__: name = '', ...labels } = g.metric;
        const key = Object.entries(labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(',');
        perProxy.set(id, [...(perProxy.get(id) ?? []), { name, key, labels, value: Number(g.value[1]) }]);
      }
      const seen = new Set<string>();
      for (const [id, samples] of perProxy) {
        const l = samples[0]!.labels;
        const p = this.proxyState({ id, workload: l.workload ?? id, namespace: l.namespace ?? '' });
        this.ingest(p, samples, seconds);
        p.lastScrape = now;
        seen.add(id);
      }
      for (const id of this.proxies.keys()) if (!seen.has(id)) this.proxies.delete(id);
      this.prometheusError = undefined;
    } catch (e) {
      this.prometheusError = (e as Error).message;
    }
  }

  private edge(source: string, target: string): EdgeSeries {
    const k = `${source}->${target}`;
    let e = this.edges.get(k);
    if (!e) {
      e = {
        source,
        target,
        mtls: false,
        flags: new Set(),
        ring: new Ring(this.capacity),
        current: emptyWindow(BOUNDS.length),
      };
      // Pad with empty ticks so an edge's series lines up with the others.
      for (let i = 0; i < this.ticks.size; i++) e.ring.push(emptyWindow(BOUNDS.length));
      this.edges.set(k, e);
    }
    return e;
  }

  /**
   * The nodes a sample's traffic passes (workload → service → workload), or none when the other side
   * counts it: the client side reports every request it sends (fault aborts included, which the server
   * never sees); the server side only counts for callers outside the mesh.
   */
  private ends(l: Record<string, string>): string[] {
    const src = workloadNode(l.source_workload_namespace ?? '', l.source_workload ?? 'unknown');
    // A caller with a mesh identity is a mesh proxy even where its workload name is not known (the
    // server side of a TCP stream knows only the peer's certificate): its own side counts the traffic.
    const meshCaller = src !== UNKNOWN_NODE || (l.source_principal ?? '').startsWith('spiffe://');
    if (l.reporter !== 'source' && meshCaller) return [];
    const svc = serviceNode(l.destination_service ?? 'unknown');
    const dst = workloadNode(l.destination_workload_namespace ?? '', l.destination_workload ?? 'unknown');
    return dst === UNKNOWN_NODE ? [src, svc] : [src, svc, dst];
  }

  private routeTcp(name: string, l: Record<string, string>, delta: number, total: number | undefined): void {
    this.tcp.record(this.ends(l), name, l, delta, total, this.ticks.size);
  }

  /** One request (or duration bucket) sample's increase, into the edges it belongs to. */
  private route(name: string, l: Record<string, string>, delta: number): void {
    if (!(delta > 0)) return;
    const ends = this.ends(l);
    const edges = ends.slice(1).map((to, i) => this.edge(ends[i]!, to));
    for (const e of edges) {
      if (name === REQUESTS) {
        e.current.requests += delta;
        if (isError(l.response_code ?? '')) e.current.errors += delta;
        if (l.connection_security_policy === 'mutual_tls') e.mtls = true;
        if (l.response_flags && l.response_flags !== '-') e.flags.add(l.response_flags);
      } else {
        const i = BOUND_INDEX.get(l.le === '+Inf' ? Infinity : Number(l.le));
        if (i !== undefined) e.current.buckets[i]! += delta;
      }
    }
  }

  /** Counter deltas since this proxy's previous scrape, into the edges they belong to. */
  private ingest(p: ProxyScrape, samples: Sample[], seconds: number): void {
    const prev = p.prev;
    const next = new Map<string, number>();
    const authz: ProxyScrape['authz'] = [];
    p.ejections = new Map();
    p.healthy = new Map();
    for (const s of samples) {
      const id = s.name + '{' + s.key;
      const delta = (() => {
        if (!prev) return 0; // the first scrape is the baseline
        const before = prev.get(id);
        if (before === undefined) return s.value; // a series born since the last scrape
        return s.value >= before ? s.value - before : s.value; // a counter reset: the proxy restarted
      })();
      if (IS_TCP.has(s.name)) {
        next.set(id, s.value);
        this.routeTcp(s.name, s.labels, delta, s.value);
        continue;
      }
      switch (s.name) {
        case REQUESTS:
        case DURATION:
          next.set(id, s.value);
          if (delta > 0) this.route(s.name, s.labels, delta);
          break;
        case 'weft_authz_decisions_total':
          next.set(id, s.value);
          authz.push({
            decision: s.labels.decision ?? '',
            action: s.labels.action ?? '',
            policy: s.labels.policy ?? '',
            count: s.value,
            rate: seconds > 0 ? Math.round((delta / seconds) * 100) / 100 : 0,
          });
          break;
        case 'weft_upstream_ejections_active':
          p.ejections.set(s.labels.cluster_name ?? '', s.value);
          break;
        case 'weft_upstream_endpoints_healthy':
          p.healthy.set(s.labels.cluster_name ?? '', s.value);
          break;
        case 'weft_proxy_certificate_expiry_timestamp_seconds':
          p.certExpiry = s.value * 1000;
          break;
        case 'weft_proxy_config_nacks_total':
          p.nacks = s.value;
          break;
      }
    }
    p.authz = authz;
    p.prev = next;
  }

  /** Every edge with traffic in the ring, summed over the last `ticks` intervals. */
  graphEdges(ticks = 5): EdgeView[] {
    const span = this.ticks.last(ticks);
    const seconds = span.reduce((a, t) => a + t.seconds, 0);
    const t = span[span.length - 1]?.t ?? Date.now();
    const out: EdgeView[] = [];
    for (const [id, e] of this.edges) {
      const w = emptyWindow(BOUNDS.length);
      for (const x of e.ring.last(ticks)) addInto(w, x);
      const pt = toPoint(t, seconds, w, BOUNDS);
      out.push({
        id,
        source: e.source,
        target: e.target,
        rps: pt.rps,
        requests: w.requests,
        errorRate: pt.successRate === null ? null : Math.round((1 - pt.successRate) * 10000) / 10000,
        successRate: pt.successRate,
        p50: pt.p50,
        p95: pt.p95,
        p99: pt.p99,
        mtls: e.mtls,
        flags: [...e.flags].sort(),
        protocol: 'http',
      });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** TCP edges (istio_tcp_*) with traffic in the last `ticks` intervals or connections open now. */
  tcpEdges(ticks = 5): TcpEdgeView[] {
    const seconds = this.ticks.last(ticks).reduce((a, t) => a + t.seconds, 0);
    return this.tcp.views(ticks, seconds);
  }

  /**
   * Golden metrics per node: services from the edges into them, workloads from the edges into them
   * (their inbound traffic) or, for workloads nobody calls (gateways), out of them.
   */
  nodeSeries(kind: 'service' | 'workload', ticks = 5): SeriesView[] {
    const groups = new Map<string, EdgeSeries[]>();
    const add = (node: string, e: EdgeSeries) => {
      const g = groups.get(node);
      if (g) g.push(e);
      else groups.set(node, [e]);
    };
    for (const e of this.edges.values()) {
      if (kind === 'service' && e.target.startsWith('svc:')) add(e.target, e);
      if (kind === 'workload' && e.target.startsWith('wl:')) add(e.target, e);
    }
    if (kind === 'workload')
      for (const e of this.edges.values())
        if (e.source.startsWith('wl:') && e.source !== UNKNOWN_NODE && !groups.has(e.source)) {
          const outbound = [...this.edges.values()].filter((x) => x.source === e.source);
          groups.set(e.source, outbound);
        }
    const tickList = this.ticks.all();
    const out: SeriesView[] = [];
    for (const [node, edges] of groups) {
      const rings = edges.map((e) => e.ring.all());
      const series: Point[] = tickList.map((tk, i) => {
        const w = emptyWindow(BOUNDS.length);
        for (const r of rings) {
          const x = r[i];
          if (x) addInto(w, x);
        }
        return toPoint(tk.t, tk.seconds, w, BOUNDS);
      });
      const span = tickList.slice(-ticks);
      const w = emptyWindow(BOUNDS.length);
      for (const e of edges) for (const x of e.ring.last(span.length)) addInto(w, x);
      const current = toPoint(
        span[span.length - 1]?.t ?? Date.now(),
        span.reduce((a, t) => a + t.seconds, 0),
        w,
        BOUNDS,
      );
      out.push({ node, current, series });
    }
    return out.sort((a, b) => a.node.localeCompare(b.node));
  }

  proxyScrapes(): ProxyScrape[] {
    return [...this.proxies.values()];
  }
}
