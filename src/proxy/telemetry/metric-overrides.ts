// Telemetry `metrics` overrides as the proxy runs them: the snapshot's MetricsSettings compiled once into
// per-side plans (which series are exported, how their labels change), and the label edit itself.
// Request-dependent UPSERT values are compiled CEL closures (access-log/filter.ts); their results become
// extra parts of the series key, so a series is still resolved once per distinct value, not per request.
import type {
  IstioMetric,
  MetricOverride,
  MetricsSettings,
  MetricsSide,
} from '../../model/metrics-config.js';
import { REQUEST_METRICS, TCP_METRICS } from '../../model/metrics-config.js';
import type { RequestRecord } from './events.js';
import type { LabelPairs } from './istio-labels.js';
import { compileValue, constantValue } from './access-log/filter.js';

export type RequestMetric = (typeof REQUEST_METRICS)[number];
export type TcpMetric = (typeof TCP_METRICS)[number];

type Tag =
  | { name: string; op: 'remove' }
  | { name: string; op: 'const'; value: string }
  | { name: string; op: 'dyn'; index: number };

export interface MetricPlan {
  disabled: boolean;
  /** Sorted by name; empty = Istio's labels unchanged. */
  tags: Tag[];
}

/** One metric family (request or TCP metrics) on one side. */
export interface FamilyPlan<M extends IstioMetric> {
  /** Nothing of this family is exported on this side: the record is not looked at. */
  off: boolean;
  /** The distinct request-dependent expressions; their values extend the series key. */
  values: Array<(r: RequestRecord) => string>;
  metrics: Record<M, MetricPlan>;
}

export interface SidePlan {
  http: FamilyPlan<RequestMetric>;
  tcp: FamilyPlan<TcpMetric>;
}

export interface MetricsPlan {
  client: SidePlan;
  server: SidePlan;
}

function family<M extends IstioMetric>(side: MetricsSide, names: readonly M[]): FamilyPlan<M> {
  const exprs: string[] = [];
  const values: FamilyPlan<M>['values'] = [];
  const metricPlan = (o: MetricOverride | undefined): MetricPlan => ({
    disabled: side.providers.length === 0 || o?.disabled === true,
    tags: Object.entries(o?.tags ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, expr]): Tag => {
        if (expr === null) return { name, op: 'remove' };
        const c = constantValue(expr);
        if (c !== undefined) return { name, op: 'const', value: c };
        let index = exprs.indexOf(expr);
        if (index < 0) {
          index = exprs.push(expr) - 1;
          values.push(compileValue(expr));
        }
        return { name, op: 'dyn', index };
      }),
  });
  const metrics = Object.fromEntries(names.map((m) => [m, metricPlan(side.metrics[m])])) as Record<
    M,
    MetricPlan
  >;
  return { off: names.every((m) => metrics[m].disabled), values, metrics };
}

/** Compiled once per snapshot whose metrics settings changed; throws on an expression it cannot compile
 *  (the control plane refuses those at apply time, so only a newer control plane could send one). */
export function compilePlan(s: MetricsSettings): MetricsPlan {
  const side = (x: MetricsSide): SidePlan => ({
    http: family(x, REQUEST_METRICS),
    tcp: family(x, TCP_METRICS),
  });
  return { client: side(s.client), server: side(s.server) };
}

/** Istio's labels with the overrides applied: REMOVE drops, UPSERT replaces in place or appends.
 *  `dyn[offset + i]` holds the value of the family's i-th expression for this record. */
export function applyTags(
  base: LabelPairs,
  tags: Tag[],
  dyn: readonly unknown[],
  offset: number,
): LabelPairs {
  if (tags.length === 0) return base;
  const value = (t: Tag) =>
    t.op === 'const' ? t.value : t.op === 'dyn' ? String(dyn[offset + t.index]) : '';
  const byName = new Map(tags.map((t) => [t.name, t]));
  const out: LabelPairs = [];
  for (const [k, v] of base) {
    const t = byName.get(k);
    if (!t) out.push([k, v]);
    else if (t.op !== 'remove') out.push([k, value(t)]);
    byName.delete(k);
  }
  for (const t of byName.values()) if (t.op !== 'remove') out.push([t.name, value(t)]);
  return out;
}
