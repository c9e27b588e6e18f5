// telemetry.istio.io (v1, v1alpha1 share one schema): Telemetry. Every upstream field is listed
// (telemetry/v1/telemetry.proto) so that strict validation accepts real Istio YAML; the checks follow
// Istio's CRD schema (min lengths, ranges, CEL rules) and its webhook (ValidateTelemetry). Weft acts on
// `tracing` (config/compile/tracing.ts), `accessLogging` (config/compile/access-log.ts) and `metrics`
// (config/compile/telemetry-metrics.ts).
import { z } from 'zod';
import type { ObjectMeta } from '../types.js';
import { filterProblem, valueProblem } from '../../proxy/telemetry/access-log/filter.js';
import { duration, labelMap, nonEmptyString, numberRange, resource, show, strict } from './common.js';

export const TELEMETRY_API_VERSIONS = ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1'] as const;

// ---- Types ------------------------------------------------------------------------------------------

export type WorkloadMode = 'CLIENT_AND_SERVER' | 'CLIENT' | 'SERVER';

export interface TelemetryProviderRef {
  name: string;
}

export interface TelemetryCustomTag {
  literal?: { value: string };
  environment?: { name: string; defaultValue?: string };
  header?: { name: string; defaultValue?: string };
  formatter?: { value: string };
}

export interface TelemetryTracing {
  match?: { mode?: WorkloadMode };
  providers?: TelemetryProviderRef[];
  randomSamplingPercentage?: number;
  disableSpanReporting?: boolean;
  customTags?: Record<string, TelemetryCustomTag>;
  useRequestIdForTraceSampling?: boolean;
  enableIstioTags?: boolean;
  disableContextPropagation?: boolean;
}

export interface TelemetryMetrics {
  providers?: TelemetryProviderRef[];
  overrides?: Array<{
    match?: { metric?: string; customMetric?: string; mode?: WorkloadMode };
    disabled?: boolean;
    tagOverrides?: Record<string, { operation?: 'UPSERT' | 'REMOVE'; value?: string }>;
  }>;
  reportingInterval?: string;
}

export interface TelemetryAccessLogging {
  match?: { mode?: WorkloadMode };
  providers?: TelemetryProviderRef[];
  disabled?: boolean;
  filter?: { expression?: string };
}

export interface TelemetryTargetRef {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface TelemetrySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRef?: TelemetryTargetRef;
  targetRefs?: TelemetryTargetRef[];
  tracing?: TelemetryTracing[];
  metrics?: TelemetryMetrics[];
  accessLogging?: TelemetryAccessLogging[];
}

export interface Telemetry {
  apiVersion: string;
  kind: 'Telemetry';
  metadata: ObjectMeta;
  spec: TelemetrySpec;
  source?: { file: string; line: number };
}

// ---- Schema -----------------------------------------------------------------------------------------

type Ctx = z.core.$RefinementCtx;
const issue = (ctx: Ctx, path: Array<string | number>, message: string) =>
  ctx.addIssue({ code: 'custom', path, message });

const workloadMode = z.enum(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER'], {
  error: (iss) => `must be CLIENT_AND_SERVER, CLIENT or SERVER (got ${show(iss.input)})`,
});

/** The CRD's minLength 1: "name in body should be at least 1 chars long". */
const providerRef = strict({
  name: z.string().min(1, {
    error: 'must not be empty: the name of a MeshConfig extensionProviders entry, e.g. "otel" or "zipkin"',
  }),
});
const providers = z.array(providerRef);

const TARGET_KINDS = [
  { group: 'gateway.networking.k8s.io', kind: 'Gateway' },
  { group: 'gateway.networking.k8s.io', kind: 'GatewayClass' },
  { group: 'core', kind: 'Service' },
  { group: 'networking.istio.io', kind: 'ServiceEntry' },
];

const targetRef = strict({
  group: z.string().optional(),
  kind: nonEmptyString,
  name: nonEmptyString,
  namespace: z.string().optional(),
}).superRefine((r, ctx) => {
  const group = r.group === undefined || r.group === '' ? 'core' : r.group;
  if (!TARGET_KINDS.some((t) => t.group === group && t.kind === r.kind)) {
    issue(
      ctx,
      ['kind'],
      `a Telemetry can target a Gateway or GatewayClass (gateway.networking.k8s.io), a Service or a ServiceEntry (got ${show(`${r.group ?? ''}/${r.kind}`)})`,
    );
  }
  if (r.namespace !== undefined && r.namespace !== '') {
    issue(ctx, ['namespace'], 'cross-namespace references are not supported: leave namespace out');
  }
});

const tagValue = (what: string) => z.string().min(1, { error: `must not be empty: the ${what}` });

const customTag = strict({
  literal: strict({ value: tagValue('value every span gets') }).optional(),
  environment: strict({
    name: tagValue('environment variable to read'),
    defaultValue: z.string().optional(),
  }).optional(),
  header: strict({
    name: tagValue('request header to read'),
    defaultValue: z.string().optional(),
  }).optional(),
  formatter: strict({ value: tagValue('Envoy format string') }).optional(),
}).superRefine((t, ctx) => {
  const set = (['literal', 'environment', 'header', 'formatter'] as const).filter((k) => t[k] !== undefined);
  if (set.length !== 1) {
    issue(
      ctx,
      set.length ? [set[1] as string] : [],
      set.length === 0
        ? 'a custom tag needs one of literal: {value}, environment: {name}, header: {name}'
        : `a custom tag has exactly one type (found ${set.join(' and ')})`,
    );
  }
});

const tracing = strict({
  match: strict({ mode: workloadMode.optional() }).optional(),
  providers: providers.optional(),
  randomSamplingPercentage: numberRange(0, 100).optional(),
  disableSpanReporting: z.boolean().optional(),
  customTags: z.record(z.string(), customTag).optional(),
  useRequestIdForTraceSampling: z.boolean().optional(),
  enableIstioTags: z.boolean().optional(),
  disableContextPropagation: z.boolean().optional(),
}).superRefine((t, ctx) => {
  for (const name of Object.keys(t.customTags ?? {})) {
    if (name === '') issue(ctx, ['customTags'], 'a custom tag name must not be empty');
  }
});

const METRICS = [
  'ALL_METRICS',
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES',
  'GRPC_RESPONSE_MESSAGES',
] as const;

/** The CEL rules of TagOverride: an explicit UPSERT needs a value, REMOVE takes none. The value is
 *  compiled here too, so that an expression Weft cannot evaluate is refused at apply time with its file
 *  and field rather than NACKed by every proxy (operation defaults to UPSERT, so a value is needed). */
const tagOverride = strict({
  operation: z
    .enum(['UPSERT', 'REMOVE'], { error: (iss) => `must be UPSERT or REMOVE (got ${show(iss.input)})` })
    .optional(),
  value: z.string().optional(),
}).superRefine((o, ctx) => {
  if (o.operation !== 'REMOVE' && !o.value)
    issue(ctx, ['value'], 'value must be set when operation is UPSERT (the default)');
  if (o.operation === 'REMOVE' && o.value !== undefined)
    issue(ctx, ['value'], 'value must not be set when operation is REMOVE');
  const problem = o.operation !== 'REMOVE' && o.value ? valueProblem(o.value) : undefined;
  if (problem) issue(ctx, ['value'], problem);
});

/** A tag is a Prometheus label name (`__` names are Prometheus' own). */
const TAG_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const metricSelector = strict({
  metric: z
    .enum(METRICS, { error: (iss) => `must be one of ${METRICS.join(', ')} (got ${show(iss.input)})` })
    .optional(),
  customMetric: z.string().min(1, { error: 'customMetric must not be empty' }).optional(),
  mode: workloadMode.optional(),
}).superRefine((m, ctx) => {
  if (m.metric !== undefined && m.customMetric !== undefined)
    issue(ctx, ['customMetric'], 'set metric or customMetric, not both');
});

const metrics = strict({
  providers: providers.optional(),
  overrides: z
    .array(
      strict({
        match: metricSelector.optional(),
        disabled: z.boolean().optional(),
        tagOverrides: z.record(z.string(), tagOverride).optional(),
      }).superRefine((o, ctx) => {
        for (const tag of Object.keys(o.tagOverrides ?? {})) {
          if (!TAG_NAME.test(tag) || tag.startsWith('__'))
            issue(
              ctx,
              ['tagOverrides', tag],
              `${show(tag)} is not a Prometheus label name (letters, digits and _, not starting with a digit or __)`,
            );
        }
      }),
    )
    .optional(),
  reportingInterval: duration.optional(),
});

// The filter is compiled here too, so that an expression Weft cannot evaluate is refused at apply time
// with its file and field rather than NACKed by every proxy.
const accessLogging = strict({
  match: strict({ mode: workloadMode.optional() }).optional(),
  providers: providers.optional(),
  disabled: z.boolean().optional(),
  filter: strict({ expression: z.string().optional() }).optional(),
}).superRefine((l, ctx) => {
  const expr = l.filter?.expression;
  if (expr === undefined) return;
  const problem = filterProblem(expr);
  if (problem) issue(ctx, ['filter', 'expression'], problem);
});

export const telemetrySpec = strict({
  selector: strict({ matchLabels: labelMap.optional() }).optional(),
  targetRef: targetRef.optional(),
  targetRefs: z.array(targetRef).max(16, { error: 'must have at most 16 items' }).optional(),
  tracing: z.array(tracing).optional(),
  metrics: z.array(metrics).optional(),
  accessLogging: z.array(accessLogging).optional(),
}).superRefine((spec, ctx) => {
  const set = (['selector', 'targetRef', 'targetRefs'] as const).filter((k) => spec[k] !== undefined);
  if (set.length > 1) {
    issue(
      ctx,
      [set[1] as string],
      `set only one of selector, targetRef and targetRefs (found ${set.join(' and ')})`,
    );
  }
});

const _checkSpec: z.ZodType<TelemetrySpec> = telemetrySpec;
void _checkSpec;

export const telemetryResource = resource('Telemetry', telemetrySpec);
