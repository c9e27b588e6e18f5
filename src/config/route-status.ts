// Gateway API route status, computed from the config instead of written back by a controller: for each
// parentRef, Accepted (did the parent take the route?) and ResolvedRefs (can every backend be reached?),
// with the reasons the spec names. It uses the compiler's own resolution (compile/gateway-api/refs.ts),
// so `weft get httproute X -o yaml` explains exactly what the proxies were sent.
import { MeshIndex } from './compile/inputs.js';
import { backendRefsOf, resolveBackend, resolveParents } from './compile/gateway-api/refs.js';
import type { GatewayApiRoute, ParentReference } from './gateway-api-types.js';
import type { Resource } from './types.js';

export const CONTROLLER_NAME = 'weft.dev/gateway-controller';

export interface RouteCondition {
  type: 'Accepted' | 'ResolvedRefs';
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: RouteCondition[];
}

export interface RouteStatus {
  parents: RouteParentStatus[];
}

// When several references fail, the reason names the worst, as Istio does: a kind Weft cannot route to
// at all, then a reference not permitted, then a backend that is missing (and may yet appear).
const SEVERITY = ['InvalidKind', 'RefNotPermitted', 'BackendNotFound'];

/** ResolvedRefs for the whole route: the worst unresolvable reference gives the reason; all are listed. */
function resolvedRefs(route: GatewayApiRoute, index: MeshIndex): RouteCondition {
  const failures = backendRefsOf(route).flatMap(({ ref, path }) => {
    const r = resolveBackend(ref, route, index);
    return r.ok ? [] : [{ reason: r.reason, message: `${path}: ${r.message}` }];
  });
  if (failures.length === 0)
    return {
      type: 'ResolvedRefs',
      status: 'True',
      reason: 'ResolvedRefs',
      message: 'All references resolved',
    };
  return {
    type: 'ResolvedRefs',
    status: 'False',
    reason: SEVERITY.find((r) => failures.some((f) => f.reason === r)) ?? failures[0]!.reason,
    message: failures.map((f) => f.message).join('; '),
  };
}

/** Status of an HTTPRoute or GRPCRoute among `all` the resources (or an index already built from them). */
export function routeStatus(route: GatewayApiRoute, all: Resource[] | MeshIndex): RouteStatus {
  const index = all instanceof MeshIndex ? all : new MeshIndex(all, []);
  const refs = resolvedRefs(route, index);
  return {
    parents: resolveParents(route, index).map((p) => ({
      parentRef: p.parentRef,
      controllerName: CONTROLLER_NAME,
      conditions: [
        { type: 'Accepted', status: p.accepted ? 'True' : 'False', reason: p.reason, message: p.message },
        refs,
      ],
    })),
  };
}

const isRoute = (r: Resource): r is GatewayApiRoute => r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute';

/** Resources as the admin API returns them: HTTPRoutes and GRPCRoutes with their computed `status`. */
export function withRouteStatus(
  items: Resource[],
  all: Resource[],
): Array<Resource & { status?: RouteStatus }> {
  if (!items.some(isRoute)) return items;
  const index = new MeshIndex(all, []);
  return items.map((r) => (isRoute(r) ? { ...r, status: routeStatus(r, index) } : r));
}
