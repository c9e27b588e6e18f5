// Istio Telemetry `metrics` and MeshConfig -> what one proxy exports as Istio's standard metrics (the
// snapshot's `metrics` field). The rules follow istiod (pilot/pkg/model/telemetry.go `mergeMetrics`):
//
// - Telemetry resources apply root namespace first, then the proxy's namespace, then those selecting the
//   workload (`applicableTelemetries`); their `metrics` rules are read in that order.
// - Providers: the last rule naming providers decides which are in scope; a rule without providers acts
//   on its parent's (starting from `defaultProviders.metrics`). Weft exports to providers of kind
//   `prometheus` (the built-in `prometheus`, or an extensionProviders entry with `prometheus: {}`).
// - Overrides accumulate per side (`match.mode`: CLIENT = reporter source, SERVER = reporter destination)
//   and per metric (no `match.metric` = ALL_METRICS): a later `disabled` replaces an earlier one, tag
//   overrides are merged key by key. `ALL_METRICS` disabled turns the side off until a later ALL_METRICS
//   override with `disabled: false` turns it on again.
// - Nothing configured (no rule, no defaultProviders.metrics): the field stays absent and the proxy
//   exports Istio's metrics as they are, as Istio's default profile does.
import type { ProxyIdentity } from '../../model/snapshot.js';
import {
  ISTIO_METRICS,
  type IstioMetric,
  type MetricOverride,
  type MetricsSettings,
  type MetricsSide,
} from '../../model/metrics-config.js';
import type { TelemetryMetrics } from '../schemas/istio-telemetry.js';
import type { MeshIndex } from './inputs.js';
import { applicableTelemetries } from './tracing.js';

export const PROMETHEUS_PROVIDER = 'prometheus';

type Mode = 'CLIENT' | 'SERVER';
type Override = NonNullable<TelemetryMetrics['overrides']>[number];

const names = (m: TelemetryMetrics) => (m.providers ?? []).map((p) => p.name).filter((n) => n !== '');
const modes = (o: Override): Mode[] => {
  const m = o.match?.mode ?? 'CLIENT_AND_SERVER';
  return m === 'CLIENT_AND_SERVER' ? ['CLIENT', 'SERVER'] : [m];
};
/** istiod's isAllMetrics: no selector, or metric ALL_METRICS (the enum's default). */
const isAll = (o: Override) =>
  o.match?.customMetric === undefined && (o.match?.metric ?? 'ALL_METRICS') === 'ALL_METRICS';
const matches = (o: Override): IstioMetric[] =>
  o.match?.customMetric !== undefined ? [] : isAll(o) ? ISTIO_METRICS : [o.match!.metric as IstioMetric];

interface ProviderState {
  metrics: Record<Mode, Partial<Record<IstioMetric, MetricOverride>>>;
  allDisabled: Record<Mode, boolean>;
}

/** istiod's mergeMetrics: provider name -> per side overrides, for the providers in scope. */
export function mergeMetrics(rules: TelemetryMetrics[], defaults: string[]): Map<string, ProviderState> {
  const fresh = (): ProviderState => ({
    metrics: { CLIENT: {}, SERVER: {} },
    allDisabled: { CLIENT: false, SERVER: false },
  });
  const out = new Map<string, ProviderState>();
  if (rules.length === 0) {
    for (const d of defaults) out.set(d, fresh());
    return out;
  }
  let last = defaults;
  for (const r of rules) if (names(r).length) last = names(r);
  const inScope = new Set(last);
  let parent = defaults;
  for (const r of rules) {
    const providers = names(r).length ? names(r) : parent;
    parent = providers;
    for (const p of providers) {
      if (!inScope.has(p)) continue;
      let st = out.get(p);
      if (!st) out.set(p, (st = fresh()));
      for (const o of r.overrides ?? []) applyOverride(st, o);
    }
  }
  return out;
}

function applyOverride(st: ProviderState, o: Override): void {
  if (isAll(o) && o.disabled === true) {
    for (const m of modes(o)) st.allDisabled[m] = true;
    return;
  }
  if (isAll(o) && o.disabled === false) for (const m of modes(o)) st.allDisabled[m] = false;
  for (const mode of modes(o)) {
    for (const metric of matches(o)) {
      const cur: MetricOverride = { ...st.metrics[mode][metric] };
      if (o.disabled === true) cur.disabled = true;
      else if (o.disabled === false) delete cur.disabled;
      for (const [tag, t] of Object.entries(o.tagOverrides ?? {})) {
        cur.tags = { ...cur.tags, [tag]: t.operation === 'REMOVE' ? null : (t.value ?? '') };
      }
      st.metrics[mode][metric] = cur;
    }
  }
}

/** Whether Weft exports to this provider: the built-in `prometheus` or a `prometheus` extension provider. */
export function isPrometheus(index: MeshIndex, name: string): boolean {
  const p = (index.meshConfig.extensionProviders ?? []).find(
    (e) => e.name.toLowerCase() === name.toLowerCase(),
  );
  if (!p) return name.toLowerCase() === PROMETHEUS_PROVIDER;
  return (p as Record<string, unknown>).prometheus !== undefined;
}

function defaultProviders(index: MeshIndex): string[] | undefined {
  const d = (index.meshConfig as { defaultProviders?: { metrics?: unknown } }).defaultProviders?.metrics;
  return Array.isArray(d) ? d.filter((n): n is string => typeof n === 'string' && n !== '') : undefined;
}

const sorted = <T>(o: Record<string, T>): Record<string, T> =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function side(index: MeshIndex, merged: Map<string, ProviderState>, mode: Mode): MetricsSide {
  // One Prometheus endpoint per proxy: the first Prometheus provider in scope decides its overrides.
  const providers = [...merged.keys()].filter((p) => isPrometheus(index, p)).sort();
  const st = providers.length ? merged.get(providers[0]!)! : undefined;
  if (!st || st.allDisabled[mode]) return { providers: [], metrics: {} };
  const metrics: MetricsSide['metrics'] = {};
  for (const m of ISTIO_METRICS) {
    const o = st.metrics[mode][m];
    if (!o || (o.disabled === undefined && Object.keys(o.tags ?? {}).length === 0)) continue;
    metrics[m] = { ...(o.disabled ? { disabled: true } : {}), ...(o.tags ? { tags: sorted(o.tags) } : {}) };
  }
  return { providers, metrics };
}

const isDefault = (s: MetricsSide) => s.providers.length > 0 && Object.keys(s.metrics).length === 0;

export function compileMetrics(index: MeshIndex, proxy: ProxyIdentity): { metrics?: MetricsSettings } {
  const telemetries = applicableTelemetries(index, proxy).filter((t) => t.spec.metrics?.length);
  const rules = telemetries.flatMap((t) => t.spec.metrics ?? []);
  const defaults = defaultProviders(index);
  if (rules.length === 0 && defaults === undefined) return {};
  const merged = mergeMetrics(rules, defaults ?? [PROMETHEUS_PROVIDER]);
  const client = side(index, merged, 'CLIENT');
  const server = side(index, merged, 'SERVER');
  let interval: string | undefined;
  for (const r of rules) interval = r.reportingInterval ?? interval;
  if (isDefault(client) && isDefault(server) && interval === undefined) return {};
  return { metrics: { client, server, ...(interval !== undefined ? { reportingInterval: interval } : {}) } };
}
