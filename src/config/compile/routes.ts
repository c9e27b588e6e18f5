// VirtualService HTTP rules -> snapshot routes, in the user's order (first match wins). As in Istio,
// each match clause becomes its own route, so a rewrite knows which prefix its clause matched.
import type { Route, RouteMatch, WeightedCluster, MirrorPolicy, NamedMatcher } from '../../model/snapshot.js';
import { clusterName } from '../../model/snapshot.js';
import type { Destination, HTTPMatchRequest, HTTPRoute, StringMatch, VirtualService } from '../types.js';
import { parseDuration } from '../duration.js';
import { labelsMatch, type MeshIndex } from './inputs.js';
import { routeRateLimit } from './rate-limits.js';
import {
  corsPolicy,
  faultPolicy,
  headerMutation,
  redirectPolicy,
  retryPolicy,
  rewritePolicy,
  stringMatcher,
} from './http-policies.js';

/** Where the routes will run: a sidecar (`mesh`) on a service port, or a gateway's server port. */
export interface RouteContext {
  port: number;
  gateway?: string; // "ns/name" when compiling for a gateway
  sourceLabels: Record<string, string>; // the labels of the proxy the routes are for
}

/** VirtualService annotation that lets retries replay non-idempotent requests (off by default). */
export const RETRY_NON_IDEMPOTENT = 'weft.dev/retry-non-idempotent';

/** Does this match clause apply where we compile? (`port`, `gateways`, `sourceLabels` narrow a clause.) */
function clauseApplies(m: HTTPMatchRequest, vs: VirtualService, ctx: RouteContext): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, ctx.sourceLabels)) return false;
  if (m.gateways?.length) {
    const refs = m.gateways.map((g) => gatewayRef(g, vs.metadata.namespace));
    return refs.includes(ctx.gateway ?? 'mesh');
  }
  return true;
}

export function gatewayRef(ref: string, namespace: string): string {
  if (ref === 'mesh') return 'mesh';
  return ref.includes('/') ? ref : `${namespace}/${ref}`;
}

function named(map: Record<string, StringMatch> | undefined, lower: boolean): NamedMatcher[] {
  return Object.entries(map ?? {}).flatMap(([name, sm]) => {
    const match = stringMatcher(sm, true);
    return match ? [{ name: lower ? name.toLowerCase() : name, match }] : [];
  });
}

function compileMatch(m: HTTPMatchRequest): RouteMatch {
  const out: RouteMatch = {};
  const path = stringMatcher(m.uri);
  if (path) out.path = path;
  if (m.ignoreUriCase) out.ignoreCase = true;
  const method = stringMatcher(m.method);
  if (method) out.method = method;
  const authority = stringMatcher(m.authority);
  if (authority) out.authority = authority;
  const scheme = stringMatcher(m.scheme);
  if (scheme) out.scheme = scheme;
  const headers = named(m.headers, true);
  if (headers.length) out.headers = headers;
  const without = named(m.withoutHeaders, true);
  if (without.length) out.withoutHeaders = without;
  const query = named(m.queryParams, false);
  if (query.length) out.queryParams = query;
  return out;
}

function destCluster(d: Destination, vs: VirtualService, index: MeshIndex, ctx: RouteContext): string {
  const host = index.resolve(d.host, vs.metadata.namespace);
  const ports = index.services.get(host)?.resource.spec.ports ?? [];
  const port = d.port?.number ?? (ports.length === 1 ? ports[0]!.port : ctx.port);
  return clusterName(port, d.subset, host);
}

function destinations(
  rule: HTTPRoute,
  vs: VirtualService,
  index: MeshIndex,
  ctx: RouteContext,
): WeightedCluster[] {
  const dests = rule.route ?? [];
  return dests.map((d): WeightedCluster => {
    const req = headerMutation(d.headers?.request);
    const res = headerMutation(d.headers?.response);
    return {
      cluster: destCluster(d.destination, vs, index, ctx),
      weight: d.weight ?? (dests.length === 1 ? 100 : 0),
      ...(req ? { requestHeaders: req } : {}),
      ...(res ? { responseHeaders: res } : {}),
    };
  });
}

function mirrors(rule: HTTPRoute, vs: VirtualService, index: MeshIndex, ctx: RouteContext): MirrorPolicy[] {
  const legacyPct = rule.mirrorPercentage?.value ?? rule.mirrorPercent ?? rule.mirror_percent ?? 100;
  const list =
    rule.mirrors?.map((m) => ({ d: m.destination, pct: m.percentage?.value ?? 100 })) ??
    (rule.mirror ? [{ d: rule.mirror, pct: legacyPct }] : []);
  return list.map(({ d, pct }) => ({ cluster: destCluster(d, vs, index, ctx), percentage: pct }));
}

function compileRule(
  rule: HTTPRoute,
  clause: HTTPMatchRequest | undefined,
  name: string,
  vs: VirtualService,
  index: MeshIndex,
  ctx: RouteContext,
): Route | undefined {
  const matches = clause ? [compileMatch(clause)] : [];
  const base = {
    name,
    matches,
    ...optional('fault', faultPolicy(rule)),
    ...optional('requestHeaders', headerMutation(rule.headers?.request)),
    ...optional('responseHeaders', headerMutation(rule.headers?.response)),
    ...optional('cors', corsPolicy(rule)),
    ...optional('rateLimit', routeRateLimit(index, vs.metadata.namespace, vs.metadata.name, rule.name)),
  };
  if (rule.directResponse) {
    const body = rule.directResponse.body;
    const text = body?.string ?? (body?.bytes ? Buffer.from(body.bytes, 'base64').toString('utf8') : '');
    return { ...base, action: { kind: 'direct', status: rule.directResponse.status, body: text } };
  }
  const redirect = redirectPolicy(rule);
  if (redirect) return { ...base, action: { kind: 'redirect', redirect } }; // Istio replaces the whole path
  if (!rule.route?.length) return undefined; // a delegate that did not resolve (compile/delegates.ts)
  const retry = retryPolicy(rule, vs.metadata.annotations?.[RETRY_NON_IDEMPOTENT] === 'true');
  const rewrite = rewritePolicy(rule, clause?.uri);
  const mirror = mirrors(rule, vs, index, ctx);
  return {
    ...base,
    action: {
      kind: 'forward',
      clusters: destinations(rule, vs, index, ctx),
      ...optional('timeoutMs', rule.timeout ? parseDuration(rule.timeout) : undefined),
      ...optional('retry', retry),
      ...optional('rewrite', rewrite),
      ...optional('mirrors', mirror.length ? mirror : undefined),
    },
  };
}

function optional<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}

export function compileHttpRoutes(vs: VirtualService, index: MeshIndex, ctx: RouteContext): Route[] {
  const routes: Route[] = [];
  (vs.spec.http ?? []).forEach((rule, i) => {
    const clauses = rule.match ?? [];
    const name = `VirtualService/${vs.metadata.namespace}/${vs.metadata.name}#http[${rule.name ?? i}]`;
    if (clauses.length === 0) {
      const r = compileRule(rule, undefined, name, vs, index, ctx);
      if (r) routes.push(r);
      return;
    }
    for (const clause of clauses) {
      if (!clauseApplies(clause, vs, ctx)) continue;
      const r = compileRule(rule, clause, name, vs, index, ctx);
      if (r) routes.push(r);
    }
  });
  return routes;
}
