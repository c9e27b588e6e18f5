// VirtualService delegation, as Istio merges it: a root VirtualService (one with hosts) hands an http
// rule to a delegate VirtualService (one without hosts) with `delegate: {name, namespace}`. Each rule of
// the delegate takes the root rule's place, its matches narrowed by the root's (a delegate match that
// falls outside every root match is dropped, with the rule when none is left), and the root rule's
// rewrite, timeout, retries, fault, mirror, CORS and headers fill in what the delegate rule leaves out.
// Delegates never route on their own; a delegate that does not exist, or is not exported to the root's
// namespace, drops that rule. Merging happens once per push, before routes are compiled.
import { fqdn } from '../hosts.js';
import type { HTTPMatchRequest, HTTPRoute, StringMatch, VirtualService } from '../types.js';

const isDelegate = (vs: VirtualService) => !vs.spec.hosts?.length;

/** Routing VirtualServices: the ordinary ones, and roots with their delegates merged in. */
export function mergeDelegates(vss: readonly VirtualService[], domain: string): VirtualService[] {
  const delegates = new Map(
    vss.filter(isDelegate).map((d) => [`${d.metadata.namespace}/${d.metadata.name}`, d]),
  );
  return vss
    .filter((vs) => !isDelegate(vs))
    .map((vs) => {
      if (!vs.spec.http?.some((r) => r.delegate)) return vs;
      const http = vs.spec.http.flatMap((rule) => {
        if (!rule.delegate) return [rule];
        const ns = rule.delegate.namespace ?? vs.metadata.namespace;
        const d = delegates.get(`${ns}/${rule.delegate.name ?? ''}`);
        if (!d || !exportedTo(d, vs.metadata.namespace)) return [];
        return (d.spec.http ?? []).flatMap((sub) => {
          const merged = mergeRule(rule, qualifyHosts(sub, ns, domain));
          return merged ? [merged] : [];
        });
      });
      return { ...vs, spec: { ...vs.spec, http } };
    });
}

function exportedTo(d: VirtualService, ns: string): boolean {
  const to = d.spec.exportTo;
  if (!to?.length) return true; // Istio's default: exported everywhere
  return to.some((e) => e === '*' || e === ns || (e === '.' && d.metadata.namespace === ns));
}

/** Short destination names mean the delegate's namespace, wherever the root lives. */
function qualifyHosts(rule: HTTPRoute, ns: string, domain: string): HTTPRoute {
  const q = <T extends { host: string }>(d: T): T => ({ ...d, host: fqdn(d.host, ns, domain) });
  return {
    ...rule,
    ...(rule.route ? { route: rule.route.map((r) => ({ ...r, destination: q(r.destination) })) } : {}),
    ...(rule.mirror ? { mirror: q(rule.mirror) } : {}),
    ...(rule.mirrors ? { mirrors: rule.mirrors.map((m) => ({ ...m, destination: q(m.destination) })) } : {}),
  };
}

function mergeRule(root: HTTPRoute, sub: HTTPRoute): HTTPRoute | undefined {
  const match = mergeMatches(root.match ?? [], sub.match ?? []);
  if (!match) return undefined;
  const { delegate: _d, match: _m, route: _r, ...inherited } = root;
  const name = sub.name && root.name ? `${root.name}-${sub.name}` : (sub.name ?? root.name);
  const out: HTTPRoute = {
    ...inherited,
    ...(Object.fromEntries(Object.entries(sub).filter(([, v]) => v !== undefined)) as HTTPRoute),
    ...(name ? { name } : {}),
  };
  if (match.length) out.match = match;
  else delete out.match;
  return out;
}

/** Every delegate match must fall inside some root match; undefined when one does not (a conflict). */
function mergeMatches(root: HTTPMatchRequest[], sub: HTTPMatchRequest[]): HTTPMatchRequest[] | undefined {
  if (root.length === 0) return sub;
  if (sub.length === 0) return root;
  const out: HTTPMatchRequest[] = [];
  for (const s of sub) {
    const fits = root.filter((r) => !conflicts(r, s)).map((r) => mergeMatch(r, s));
    if (fits.length === 0) return undefined;
    out.push(...fits);
  }
  return out;
}

function mergeMatch(r: HTTPMatchRequest, s: HTTPMatchRequest): HTTPMatchRequest {
  const name = s.name && r.name ? `${r.name}-${s.name}` : (s.name ?? r.name);
  const m: HTTPMatchRequest = {
    ...r,
    ...(Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as HTTPMatchRequest),
    headers: { ...r.headers, ...s.headers },
    withoutHeaders: { ...r.withoutHeaders, ...s.withoutHeaders },
    queryParams: { ...r.queryParams, ...s.queryParams },
    sourceLabels: { ...r.sourceLabels, ...s.sourceLabels },
  };
  if (name) m.name = name;
  if (!s.gateways?.length && r.gateways) m.gateways = r.gateways;
  for (const k of ['headers', 'withoutHeaders', 'queryParams', 'sourceLabels'] as const)
    if (Object.keys(m[k] ?? {}).length === 0) delete m[k];
  return m;
}

/** Istio's rule: the delegate match must be a subset of the root match. */
function conflicts(r: HTTPMatchRequest, s: HTTPMatchRequest): boolean {
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const)
    if (stringConflict(r[k], s[k])) return true;
  for (const k of ['headers', 'withoutHeaders', 'queryParams'] as const)
    for (const [name, v] of Object.entries(s[k] ?? {})) if (stringConflict(r[k]?.[name], v)) return true;
  if ((r.ignoreUriCase ?? false) !== (s.ignoreUriCase ?? false)) return true;
  if (r.port && s.port && r.port !== s.port) return true;
  for (const [k, v] of Object.entries(s.sourceLabels ?? {}))
    if (r.sourceLabels?.[k] !== undefined && r.sourceLabels[k] !== v) return true;
  if (r.gateways?.length && s.gateways?.length && !s.gateways.every((g) => r.gateways!.includes(g)))
    return true;
  return false;
}

function stringConflict(root: StringMatch | undefined, leaf: StringMatch | undefined): boolean {
  if (!root || !leaf) return false;
  // A regex on either side cannot be compared with anything else.
  if (root.regex || leaf.regex) return true;
  if (root.exact) return leaf.exact !== root.exact;
  if (root.prefix) {
    const v = leaf.prefix ?? leaf.exact;
    return v === undefined || !v.startsWith(root.prefix);
  }
  return true;
}
