// The proxy's own metrics beside Istio's: clusters (retries, overflows, ejections, endpoints, requests
// in flight), the push stream, the workload certificate, authorization and JWT decisions, read from the
// live state at scrape time.
import type { ProxyState } from '../state.js';
import { authzCounts, jwtCounts } from '../security/decisions.js';
import { renderLabels, type Exposition, type Samples } from './prom-text.js';

export interface ControlStats {
  connected: boolean;
  version: string | undefined;
  acks: number;
  nacks: number;
}

/** What the metrics read from the proxy at scrape time; every source is optional for tests. */
export interface ProxyInternals {
  state: () => ProxyState | undefined;
  control?: () => ControlStats;
  certificateNotAfter?: () => Date | undefined;
  now?: () => number;
}

export interface ClusterCounters {
  retries: number;
  overflows: number;
}

/** Everything but the istio_* series; `seriesCount` is how many istio label sets the proxy exports. */
export function renderInternals(
  e: Exposition,
  src: ProxyInternals,
  clusters: Map<string, ClusterCounters>,
  applied: string | undefined,
  seriesCount: number,
): void {
  const state = src.state();
  // Every cluster of the current snapshot gets a series (0 until something happens), so rate() works
  // from the first request; clusters seen earlier keep theirs, counters never go backwards.
  const names = new Set<string>(clusters.keys());
  for (const name of state?.clusters.keys() ?? []) names.add(name);
  const label = new Map<string, string>();
  for (const n of [...names].sort()) label.set(n, renderLabels([['cluster_name', n]]));
  const perCluster = (f: (c: ClusterCounters) => number): Samples =>
    [...label].map(([n, l]) => [l, f(clusters.get(n) ?? { retries: 0, overflows: 0 })]);
  e.counter(
    'weft_upstream_retries_total',
    'Retries sent to a cluster (attempts after the first).',
    perCluster((c) => c.retries),
  );
  e.counter(
    'weft_upstream_overflows_total',
    'Requests refused by a cluster circuit breaker (response flag UO).',
    perCluster((c) => c.overflows),
  );
  const runtimes = [...(state?.clusters.values() ?? [])];
  const live = (f: (c: (typeof runtimes)[number]) => number): Samples =>
    runtimes.map((c) => [label.get(c.cluster.name)!, f(c)]);
  e.gauge(
    'weft_upstream_ejections_active',
    'Endpoints currently ejected by outlier detection.',
    live((c) => c.outliers?.ejectedHosts().length ?? 0),
  );
  e.gauge(
    'weft_upstream_endpoints_healthy',
    'Endpoints the control plane reports healthy.',
    live((c) => c.healthy.length),
  );
  e.gauge(
    'weft_upstream_requests_active',
    'Requests in flight to a cluster (what its circuit breaker counts).',
    live((c) => c.limits.inFlight),
  );

  controlMetrics(e, src.control?.(), applied);
  const notAfter = src.certificateNotAfter?.();
  if (notAfter) {
    const now = (src.now ?? Date.now)();
    e.gauge(
      'weft_proxy_certificate_expiry_seconds',
      'Seconds until the workload certificate expires (it is renewed at half life).',
      [['', Math.round((notAfter.getTime() - now) / 1000)]],
    );
    e.gauge(
      'weft_proxy_certificate_expiry_timestamp_seconds',
      'When the workload certificate expires, in Unix seconds.',
      [['', notAfter.getTime() / 1000]],
    );
  }
  e.counter(
    'weft_authz_decisions_total',
    'AuthorizationPolicy decisions by policy: every deny, every allow a policy made, and AUDIT matches.',
    authzCounts().map((c) => [
      renderLabels([
        ['decision', c.decision],
        ['action', c.action],
        ['policy', c.policy],
      ]),
      c.n,
    ]),
  );
  e.counter(
    'weft_jwt_authn_total',
    'Requests with a JWT, by outcome (failure: answered 401/403 by RequestAuthentication).',
    [...jwtCounts()].map(([result, n]) => [renderLabels([['result', result]]), n]),
  );
  e.gauge('weft_proxy_metric_series', 'Distinct istio_* label sets this proxy exports.', [['', seriesCount]]);
}

/** The push stream as the proxy's agent sees it: config version, connection, ACKs and NACKs. */
export function controlMetrics(
  e: Exposition,
  ctl: ControlStats | undefined,
  applied: string | undefined,
): void {
  const version = ctl?.version ?? applied;
  e.gauge(
    'weft_proxy_config_info',
    'The config version this proxy applied (always 1).',
    version ? [[renderLabels([['version', version]]), 1]] : [],
  );
  if (ctl) {
    e.gauge('weft_proxy_control_plane_connected', 'Whether the push stream is up (1) or not (0).', [
      ['', ctl.connected ? 1 : 0],
    ]);
    e.counter('weft_proxy_config_acks_total', 'Config snapshots applied and acknowledged.', [['', ctl.acks]]);
    e.counter('weft_proxy_config_nacks_total', 'Config snapshots rejected (NACK); the last good one stays.', [
      ['', ctl.nacks],
    ]);
  }
}
