// Gateway API matches in snapshot form, and the spec's matching precedence. Each match of a rule becomes
// its own entry (and route), so a prefix rewrite or redirect knows which prefix it replaces, and entries
// from every route on one hostname are sorted together, as the spec orders them across routes.
import type { NamedMatcher, RouteMatch, StringMatcher } from '../../../model/snapshot.js';
import type {
  GatewayApiRoute,
  GRPCRouteMatch,
  GRPCRouteRule,
  HTTPHeaderMatch,
  HTTPRouteMatch,
  HTTPRouteRule,
} from '../../gateway-api-types.js';

/** One match of one rule of one route: what the compiler turns into a snapshot Route. */
export interface RuleEntry {
  route: GatewayApiRoute;
  rule: HTTPRouteRule | GRPCRouteRule;
  ruleIndex: number;
  match: RouteMatch;
  /** The PathPrefix value this entry matched, for ReplacePrefixMatch rewrites and redirects. */
  prefix?: string;
  rank: Rank;
}

/** What the spec's precedence looks at: path kind (Exact, then prefix, then regex) and length, method, counts. */
interface Rank {
  pathKind: number; // 0 Exact, 1 PathPrefix, 2 RegularExpression
  pathLength: number;
  method: boolean;
  headers: number;
  queryParams: number;
}

function valueMatcher(m: HTTPHeaderMatch): StringMatcher {
  return m.type === 'RegularExpression' ? { regex: m.value } : { exact: m.value };
}

/** Header names are case-insensitive: later entries equivalent to an earlier one are ignored (spec). */
function named(list: HTTPHeaderMatch[] | undefined, lower: boolean): NamedMatcher[] {
  const seen = new Set<string>();
  const out: NamedMatcher[] = [];
  for (const m of list ?? []) {
    const name = lower ? m.name.toLowerCase() : m.name;
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({ name, match: valueMatcher(m) });
  }
  return out;
}

function httpEntry(m: HTTPRouteMatch): Omit<RuleEntry, 'route' | 'rule' | 'ruleIndex'> {
  const type = m.path?.type ?? 'PathPrefix';
  const value = m.path?.value ?? '/';
  const match: RouteMatch = {
    path:
      type === 'Exact'
        ? { exact: value }
        : type === 'RegularExpression'
          ? { regex: value }
          : { segmentPrefix: value },
  };
  if (m.method) match.method = { exact: m.method };
  const headers = named(m.headers, true);
  if (headers.length) match.headers = headers;
  const query = named(m.queryParams, false);
  if (query.length) match.queryParams = query;
  return {
    match,
    ...(type === 'PathPrefix' ? { prefix: value } : {}),
    rank: {
      pathKind: type === 'Exact' ? 0 : type === 'PathPrefix' ? 1 : 2,
      pathLength: value.length,
      method: !!m.method,
      headers: headers.length,
      queryParams: query.length,
    },
  };
}

/**
 * gRPC calls are POSTs to `/<service>/<method>`. Exact service and method -> exact path; service only ->
 * the prefix `/<service>/`; a method alone or regular expressions -> a regex over both parts.
 */
function grpcEntry(m: GRPCRouteMatch): Omit<RuleEntry, 'route' | 'rule' | 'ruleIndex'> {
  const method = m.method;
  let path: StringMatcher = { prefix: '/' };
  let pathKind = 1;
  let pathLength = 1;
  if (method) {
    const regex = method.type === 'RegularExpression';
    if (!regex && method.service !== undefined && method.method !== undefined) {
      path = { exact: `/${method.service}/${method.method}` };
      pathKind = 0;
    } else if (!regex && method.service !== undefined) {
      path = { prefix: `/${method.service}/` };
    } else {
      const esc = (s: string) => (regex ? `(?:${s})` : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      path = {
        regex: `/${method.service !== undefined ? esc(method.service) : '[^/]+'}/${method.method !== undefined ? esc(method.method) : '[^/]+'}`,
      };
      pathKind = 2;
    }
    pathLength = (method.service ?? '').length + (method.method ?? '').length;
  }
  const headers = named(m.headers, true);
  return {
    match: { path, ...(headers.length ? { headers } : {}) },
    rank: { pathKind, pathLength, method: false, headers: headers.length, queryParams: 0 },
  };
}

/** Every (rule, match) of a route; a rule without matches matches everything (PathPrefix "/"). */
export function ruleEntries(route: GatewayApiRoute): RuleEntry[] {
  const out: RuleEntry[] = [];
  if (route.kind === 'HTTPRoute') {
    (route.spec.rules ?? [{}]).forEach((rule, ruleIndex) => {
      for (const m of rule.matches?.length ? rule.matches : [{}])
        out.push({ route, rule, ruleIndex, ...httpEntry(m) });
    });
  } else {
    (route.spec.rules ?? [{}]).forEach((rule, ruleIndex) => {
      for (const m of rule.matches?.length ? rule.matches : [{}])
        out.push({ route, rule, ruleIndex, ...grpcEntry(m) });
    });
  }
  return out;
}

/**
 * The spec's "Matching precedence" (HTTPRouteRule.matches): Exact path, then the longest prefix, then a
 * method match, then most header matches, then most query param matches; ties go to the oldest route
 * (creationTimestamp; routes without one count as newest), then namespace/name, then rule order.
 */
export function comparePrecedence(a: RuleEntry, b: RuleEntry): number {
  const x = a.rank;
  const y = b.rank;
  return (
    x.pathKind - y.pathKind ||
    y.pathLength - x.pathLength ||
    Number(y.method) - Number(x.method) ||
    y.headers - x.headers ||
    y.queryParams - x.queryParams ||
    compareRoutes(a.route, b.route) ||
    a.ruleIndex - b.ruleIndex
  );
}

export function compareRoutes(a: GatewayApiRoute, b: GatewayApiRoute): number {
  const ta = created(a);
  const tb = created(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function created(r: GatewayApiRoute): number {
  const t = r.metadata.creationTimestamp ? Date.parse(r.metadata.creationTimestamp) : NaN;
  return Number.isNaN(t) ? Infinity : t;
}
