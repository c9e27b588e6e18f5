// gateway.networking.k8s.io: Gateway, HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, ReferenceGrant. Every upstream field is listed
// (standard and experimental channels, apis/v1/*_types.go) so strict validation accepts real manifests;
// the checks are the CRDs' OpenAPI patterns and CEL rules, so YAML the API server rejects is rejected here.
import { z } from 'zod';
import type {
  GatewayApiMeta,
  GRPCRouteSpec,
  HTTPRouteSpec,
  KubernetesGatewaySpec,
  ReferenceGrantSpec,
  TCPRouteSpec,
  TLSRouteSpec,
} from '../gateway-api-types.js';
import { dnsLabel, dnsSubdomain, labelMap, port, show, strict, stringMap } from './common.js';
import {
  backendRef,
  group,
  grpcRouteRule,
  hostname,
  httpRouteRule,
  kindName,
  parentRef,
  sectionName,
} from './gateway-api-routes.js';
import { caCertificateRef, gatewayTlsConfig } from './gateway-frontend-tls.js';

type Ctx = z.core.$RefinementCtx<unknown>;
const issue = (ctx: Ctx, path: Array<string | number>, message: string) =>
  ctx.addIssue({ code: 'custom', path, message });

/** Metadata as for other kinds, but creationTimestamp is kept: route precedence breaks ties by age. */
const metadata = z
  .object({
    name: dnsSubdomain,
    namespace: dnsLabel.optional(),
    labels: stringMap.optional(),
    annotations: stringMap.optional(),
    creationTimestamp: z.string().optional(),
  })
  .transform(({ name, namespace, labels, annotations, creationTimestamp }): GatewayApiMeta => ({
    name,
    namespace: namespace ?? 'default',
    ...(labels ? { labels } : {}),
    ...(annotations ? { annotations } : {}),
    ...(creationTimestamp ? { creationTimestamp } : {}),
  }));

/** A whole resource; `kinds` are the names accepted in YAML, `kind` the one stored. */
function resource<K extends string, S>(
  kind: K,
  spec: z.ZodType<S>,
  kinds: readonly [string, ...string[]] = [kind],
) {
  type Out = { apiVersion: string; kind: K; metadata: GatewayApiMeta; spec: S };
  return strict({
    apiVersion: z.string(),
    kind: z.enum(kinds),
    metadata,
    spec,
    status: z.unknown().optional(),
  }).transform((r): Out => {
    const { apiVersion, metadata, spec } = r as unknown as Out;
    return { apiVersion, kind, metadata, spec };
  });
}

// ---- routes --------------------------------------------------------------------------------------

const rulesCheck = (
  rules: Array<{ name?: string | undefined; matches?: unknown[] | undefined }>,
  ctx: Ctx,
) => {
  const total = rules.reduce((n, r) => n + (r.matches?.length ?? 1), 0);
  if (total > 128)
    issue(ctx, ['rules'], `a route may have at most 128 matches across its rules (got ${total})`);
  const names = new Set<string>();
  rules.forEach((r, i) => {
    if (r.name && names.has(r.name)) issue(ctx, ['rules', i, 'name'], `duplicate rule name ${show(r.name)}`);
    if (r.name) names.add(r.name);
  });
};

const commonRouteSpec = {
  parentRefs: z.array(parentRef).max(32).optional(),
  hostnames: z.array(hostname).max(16).optional(),
  useDefaultGateways: z.enum(['All', 'None']).optional(),
};

export const httpRouteSpec = strict({
  ...commonRouteSpec,
  rules: z.array(httpRouteRule).min(1).max(16).optional(),
}).superRefine((s, ctx) => rulesCheck(s.rules ?? [], ctx));

export const grpcRouteSpec = strict({
  ...commonRouteSpec,
  rules: z.array(grpcRouteRule).min(1).max(16).optional(),
}).superRefine((s, ctx) => rulesCheck(s.rules ?? [], ctx));

// TLSRoute and TCPRoute (apis/v1alpha2/tlsroute_types.go, tcproute_types.go; apis/v1/tlsroute_types.go,
// which v1alpha3 aliases): rules carry only backends, at least one each.
const l4Rule = strict({
  name: sectionName.optional(),
  backendRefs: z.array(backendRef).min(1).max(16),
});

/** TLSRoute v1alpha2: hostnames optional (at most 16), up to 16 rules. */
export const tlsRouteSpecV1alpha2 = strict({
  ...commonRouteSpec,
  rules: z.array(l4Rule).min(1).max(16),
}).superRefine((s, ctx) => rulesCheck(s.rules, ctx));

/** TLSRoute v1alpha3 and v1: at least one hostname (at most 1024), exactly one rule. */
export const tlsRouteSpecV1 = strict({
  ...commonRouteSpec,
  hostnames: z
    .array(hostname)
    .min(1, { error: 'a TLSRoute needs at least one hostname (the SNI names it takes)' })
    .max(1024),
  rules: z.array(l4Rule).min(1).max(1, { error: 'a TLSRoute has exactly one rule' }),
}).superRefine((s, ctx) => rulesCheck(s.rules, ctx));

export const tcpRouteSpec = strict({
  parentRefs: commonRouteSpec.parentRefs,
  useDefaultGateways: commonRouteSpec.useDefaultGateways,
  rules: z.array(l4Rule).min(1).max(16),
}).superRefine((s, ctx) => rulesCheck(s.rules, ctx));

// ---- Gateway -------------------------------------------------------------------------------------

const labelSelector = strict({
  matchLabels: labelMap.optional(),
  matchExpressions: z
    .array(
      strict({
        key: z.string().min(1),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

const namespacesFrom = strict({
  from: z.enum(['All', 'Same', 'Selector', 'None']).optional(),
  selector: labelSelector.optional(),
}).superRefine((n, ctx) => {
  if (n.from === 'Selector' && !n.selector) issue(ctx, ['selector'], 'is required when from is "Selector"');
});

const secretRef = strict({
  group: group.optional(),
  kind: kindName.optional(),
  name: z.string().min(1).max(253),
  namespace: dnsLabel.optional(),
});

const PROTOCOL =
  /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$/;

const listener = strict({
  name: sectionName,
  hostname: hostname.optional(),
  port,
  protocol: z.string().refine((p) => p.length <= 255 && PROTOCOL.test(p), {
    error: (iss) =>
      `must be HTTP, HTTPS, TLS, TCP, UDP or a domain-prefixed protocol (got ${show(iss.input)})`,
  }),
  tls: strict({
    mode: z.enum(['Terminate', 'Passthrough']).optional(),
    certificateRefs: z.array(secretRef).max(64).optional(),
    frontendValidation: strict({
      caCertificateRefs: z.array(caCertificateRef).min(1).max(8).optional(),
      mode: z.enum(['AllowValidOnly', 'AllowInsecureFallback']).optional(),
    }).optional(),
    options: stringMap.optional(),
  }).optional(),
  allowedRoutes: strict({
    namespaces: namespacesFrom.optional(),
    kinds: z
      .array(strict({ group: group.optional(), kind: kindName }))
      .max(8)
      .optional(),
  }).optional(),
});

export const kubernetesGatewaySpec = strict({
  gatewayClassName: z.string().min(1).max(253),
  listeners: z.array(listener).min(1, { error: 'a Gateway needs at least one listener' }).max(64),
  addresses: z
    .array(strict({ type: z.string().optional(), value: z.string().min(1).max(253).optional() }))
    .max(16)
    .optional(),
  infrastructure: strict({
    labels: stringMap.optional(),
    annotations: stringMap.optional(),
    parametersRef: strict({ group, kind: kindName, name: z.string().min(1).max(253) }).optional(),
  }).optional(),
  allowedListeners: strict({ namespaces: namespacesFrom.optional() }).optional(),
  tls: gatewayTlsConfig.optional(), // client certificate validation (gateway-frontend-tls.ts)
  defaultScope: z.enum(['All', 'None']).optional(),
}).superRefine((gw, ctx) => {
  const seen = new Set<string>();
  const combos = new Set<string>();
  gw.listeners.forEach((l, i) => {
    const proto = l.protocol.toUpperCase();
    if (seen.has(l.name)) issue(ctx, ['listeners', i, 'name'], `duplicate listener name ${show(l.name)}`);
    seen.add(l.name);
    const combo = `${l.port}/${proto}/${l.hostname ?? ''}`;
    if (combos.has(combo))
      issue(
        ctx,
        ['listeners', i],
        'the combination of port, protocol and hostname must be unique for each listener',
      );
    combos.add(combo);
    if (['HTTP', 'TCP', 'UDP'].includes(proto) && l.tls)
      issue(ctx, ['listeners', i, 'tls'], `tls must not be specified for protocol ${l.protocol}`);
    if (['TCP', 'UDP'].includes(proto) && l.hostname)
      issue(ctx, ['listeners', i, 'hostname'], `hostname must not be specified for protocol ${l.protocol}`);
    if (proto === 'HTTPS' && l.tls?.mode === 'Passthrough')
      issue(ctx, ['listeners', i, 'tls', 'mode'], 'tls mode must be Terminate for protocol HTTPS');
    if ((proto === 'HTTPS' || proto === 'TLS') && !l.tls)
      issue(ctx, ['listeners', i, 'tls'], `tls must be specified for protocol ${l.protocol}`);
    else if (proto === 'TLS' && !l.tls?.mode)
      issue(ctx, ['listeners', i, 'tls'], 'tls mode must be set for protocol TLS');
    if (
      l.tls &&
      (l.tls.mode ?? 'Terminate') === 'Terminate' &&
      !l.tls.certificateRefs?.length &&
      !Object.keys(l.tls.options ?? {}).length
    )
      issue(
        ctx,
        ['listeners', i, 'tls'],
        'certificateRefs or options must be specified when mode is Terminate',
      );
  });
});

// ---- ReferenceGrant ------------------------------------------------------------------------------

export const referenceGrantSpec = strict({
  from: z
    .array(strict({ group, kind: kindName, namespace: dnsLabel }))
    .min(1)
    .max(16),
  to: z
    .array(strict({ group, kind: kindName, name: z.string().min(1).max(253).optional() }))
    .min(1)
    .max(16),
});

const _checks: [
  z.ZodType<HTTPRouteSpec>,
  z.ZodType<GRPCRouteSpec>,
  z.ZodType<TLSRouteSpec>,
  z.ZodType<TLSRouteSpec>,
  z.ZodType<TCPRouteSpec>,
  z.ZodType<KubernetesGatewaySpec>,
  z.ZodType<ReferenceGrantSpec>,
] = [
  httpRouteSpec,
  grpcRouteSpec,
  tlsRouteSpecV1alpha2,
  tlsRouteSpecV1,
  tcpRouteSpec,
  kubernetesGatewaySpec,
  referenceGrantSpec,
];
void _checks;

export const httpRouteResource = resource('HTTPRoute', httpRouteSpec);
export const grpcRouteResource = resource('GRPCRoute', grpcRouteSpec);
// Written `kind: Gateway` by users; `KubernetesGateway` is accepted too so `weft get -o yaml` output re-applies.
export const kubernetesGatewayResource = resource('KubernetesGateway', kubernetesGatewaySpec, [
  'Gateway',
  'KubernetesGateway',
]);
export const referenceGrantResource = resource('ReferenceGrant', referenceGrantSpec);
export const tcpRouteResource = resource('TCPRoute', tcpRouteSpec);
/** TLSRoute's spec differs by version: v1alpha2 is looser than v1alpha3 and v1. */
export const tlsRouteResource = byApiVersion(
  { 'gateway.networking.k8s.io/v1alpha2': resource('TLSRoute', tlsRouteSpecV1alpha2) },
  resource('TLSRoute', tlsRouteSpecV1),
);

/**
 * One `kind` served by different schemas per API group (`Gateway`: Istio's or the Gateway API's). The
 * chosen schema's issues are passed through unchanged, so paths and messages read as if parsed directly.
 */
export function byApiGroup<T>(schemas: Record<string, z.ZodType<T>>, fallback: z.ZodType<T>): z.ZodType<T> {
  return dispatch((v) => v.slice(0, Math.max(0, v.lastIndexOf('/'))), schemas, fallback);
}

/** One kind whose spec differs by apiVersion (TLSRoute v1alpha2 against v1alpha3 and v1). */
export function byApiVersion<T>(schemas: Record<string, z.ZodType<T>>, fallback: z.ZodType<T>): z.ZodType<T> {
  return dispatch((v) => v, schemas, fallback);
}

function dispatch<T>(
  keyOf: (apiVersion: string) => string,
  schemas: Record<string, z.ZodType<T>>,
  fallback: z.ZodType<T>,
): z.ZodType<T> {
  return z.unknown().transform((value, ctx): T => {
    const apiVersion = (value as { apiVersion?: unknown } | null)?.apiVersion;
    const schema = (typeof apiVersion === 'string' && schemas[keyOf(apiVersion)]) || fallback;
    const r = schema.safeParse(value, { reportInput: true });
    if (r.success) return r.data;
    for (const iss of r.error.issues) ctx.issues.push(iss as z.core.$ZodRawIssue);
    return z.NEVER;
  }) as unknown as z.ZodType<T>;
}
