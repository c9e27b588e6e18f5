// One Gateway API rule match -> one snapshot Route: filters become header edits, CORS, a redirect, a
// rewrite or mirrors; backendRefs become weighted clusters, where a backend that cannot be resolved keeps
// its share of traffic and answers 500 (spec: HTTPRouteRule.backendRefs). No default retries: Gateway API
// routes retry only when the rule says so.
import type {
  CorsPolicy,
  HeaderMutation,
  MirrorPolicy,
  RedirectPolicy,
  RetryPolicy,
  RewritePolicy,
  Route,
  RouteAction,
  StringMatcher,
  WeightedCluster,
} from '../../../model/snapshot.js';
import { parseDuration } from '../../duration.js';
import type {
  GRPCRouteFilter,
  HTTPCORSFilter,
  HTTPHeaderFilter,
  HTTPRequestMirrorFilter,
  HTTPRouteFilter,
  HTTPRouteRule,
} from '../../gateway-api-types.js';
import type { MeshIndex } from '../inputs.js';
import type { RuleEntry } from './matches.js';
import { resolveBackend } from './refs.js';

export interface ActionContext {
  index: MeshIndex;
  /** The listener (gateway) or service (sidecar) port: where a redirect without scheme or port points. */
  port: number;
}

type Filter = HTTPRouteFilter | GRPCRouteFilter;
const UNRESOLVED: WeightedCluster = { cluster: '', weight: 1, status: 500 };
const BACKOFF_BASE_MS = 25; // Envoy's default base interval; the cap is 10x the base, as in Envoy

export function headerMutation(f: HTTPHeaderFilter | undefined): HeaderMutation | undefined {
  if (!f) return undefined;
  const out: HeaderMutation = {};
  if (f.set?.length) out.set = f.set.map((h) => [h.name.toLowerCase(), h.value]);
  if (f.add?.length) out.add = f.add.map((h) => [h.name.toLowerCase(), h.value]);
  if (f.remove?.length) out.remove = f.remove.map((h) => h.toLowerCase());
  return out.set || out.add || out.remove ? out : undefined;
}

/** `https://*.example.com` -> a full-match regex; "*" alone -> any origin. */
function originMatcher(origin: string): StringMatcher {
  if (origin === '*') return { prefix: '' };
  if (!origin.includes('*')) return { exact: origin };
  return { regex: origin.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*') };
}

function corsPolicy(c: HTTPCORSFilter): CorsPolicy {
  return {
    allowOrigins: (c.allowOrigins ?? []).map(originMatcher),
    allowMethods: c.allowMethods ?? [],
    allowHeaders: c.allowHeaders ?? [],
    exposeHeaders: c.exposeHeaders ?? [],
    maxAgeSeconds: c.maxAge ?? 5, // spec default when unset
    ...(c.allowCredentials !== undefined ? { allowCredentials: c.allowCredentials } : {}),
  };
}

/** The prefix a ReplacePrefixMatch replaces: the entry's PathPrefix ("/" when the rule had no match). */
function prefixOf(e: RuleEntry): string {
  return e.prefix ?? '/';
}

function redirectPolicy(
  f: NonNullable<HTTPRouteFilter['requestRedirect']>,
  e: RuleEntry,
  ctx: ActionContext,
): RedirectPolicy {
  // Spec (HTTPRequestRedirectFilter.port): no port -> the scheme's well-known port, or without a scheme the
  // listener's port. The data path leaves out a port that is the default for the Location's scheme.
  const port = f.port ?? (f.scheme === 'https' ? 443 : f.scheme === 'http' ? 80 : ctx.port);
  const path = f.path;
  return {
    ...(f.scheme ? { scheme: f.scheme } : {}),
    ...(f.hostname ? { host: f.hostname } : {}),
    port,
    ...(path?.type === 'ReplaceFullPath' ? { path: path.replaceFullPath ?? '/' } : {}),
    ...(path?.type === 'ReplacePrefixMatch'
      ? { prefix: { matched: prefixOf(e), replacement: path.replacePrefixMatch ?? '' } }
      : {}),
    status: f.statusCode ?? 302,
  };
}

function rewritePolicy(f: NonNullable<HTTPRouteFilter['urlRewrite']>, e: RuleEntry): RewritePolicy {
  const out: RewritePolicy = {};
  if (f.hostname) out.authority = f.hostname;
  if (f.path?.type === 'ReplaceFullPath') out.fullPath = f.path.replaceFullPath ?? '/';
  if (f.path?.type === 'ReplacePrefixMatch')
    out.prefix = { matched: prefixOf(e), replacement: f.path.replacePrefixMatch ?? '' };
  return out;
}

function mirrorPolicy(
  m: HTTPRequestMirrorFilter,
  e: RuleEntry,
  ctx: ActionContext,
): MirrorPolicy | undefined {
  const r = resolveBackend(m.backendRef, e.route, ctx.index);
  if (!r.ok) return undefined; // spec: an invalid mirror backend is dropped (and reported in status)
  const percentage =
    m.percent ?? (m.fraction ? (m.fraction.numerator / (m.fraction.denominator ?? 100)) * 100 : 100);
  return { cluster: r.cluster, percentage };
}

function backends(e: RuleEntry, ctx: ActionContext): WeightedCluster[] {
  const out: WeightedCluster[] = [];
  for (const b of e.rule.backendRefs ?? []) {
    const weight = b.weight ?? 1;
    if (weight === 0) continue; // spec: weight 0 = never
    const r = resolveBackend(b, e.route, ctx.index);
    if (!r.ok) {
      out.push({ ...UNRESOLVED, weight });
      continue;
    }
    const filters: Filter[] = b.filters ?? [];
    const req = headerMutation(
      filters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier,
    );
    const res = headerMutation(
      filters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier,
    );
    out.push({
      cluster: r.cluster,
      weight,
      ...(req ? { requestHeaders: req } : {}),
      ...(res ? { responseHeaders: res } : {}),
    });
  }
  // No backendRefs (or only weight 0) and no redirect: nothing can answer, so 500 as Istio does.
  return out.length ? out : [UNRESOLVED];
}

/** timeouts.request bounds the whole exchange; timeouts.backendRequest each try; "0s" disables either. */
function timing(rule: HTTPRouteRule): { timeoutMs?: number; retry?: RetryPolicy } {
  const request = rule.timeouts?.request ? parseDuration(rule.timeouts.request) : 0;
  const perTry = rule.timeouts?.backendRequest ? parseDuration(rule.timeouts.backendRequest) : 0;
  const r = rule.retry;
  const codes = r?.codes ?? [];
  const base = r?.backoff ? parseDuration(r.backoff) : BACKOFF_BASE_MS;
  let retry: RetryPolicy | undefined;
  if ((r && r.attempts !== 0) || perTry) {
    retry = {
      // Unset attempts: 2, Istio's default for `retry: {}`; an explicit 0 disables retries (spec).
      attempts: r ? (r.attempts ?? 2) : 0,
      ...(perTry ? { perTryTimeoutMs: perTry } : {}),
      // Spec (HTTPRouteRetry): retry when no connection could be made or the stream was refused, and on
      // the listed codes; not on resets after the request was sent.
      retryOn: r
        ? ['connect-failure', 'refused-stream', ...(codes.length ? ['retriable-status-codes'] : [])]
        : [],
      retriableStatusCodes: codes,
      nonIdempotent: false,
      backoffBaseMs: base,
      backoffMaxMs: base * 10,
    };
  }
  return { ...(request ? { timeoutMs: request } : {}), ...(retry ? { retry } : {}) };
}

export function routeName(e: RuleEntry): string {
  const { kind, metadata } = e.route;
  return `${kind}/${metadata.namespace}/${metadata.name}#rules[${e.rule.name ?? e.ruleIndex}]`;
}

export function compileEntry(e: RuleEntry, ctx: ActionContext): Route {
  const filters: Filter[] = e.rule.filters ?? [];
  const find = <T extends Filter['type']>(t: T) =>
    filters.find((f) => f.type === t) as HTTPRouteFilter | undefined;
  const req = headerMutation(find('RequestHeaderModifier')?.requestHeaderModifier);
  const res = headerMutation(find('ResponseHeaderModifier')?.responseHeaderModifier);
  const cors = find('CORS' as Filter['type'])?.cors;
  const base: Omit<Route, 'action'> = {
    name: routeName(e),
    matches: [e.match],
    ...(req ? { requestHeaders: req } : {}),
    ...(res ? { responseHeaders: res } : {}),
    ...(cors ? { cors: corsPolicy(cors) } : {}),
  };
  return { ...base, action: action(e, filters, ctx) };
}

function action(e: RuleEntry, filters: Filter[], ctx: ActionContext): RouteAction {
  // Spec (HTTPRouteFilter.type): a filter that cannot be applied must not be skipped; fail closed.
  const unsupported = filters.find((f) => f.type === 'ExtensionRef' || f.type === 'ExternalAuth');
  if (unsupported)
    return { kind: 'direct', status: 500, body: `filter ${unsupported.type} is not supported by Weft` };
  const http = filters as HTTPRouteFilter[];
  const redirect = http.find((f) => f.type === 'RequestRedirect')?.requestRedirect;
  if (redirect) return { kind: 'redirect', redirect: redirectPolicy(redirect, e, ctx) };
  const rewrite = http.find((f) => f.type === 'URLRewrite')?.urlRewrite;
  const mirrors = filters
    .filter((f) => f.type === 'RequestMirror' && f.requestMirror)
    .map((f) => mirrorPolicy(f.requestMirror!, e, ctx))
    .filter((m): m is MirrorPolicy => !!m);
  return {
    kind: 'forward',
    clusters: backends(e, ctx),
    ...(e.route.kind === 'HTTPRoute' ? timing(e.rule as HTTPRouteRule) : {}),
    ...(rewrite ? { rewrite: rewritePolicy(rewrite, e) } : {}),
    ...(mirrors.length ? { mirrors } : {}),
  };
}
