// Route-rule checks over VirtualServices, as Istio's validation warns and `istioctl analyze` reports:
//  - IST0130 VirtualServiceUnreachableRule: a rule after a rule without matches (a catch-all), a second
//    rule without matches, or a rule whose every match an earlier rule already has;
//  - IST0131 VirtualServiceIneffectiveMatch: a match identical to an earlier one (names aside), or an
//    HTTP uri prefix match that an earlier, shorter prefix with the same other conditions covers;
//  - IST0109 ConflictingMeshGatewayVirtualServiceHosts: several VirtualServices bound to the mesh
//    define the same host for the same namespaces, so which one applies is undefined;
//  - Weft's own: a Gateway nothing routes through (its ports only ever answer 404).
import { ErrorCodes } from '../lib/errors.js';
import { fqdn, hostMatches } from './hosts.js';
import type { Resource, VirtualService } from './types.js';
import type { SecurityReport } from './analyze-security.js';
import type { ParentReference } from './gateway-api-types.js';

type Path = Array<string | number>;
/** How analyze.ts collects a finding about a resource (the same shape as the security checks'). */
export type ResourceReport = SecurityReport;
type RouteReport = ResourceReport;

type Rule = { name?: string; match?: unknown[] } | null | undefined;

/** A match as a comparable key: keys sorted, the match's own `name` left out (it routes nothing). */
function key(match: unknown, dropName: boolean): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined && x !== null) out[k] = canon(x);
      }
      return out;
    }
    return v;
  };
  let m = match;
  if (dropName && m && typeof m === 'object' && 'name' in m) {
    const { name: _n, ...rest } = m as Record<string, unknown>;
    m = rest;
  }
  return JSON.stringify(canon(m));
}

const ruleName = (r: Rule, i: number, http: boolean) => (http && r?.name ? `"${r.name}"` : `#${i}`);
const matchName = (m: unknown, i: number, http: boolean) => {
  const n = http && m && typeof m === 'object' ? (m as { name?: unknown }).name : undefined;
  return typeof n === 'string' && n ? `"${n}"` : `#${i}`;
};

/** An HTTP match whose uri is a prefix, with the conditions the overlap check compares. */
interface PrefixMatch {
  rule: string;
  match: string;
  path: Path;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  query: Map<string, string>;
  without: Map<string, string>;
}

type StringMatch = { exact?: string; prefix?: string } | undefined;
const exactOrPrefix = (s: StringMatch) =>
  s?.exact ? `exact:${s.exact}` : s?.prefix ? `prefix:${s.prefix}` : '';
const conditions = (m: Record<string, StringMatch> | undefined) =>
  new Map(Object.entries(m ?? {}).map(([k, v]) => [k, exactOrPrefix(v)]));

function prefixMatch(m: unknown, rule: string, match: string, path: Path): PrefixMatch | undefined {
  const x = m as {
    uri?: StringMatch;
    port?: number;
    method?: StringMatch;
    authority?: StringMatch;
    headers?: Record<string, StringMatch>;
    queryParams?: Record<string, StringMatch>;
    withoutHeaders?: Record<string, StringMatch>;
  } | null;
  const prefix = x?.uri?.prefix;
  if (!x || !prefix) return undefined;
  return {
    rule,
    match,
    path,
    prefix,
    port: x.port ?? 0,
    // No method condition is treated as GET, as Istio's check does.
    method: exactOrPrefix(x.method) || 'exact:GET',
    authority: exactOrPrefix(x.authority),
    headers: conditions(x.headers),
    query: conditions(x.queryParams),
    without: conditions(x.withoutHeaders),
  };
}

/** Does the earlier prefix match `a` take every request the later one `b` would? */
function covers(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || a.port !== b.port) return false;
  const sub = (x: string, y: string) => x === y || x.startsWith(y);
  if (!sub(a.method, b.method) || !sub(a.authority, b.authority)) return false;
  for (const [mine, theirs] of [
    [a.headers, b.headers],
    [a.query, b.query],
    [a.without, b.without],
  ] as const) {
    if (mine.size !== theirs.size) return false;
    for (const [k, v] of mine) {
      const w = theirs.get(k);
      if (w === undefined || !sub(v, w)) return false;
    }
  }
  return true;
}

function checkRules(vs: VirtualService, kind: 'http' | 'tcp' | 'tls', report: RouteReport): void {
  const rules = ((vs.spec as Record<string, unknown>)[kind] ?? []) as Rule[];
  if (!Array.isArray(rules)) return;
  const http = kind === 'http';
  const seen = new Map<string, number>();
  const prefixes: PrefixMatch[] = [];
  let catchAll = -1;
  const unreachable = (i: number, why: string) =>
    report(
      vs,
      ErrorCodes.ANALYZE_UNREACHABLE_RULE,
      `${kind} rule ${ruleName(rules[i], i, http)} is never used (${why}) (IST0130 VirtualServiceUnreachableRule)`,
      ['spec', kind, i],
      'warning',
    );
  const ineffective = (i: number, match: string, earlier: string, path: Path) =>
    report(
      vs,
      ErrorCodes.ANALYZE_INEFFECTIVE_MATCH,
      `${kind} rule ${ruleName(rules[i], i, http)} match ${match} is never used (duplicate/overlapping match in rule ${earlier}) (IST0131 VirtualServiceIneffectiveMatch)`,
      path,
      'warning',
    );
  rules.forEach((r, i) => {
    if (!r) return;
    const matches = Array.isArray(r.match) ? r.match : [];
    if (matches.length === 0) {
      if (catchAll >= 0) unreachable(i, 'only the last rule can have no matches');
      catchAll = i;
      return;
    }
    if (catchAll >= 0) {
      unreachable(
        i,
        `rule ${ruleName(rules[catchAll], catchAll, http)} before it has no matches and takes every request`,
      );
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      const k = key(m, http);
      const dup = seen.get(k);
      const path: Path = ['spec', kind, i, 'match', j];
      if (dup !== undefined) {
        ineffective(i, matchName(m, j, http), ruleName(rules[dup], dup, http), path);
        duplicates++;
        return;
      }
      seen.set(k, i);
      if (http) {
        const p = prefixMatch(m, ruleName(r, i, http), matchName(m, j, http), path);
        if (p) prefixes.push(p);
      }
    });
    if (duplicates === matches.length) unreachable(i, 'all its matches are used by earlier rules');
  });
  // A later prefix match that an earlier one covers (identical prefixes were reported above).
  prefixes.forEach((a, x) => {
    for (const b of prefixes.slice(x + 1)) {
      if (b.prefix === a.prefix || !covers(a, b)) continue;
      report(
        vs,
        ErrorCodes.ANALYZE_INEFFECTIVE_MATCH,
        `${kind} rule ${b.rule} match ${b.match} of prefix ${b.prefix} is never used: match ${a.match} of prefix ${a.prefix} in rule ${a.rule} takes its requests first (IST0131 VirtualServiceIneffectiveMatch)`,
        b.path,
        'warning',
      );
    }
  });
}

/** Unreachable rules and ineffective matches in one VirtualService's http, tcp and tls rules. */
export function checkRouteRules(vs: VirtualService, report: RouteReport): void {
  checkRules(vs, 'http', report);
  checkRules(vs, 'tcp', report);
  checkRules(vs, 'tls', report);
}

const boundToMesh = (vs: VirtualService) => !vs.spec.gateways?.length || vs.spec.gateways.includes('mesh');

/**
 * Several mesh VirtualServices for one host, visible in the same namespaces. Scopes as Istio computes
 * them: "*" when exported everywhere (the default), else the namespaces listed ("." = its own); a host
 * exported everywhere also clashes with the same host in any narrower scope.
 */
export function checkMeshHostConflicts(vss: VirtualService[], report: RouteReport): void {
  const byScope = new Map<string, { scope: string; host: string; list: VirtualService[] }>();
  for (const vs of vss.filter(boundToMesh)) {
    const ns = vs.metadata.namespace;
    const exportTo = vs.spec.exportTo ?? [];
    const scopes =
      exportTo.length === 0 || exportTo.includes('*')
        ? ['*']
        : [...new Set(exportTo.map((e) => (e === '.' ? ns : e)))];
    for (const scope of scopes)
      for (const h of vs.spec.hosts ?? []) {
        const host = fqdn(h, ns);
        const k = `${scope}|${host}`;
        const e = byScope.get(k) ?? { scope, host, list: [] };
        if (!e.list.includes(vs)) e.list.push(vs);
        byScope.set(k, e);
      }
  }
  const overlap = (a: string, b: string) => a === b || hostMatches(a, b) || hostMatches(b, a);
  const reported = new Set<VirtualService>();
  for (const { scope, host, list } of byScope.values()) {
    const all = [...list];
    if (scope !== '*')
      for (const other of byScope.values())
        if (other.scope === '*' && overlap(host, other.host))
          for (const vs of other.list) if (!all.includes(vs)) all.push(vs);
    if (all.length < 2) continue;
    const names = all.map((v) => `${v.metadata.namespace}/${v.metadata.name}`).join(', ');
    for (const vs of all) {
      if (reported.has(vs)) continue;
      reported.add(vs);
      report(
        vs,
        ErrorCodes.ANALYZE_HOST_CONFLICT,
        `VirtualServices ${names} bound to the mesh all define host ${host}: which one applies is undefined; merge them or give them distinct hosts or exportTo (IST0109 ConflictingMeshGatewayVirtualServiceHosts)`,
        ['spec', 'hosts'],
      );
    }
  }
}

/** "name", "ns/name" or the legacy "name.ns" in VirtualService.spec.gateways, as ns/name. */
function gatewayRef(ref: string, ns: string): string {
  if (ref.includes('/')) return ref;
  const [name, legacyNs] = ref.split('.');
  return `${legacyNs ?? ns}/${name}`;
}

/**
 * Gateways nothing routes through: an Istio Gateway no VirtualService names in `gateways`, a Gateway API
 * Gateway no route names as parent. Their ports open and answer 404 to every request.
 */
export function checkGatewaysWithoutRoutes(resources: Resource[], report: ResourceReport): void {
  const bound = new Set<string>();
  for (const r of resources) {
    if (r.kind === 'VirtualService')
      for (const g of r.spec.gateways ?? [])
        if (g !== 'mesh') bound.add(`Gateway|${gatewayRef(g, r.metadata.namespace)}`);
    if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute' || (r.kind as string) === 'TLSRoute')
      for (const p of (r.spec as { parentRefs?: ParentReference[] }).parentRefs ?? [])
        if ((p.kind ?? 'Gateway') === 'Gateway')
          bound.add(`KubernetesGateway|${p.namespace ?? r.metadata.namespace}/${p.name}`);
  }
  for (const r of resources) {
    if (r.kind !== 'Gateway' && r.kind !== 'KubernetesGateway') continue;
    if (bound.has(`${r.kind}|${r.metadata.namespace}/${r.metadata.name}`)) continue;
    const by =
      r.kind === 'Gateway'
        ? `no VirtualService lists it in spec.gateways (as "${r.metadata.name}" or "${r.metadata.namespace}/${r.metadata.name}")`
        : 'no HTTPRoute, GRPCRoute or TLSRoute names it in parentRefs';
    report(
      r,
      ErrorCodes.ANALYZE_GATEWAY_NO_ROUTES,
      `Gateway ${r.metadata.namespace}/${r.metadata.name} has no routes: ${by}, so its ports answer 404 to every request`,
      ['metadata', 'name'],
      'warning',
    );
  }
}

/**
 * A VirtualService bound to a Gateway none of whose server hosts matches any of the VirtualService's
 * hosts (or to a Gateway that does not exist): the gateway never routes by it. A server host "ns/host"
 * counts only for VirtualServices in that namespace ("." = the Gateway's, "*" = any).
 */
export function checkHostsInGateways(resources: Resource[], report: ResourceReport): void {
  const servers = new Map<string, string[]>();
  for (const r of resources)
    if (r.kind === 'Gateway')
      servers.set(
        `${r.metadata.namespace}/${r.metadata.name}`,
        (r.spec.servers ?? []).flatMap((s) => s?.hosts ?? []),
      );
  const overlap = (a: string, b: string) =>
    a === b || a === '*' || b === '*' || hostMatches(a, b) || hostMatches(b, a);
  for (const vs of resources) {
    if (vs.kind !== 'VirtualService') continue;
    const ns = vs.metadata.namespace;
    (vs.spec.gateways ?? []).forEach((g, i) => {
      if (g === 'mesh') return;
      const key = gatewayRef(g, ns);
      const gwNs = key.split('/')[0]!;
      const hosts = (servers.get(key) ?? []).flatMap((h) => {
        const slash = h.indexOf('/');
        if (slash < 0) return [h];
        const scope = h.slice(0, slash);
        const visible = scope === '*' || scope === ns || (scope === '.' && gwNs === ns);
        return visible ? [h.slice(slash + 1)] : [];
      });
      if ((vs.spec.hosts ?? []).some((h) => hosts.some((gh) => overlap(gh, h)))) return;
      report(
        vs,
        ErrorCodes.ANALYZE_HOST_NOT_IN_GATEWAY,
        `none of the hosts ${(vs.spec.hosts ?? []).join(', ') || '(none)'} is served by gateway ${key}${servers.has(key) ? ` (its servers take ${hosts.join(', ') || 'no hosts'})` : ''}: the gateway never routes by this VirtualService (IST0132 VirtualServiceHostNotFoundInGateway)`,
        ['spec', 'gateways', i],
        'warning',
      );
    });
  }
}

/**
 * Gateways that select the same gateway proxies and put servers with overlapping hosts on the same port
 * (IST0145 ConflictingGateways; Istio calls it an error, Weft merges such servers, so a warning).
 */
export function checkConflictingGateways(resources: Resource[], report: ResourceReport): void {
  type Entry = { gw: Resource & { kind: 'Gateway' }; port: number; hosts: string[] };
  const groups = new Map<string, Entry[]>();
  for (const r of resources) {
    if (r.kind !== 'Gateway') continue;
    const sel = JSON.stringify(Object.entries(r.spec.selector ?? {}).sort());
    for (const s of r.spec.servers ?? []) {
      const port = s?.port?.number;
      if (port === undefined) continue;
      const hosts = (s.hosts ?? []).map((h) => h.slice(h.indexOf('/') + 1));
      const k = `${sel}|${port}`;
      groups.set(k, [...(groups.get(k) ?? []), { gw: r, port, hosts }]);
    }
  }
  const overlap = (a: string, b: string) =>
    a === b || a === '*' || b === '*' || hostMatches(a, b) || hostMatches(b, a);
  const reported = new Set<Resource>();
  for (const entries of groups.values()) {
    for (const a of entries) {
      const clash = entries.filter(
        (b) => b.gw !== a.gw && a.hosts.some((h) => b.hosts.some((g) => overlap(h, g))),
      );
      if (clash.length === 0 || reported.has(a.gw)) continue;
      reported.add(a.gw);
      const others = [...new Set(clash.map((b) => `${b.gw.metadata.namespace}/${b.gw.metadata.name}`))];
      report(
        a.gw,
        ErrorCodes.ANALYZE_GATEWAY_CONFLICT,
        `port ${a.port} with hosts ${a.hosts.join(', ')} is also served by gateway ${others.join(', ')} on the same gateway proxies (selector ${JSON.stringify(a.gw.spec.selector ?? {})}): their routes share one listener and which server's TLS and settings apply depends on order; give them distinct hosts or ports (IST0145 ConflictingGateways)`,
        ['spec', 'servers'],
        'warning',
      );
    }
  }
}
