// VirtualService HTTP rules -> snapshot routes, in the user's order (first match wins).
import type { Route, RouteMatch, StringMatcher, WeightedCluster } from '../../model/snapshot.js';
import { clusterName } from '../../model/snapshot.js';
import type { HTTPMatchRequest, HTTPRoute, StringMatch, VirtualService } from '../types.js';
import { fqdn } from '../hosts.js';
import { parseDuration } from '../duration.js';
import type { MeshIndex } from './inputs.js';

/** Where the routes will run: a sidecar (`mesh`) on a service port, or a gateway's server port. */
export interface RouteContext {
  port: number;
  gateway?: string; // "ns/name" when compiling for a gateway
}

function matcher(m: StringMatch | undefined): StringMatcher | undefined {
  if (!m) return undefined;
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { regex: m.regex };
  return undefined;
}

/** Does this match clause apply where we compile? (`port` and `gateways` narrow a clause.) */
function clauseApplies(m: HTTPMatchRequest, vs: VirtualService, ctx: RouteContext): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
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

function compileMatch(m: HTTPMatchRequest): RouteMatch {
  const out: RouteMatch = {};
  const path = matcher(m.uri);
  if (path) out.path = path;
  if (m.ignoreUriCase) out.ignoreCase = true;
  const method = matcher(m.method);
  if (method) out.method = method;
  const authority = matcher(m.authority);
  if (authority) out.authority = authority;
  const headers = Object.entries(m.headers ?? {}).flatMap(([name, sm]) => {
    const match = matcher(sm);
    return match ? [{ name: name.toLowerCase(), match }] : [];
  });
  if (headers.length) out.headers = headers;
  return out;
}

function destinations(rule: HTTPRoute, vs: VirtualService, index: MeshIndex, ctx: RouteContext) {
  const dests = rule.route ?? [];
  return dests.map((d): WeightedCluster => {
    const host = fqdn(d.destination.host, vs.metadata.namespace, index.mesh.domain);
    const ports = index.services.get(host)?.resource.spec.ports ?? [];
    const port = d.destination.port?.number ?? (ports.length === 1 ? ports[0]!.port : ctx.port);
    return {
      cluster: clusterName(port, d.destination.subset, host),
      weight: d.weight ?? (dests.length === 1 ? 100 : 0),
    };
  });
}

export function compileHttpRoutes(vs: VirtualService, index: MeshIndex, ctx: RouteContext): Route[] {
  const routes: Route[] = [];
  (vs.spec.http ?? []).forEach((rule, i) => {
    const clauses = rule.match ?? [];
    const applicable = clauses.filter((m) => clauseApplies(m, vs, ctx));
    if (clauses.length > 0 && applicable.length === 0) return;
    const name = `VirtualService/${vs.metadata.namespace}/${vs.metadata.name}#http[${rule.name ?? i}]`;
    const matches = applicable.map(compileMatch);
    const direct = (rule as { directResponse?: { status: number; body?: { string?: string } } })
      .directResponse;
    if (direct) {
      routes.push({
        name,
        matches,
        action: { kind: 'direct', status: direct.status, body: direct.body?.string ?? '' },
      });
      return;
    }
    if (!rule.route?.length) return; // redirect/delegate: not compiled yet (traffic management issue)
    const timeoutMs = rule.timeout ? parseDuration(rule.timeout) : undefined;
    routes.push({
      name,
      matches,
      action: {
        kind: 'forward',
        clusters: destinations(rule, vs, index, ctx),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      },
    });
  });
  return routes;
}
