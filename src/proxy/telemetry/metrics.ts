// The proxy's Prometheus metrics: Istio's standard request metrics (same names, labels and buckets, so
// existing dashboards and alerts work unchanged) fed by the `weft:http:request` channel, plus proxy
// internals read from the live state at scrape time.
//
// Cost per request: a few nested Map lookups, one counter and three histogram increments (~0.2 µs). Label
// resolution (string building, SPIFFE parsing, escaping) happens once per distinct key and is cached;
// the cache is dropped whenever a new snapshot arrives, since endpoint labels may have changed, while
// the series (and their counts) live on.
//
// Telemetry `metrics` (the snapshot's `metrics` field) is compiled into a plan once per change
// (metric-overrides.ts); records then take a second path whose key also holds the values of the
// request-dependent tag expressions. A change of that field starts every istio_* series afresh (as a
// proxy restart would), so a removed label or a disabled metric is gone at once, not left behind.
//
// The channel is process-wide: one ProxyMetrics per process (one proxy per `weft proxy`) sees every
// record published in it.
import diagnostics_channel from 'node:diagnostics_channel';
import type { ProxySnapshot } from '../../model/snapshot.js';
import type { RequestRecord, TcpRecord } from './events.js';
import { Histogram, ISTIO_BYTES_BUCKETS, ISTIO_DURATION_MS_BUCKETS } from './histogram.js';
import {
  fillKey,
  istioLabels,
  istioPairs,
  KEY_PARTS,
  selfPeer,
  tcpLabels,
  tcpPairs,
  UNKNOWN_PEER,
  type PeerLabels,
} from './istio-labels.js';
import { KeyTree } from './key-tree.js';
import { renderInternals, type ClusterCounters, type ProxyInternals } from './internal-metrics.js';
import { Exposition, renderLabels, type ExpositionFormat, type Samples } from './prom-text.js';
import { processMetrics } from './process-metrics.js';
import { tcpRequestRecord } from './records.js';
import { SeriesStore, type Counter } from './series-store.js';
import {
  applyTags,
  compilePlan,
  type FamilyPlan,
  type MetricsPlan,
  type RequestMetric,
  type TcpMetric,
} from './metric-overrides.js';
import { TCP_METRICS } from '../../model/metrics-config.js';

export const REQUEST_CHANNEL = 'weft:http:request';
export const TCP_CHANNEL = 'weft:tcp:connection';

/** Above this many cached keys the key cache starts over (series are kept); a guard, not a normal event. */
const MAX_CACHED_KEYS = 10_000;

export { controlMetrics, type ControlStats, type ProxyInternals } from './internal-metrics.js';

interface RequestSeries {
  requests: Counter;
  duration: Histogram;
  requestBytes: Histogram;
  responseBytes: Histogram;
  /** Envoy flag UO (circuit breaker overflow) is in this series' flags. */
  overflow: boolean;
}

type TcpSeries = Record<TcpMetric, Counter>;

/** A side's request metrics with overrides: the plan plus its own key cache (the key is longer). */
interface OverrideSide {
  plan: FamilyPlan<RequestMetric>;
  tcp: FamilyPlan<TcpMetric>;
  key: unknown[];
  byKey: KeyTree<RequestSeries>;
}

export class ProxyMetrics {
  private readonly byKey = new KeyTree<RequestSeries>(KEY_PARTS);
  private readonly key: unknown[] = new Array(KEY_PARTS); // reused: no allocation per request
  private store = new SeriesStore();
  private readonly clusters = new Map<string, ClusterCounters>();
  private snapshot: ProxySnapshot | undefined;
  private self: PeerLabels = UNKNOWN_PEER;
  /** Telemetry metrics in effect: undefined = Istio's metrics unchanged (the default path). */
  private overrides: { client: OverrideSide; server: OverrideSide } | undefined;
  private metricsConfig = 'null';
  private readonly listener = (m: unknown) => this.record(m as RequestRecord);
  private tcp = new Map<string, TcpSeries>(); // by rendered labels: connections are rare next to requests
  private readonly tcpListener = (m: unknown) => this.recordTcp(m as TcpRecord);
  private subscribed = false;

  constructor(private readonly src: ProxyInternals) {}

  start(): void {
    if (this.subscribed) return;
    diagnostics_channel.subscribe(REQUEST_CHANNEL, this.listener);
    diagnostics_channel.subscribe(TCP_CHANNEL, this.tcpListener);
    this.subscribed = true;
  }

  stop(): void {
    if (!this.subscribed) return;
    diagnostics_channel.unsubscribe(REQUEST_CHANNEL, this.listener);
    diagnostics_channel.unsubscribe(TCP_CHANNEL, this.tcpListener);
    this.subscribed = false;
  }

  /** The hot path: one finished request. */
  record(r: RequestRecord): void {
    const snap = this.src.state()?.snapshot;
    if (snap !== this.snapshot) this.onSnapshot(snap);
    let s: RequestSeries | undefined;
    if (this.overrides === undefined) {
      fillKey(r, this.key);
      s = this.byKey.get(this.key) ?? this.resolve(r);
    } else s = this.overridden(r);
    if (s !== undefined) {
      s.requests.n++;
      s.duration.observe(r.durationMs);
      s.requestBytes.observe(r.requestBytes);
      s.responseBytes.observe(r.responseBytes);
    }
    const retries = (r.attempts ?? 0) - 1;
    const overflow = s ? s.overflow : r.flags.includes('UO');
    if ((retries > 0 || overflow) && r.upstreamCluster) {
      const c = this.cluster(r.upstreamCluster);
      if (retries > 0) c.retries += retries;
      if (overflow) c.overflows++;
    }
  }

  /** A request on a side with Telemetry overrides; undefined when that side exports none of them. */
  private overridden(r: RequestRecord): RequestSeries | undefined {
    const side = r.reporter === 'source' ? this.overrides!.client : this.overrides!.server;
    if (side.plan.off) return undefined;
    const key = side.key;
    fillKey(r, key);
    const values = side.plan.values;
    for (let i = 0; i < values.length; i++) key[KEY_PARTS + i] = values[i]!(r);
    const hit = side.byKey.get(key);
    if (hit) return hit;
    if (side.byKey.size >= MAX_CACHED_KEYS) side.byKey.clear();
    const base = istioPairs(r, this.self);
    const st = this.store;
    const labels = (m: RequestMetric) =>
      renderLabels(applyTags(base, side.plan.metrics[m].tags, key, KEY_PARTS));
    const on = (m: RequestMetric) => !side.plan.metrics[m].disabled;
    const s: RequestSeries = {
      requests: on('REQUEST_COUNT') ? st.counter(st.requests, labels('REQUEST_COUNT')) : st.detachedCounter,
      duration: on('REQUEST_DURATION')
        ? st.histogram(st.duration, labels('REQUEST_DURATION'), ISTIO_DURATION_MS_BUCKETS)
        : st.detachedDuration,
      requestBytes: on('REQUEST_SIZE')
        ? st.histogram(st.requestBytes, labels('REQUEST_SIZE'), ISTIO_BYTES_BUCKETS)
        : st.detachedBytes,
      responseBytes: on('RESPONSE_SIZE')
        ? st.histogram(st.responseBytes, labels('RESPONSE_SIZE'), ISTIO_BYTES_BUCKETS)
        : st.detachedBytes,
      overflow: r.flags.split(',').includes('UO'),
    };
    side.byKey.set(key, s);
    return s;
  }

  /** One TCP stream opened or closed (Istio's istio_tcp_* metrics). */
  recordTcp(r: TcpRecord): void {
    const snap = this.src.state()?.snapshot;
    if (snap !== this.snapshot) this.onSnapshot(snap);
    if (this.overrides !== undefined) return this.recordTcpOverridden(r);
    const labels = tcpLabels(r, this.self);
    let s = this.tcp.get(labels);
    if (!s) {
      const st = this.store;
      s = Object.fromEntries(TCP_METRICS.map((m) => [m, st.counter(st.tcp[m], labels)])) as TcpSeries;
      this.tcp.set(labels, s);
    }
    addTcp(r, s);
  }

  /** TCP streams are rare next to requests: their labels are edited per event, without a key cache. */
  private recordTcpOverridden(r: TcpRecord): void {
    const plan = (r.reporter === 'source' ? this.overrides!.client : this.overrides!.server).tcp;
    if (plan.off) return;
    const base = tcpPairs(r, this.self);
    const rec = plan.values.length ? tcpRequestRecord(r) : undefined;
    const values = plan.values.map((f) => f(rec!));
    const st = this.store;
    const s = {} as TcpSeries;
    for (const m of TCP_METRICS) {
      const p = plan.metrics[m];
      s[m] = p.disabled
        ? st.detachedCounter
        : st.counter(st.tcp[m], renderLabels(applyTags(base, p.tags, values, 0)));
    }
    addTcp(r, s);
  }

  private onSnapshot(snap: ProxySnapshot | undefined): void {
    this.snapshot = snap;
    this.self = selfPeer(snap?.proxy);
    this.byKey.clear();
    const config = JSON.stringify(snap?.metrics ?? null);
    if (config !== this.metricsConfig) {
      this.metricsConfig = config;
      this.store = new SeriesStore();
      this.tcp = new Map();
      this.overrides = undefined;
      if (snap?.metrics) {
        try {
          const plan = compilePlan(snap.metrics);
          this.overrides = { client: overrideSide(plan, 'client'), server: overrideSide(plan, 'server') };
        } catch (e) {
          // The control plane refuses such expressions at apply time; keep Istio's metrics rather than throw
          // inside a channel subscriber.
          console.error(`weft proxy: Telemetry metrics not applied: ${(e as Error).message}`);
        }
      }
    }
    this.overrides?.client.byKey.clear();
    this.overrides?.server.byKey.clear();
  }

  private resolve(r: RequestRecord): RequestSeries {
    if (this.byKey.size >= MAX_CACHED_KEYS) this.byKey.clear();
    const labels = istioLabels(r, this.self);
    const st = this.store;
    const s: RequestSeries = {
      requests: st.counter(st.requests, labels),
      duration: st.histogram(st.duration, labels, ISTIO_DURATION_MS_BUCKETS),
      requestBytes: st.histogram(st.requestBytes, labels, ISTIO_BYTES_BUCKETS),
      responseBytes: st.histogram(st.responseBytes, labels, ISTIO_BYTES_BUCKETS),
      overflow: r.flags.split(',').includes('UO'),
    };
    this.byKey.set(this.key, s);
    return s;
  }

  private cluster(name: string): ClusterCounters {
    let c = this.clusters.get(name);
    if (!c) this.clusters.set(name, (c = { retries: 0, overflows: 0 }));
    return c;
  }

  /** Number of distinct Istio label sets: the cardinality this proxy exports. */
  get seriesCount(): number {
    return this.store.labelSets.size;
  }

  render(format: ExpositionFormat): string {
    // A scrape sees a metrics config change at once, even before the next request.
    const snap = this.src.state()?.snapshot;
    if (snap !== this.snapshot) this.onSnapshot(snap);
    const e = new Exposition(format);
    const st = this.store;
    const counts = (m: Map<string, Counter>): Samples => [...m].map(([l, c]) => [l, c.n]);
    e.counter(
      'istio_requests_total',
      'Total number of requests handled by the proxy (Istio standard metric).',
      counts(st.requests),
    );
    e.histogram(
      'istio_request_duration_milliseconds',
      'Request duration in milliseconds (Istio standard metric).',
      st.duration,
    );
    e.histogram(
      'istio_request_bytes',
      'Request body size in bytes (Istio standard metric).',
      st.requestBytes,
    );
    e.histogram(
      'istio_response_bytes',
      'Response body size in bytes (Istio standard metric).',
      st.responseBytes,
    );
    e.counter(
      'istio_tcp_sent_bytes_total',
      'Bytes sent in responses over TCP connections (Istio standard metric).',
      counts(st.tcp.TCP_SENT_BYTES),
    );
    e.counter(
      'istio_tcp_received_bytes_total',
      'Bytes received in requests over TCP connections (Istio standard metric).',
      counts(st.tcp.TCP_RECEIVED_BYTES),
    );
    e.counter(
      'istio_tcp_connections_opened_total',
      'TCP connections opened (Istio standard metric).',
      counts(st.tcp.TCP_OPENED_CONNECTIONS),
    );
    e.counter(
      'istio_tcp_connections_closed_total',
      'TCP connections closed (Istio standard metric).',
      counts(st.tcp.TCP_CLOSED_CONNECTIONS),
    );
    renderInternals(e, this.src, this.clusters, this.snapshot?.version, this.store.labelSets.size);
    processMetrics(e);
    return e.text();
  }
}

function overrideSide(plan: MetricsPlan, side: 'client' | 'server'): OverrideSide {
  const p = plan[side];
  const depth = KEY_PARTS + p.http.values.length;
  return { plan: p.http, tcp: p.tcp, key: new Array(depth), byKey: new KeyTree(depth) };
}

function addTcp(r: TcpRecord, s: TcpSeries): void {
  if (r.event === 'open') s.TCP_OPENED_CONNECTIONS.n++;
  else {
    s.TCP_CLOSED_CONNECTIONS.n++;
    s.TCP_SENT_BYTES.n += r.sentBytes;
    s.TCP_RECEIVED_BYTES.n += r.receivedBytes;
  }
}
