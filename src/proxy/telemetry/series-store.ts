// The istio_* series a proxy exports, one map per metric keyed by rendered label text. With Istio's
// labels unchanged the four request metrics share one label text per series; Telemetry overrides may
// give each metric its own labels, or none (a disabled metric is fed to a detached cell nobody renders,
// so the hot path never branches on it).
import type { TcpMetric } from './metric-overrides.js';
import { Histogram, ISTIO_BYTES_BUCKETS, ISTIO_DURATION_MS_BUCKETS } from './histogram.js';

export interface Counter {
  n: number;
}

export class SeriesStore {
  readonly requests = new Map<string, Counter>();
  readonly duration = new Map<string, Histogram>();
  readonly requestBytes = new Map<string, Histogram>();
  readonly responseBytes = new Map<string, Histogram>();
  readonly tcp: Record<TcpMetric, Map<string, Counter>> = {
    TCP_OPENED_CONNECTIONS: new Map(),
    TCP_CLOSED_CONNECTIONS: new Map(),
    TCP_SENT_BYTES: new Map(),
    TCP_RECEIVED_BYTES: new Map(),
  };
  /** Distinct label texts of the request metrics (what weft_proxy_metric_series reports). */
  readonly labelSets = new Set<string>();
  readonly detachedCounter: Counter = { n: 0 };
  readonly detachedDuration = new Histogram(ISTIO_DURATION_MS_BUCKETS);
  readonly detachedBytes = new Histogram(ISTIO_BYTES_BUCKETS);

  counter(map: Map<string, Counter>, labels: string): Counter {
    let c = map.get(labels);
    if (!c) map.set(labels, (c = { n: 0 }));
    if (map === this.requests) this.labelSets.add(labels);
    return c;
  }

  histogram(map: Map<string, Histogram>, labels: string, bounds: readonly number[]): Histogram {
    let h = map.get(labels);
    if (!h) map.set(labels, (h = new Histogram(bounds)));
    this.labelSets.add(labels);
    return h;
  }
}
