// Gateway API status, computed from the config instead of written back by a controller:
//  - routes (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute): for each parentRef, Accepted (did the parent take
//    the route?) and ResolvedRefs (can every backend be reached?), with the reasons the spec names;
//  - Gateways: Accepted and Programmed, and per listener its supportedKinds, attachedRoutes and the
//    conditions Accepted, Programmed, ResolvedRefs (certificateRefs, allowedRoutes.kinds) and Conflicted.
// It uses the compiler's own resolution (compile/gateway-api/refs.ts, compile/gateway-api.ts `gatewayApiPlan`),
// so `weft get httproute X -o yaml` and `weft get gtw X -o yaml` explain exactly what the proxies were sent.
import { MeshIndex } from './compile/inputs.js';
import { backendRefsOf, resolveBackend, resolveParents } from './compile/gateway-api/refs.js';
import { gatewayApiPlan, type ListenerPlan } from './compile/gateway-api.js';
import {
  GATEWAY_API_GROUP,
  type AnyGatewayApiRoute,
  type KubernetesGateway,
  type ParentReference,
} from './gateway-api-types.js';
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
function resolvedRefs(route: AnyGatewayApiRoute, index: MeshIndex): RouteCondition {
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

/** Status of an HTTPRoute, GRPCRoute, TLSRoute or TCPRoute among `all` the resources (or an index already built from them). */
export function routeStatus(route: AnyGatewayApiRoute, all: Resource[] | MeshIndex): RouteStatus {
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

const ROUTE_KINDS = new Set(['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute']);
const isRoute = (r: Resource): r is AnyGatewayApiRoute => ROUTE_KINDS.has(r.kind);

// ---- Gateway -------------------------------------------------------------------------------------

export interface GatewayCondition {
  type: 'Accepted' | 'Programmed' | 'ResolvedRefs' | 'Conflicted' | 'InsecureFrontendValidationMode';
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface ListenerStatus {
  name: string;
  supportedKinds: Array<{ group: string; kind: string }>;
  attachedRoutes: number;
  conditions: GatewayCondition[];
}

export interface GatewayStatus {
  /** Accepted (False, ListenersNotValid, when a listener is not accepted or has unresolved refs), Programmed, ResolvedRefs. */
  conditions: GatewayCondition[];
  listeners: ListenerStatus[];
}

const cond = (
  type: GatewayCondition['type'],
  ok: boolean,
  reason: string,
  message: string,
): GatewayCondition => ({ type, status: ok ? 'True' : 'False', reason, message });

function listenerStatus(p: ListenerPlan): ListenerStatus {
  const conditions: GatewayCondition[] = [];
  const unsupported = p.kind === 'other';
  const noCa = p.frontend !== undefined && !p.frontend.ca;
  conditions.push(
    unsupported
      ? cond(
          'Accepted',
          false,
          'UnsupportedProtocol',
          `protocol ${p.listener.protocol} is not supported by Weft`,
        )
      : noCa
        ? cond(
            'Accepted',
            false,
            'NoValidCACertificate',
            `no caCertificateRef resolves: ${p.frontend!.problems.map((x) => x.message).join('; ')}`,
          )
        : cond('Accepted', true, 'Accepted', 'Listener was accepted'),
  );
  const certProblems = [...(p.certificate?.problems ?? []), ...(p.frontend?.problems ?? [])];
  const noCertificate = (p.certificate !== undefined && !p.certificate.certificate) || noCa;
  if (certProblems.length) {
    const worst = certProblems.find((x) => x.reason === 'RefNotPermitted') ?? certProblems[0]!;
    conditions.push(cond('ResolvedRefs', false, worst.reason, certProblems.map((x) => x.message).join('; ')));
  } else if (p.invalidKinds.length) {
    conditions.push(
      cond(
        'ResolvedRefs',
        false,
        'InvalidRouteKinds',
        `route kinds ${p.invalidKinds.join(', ')} cannot attach to a ${p.listener.protocol} listener`,
      ),
    );
  } else conditions.push(cond('ResolvedRefs', true, 'ResolvedRefs', 'All references resolved'));
  conditions.push(
    p.conflict
      ? cond('Conflicted', true, p.conflict.reason, p.conflict.message)
      : cond('Conflicted', false, 'NoConflicts', 'No conflicts'),
  );
  const programmed = p.served && !noCertificate;
  conditions.push(
    programmed
      ? cond(
          'Programmed',
          true,
          'Programmed',
          `Served by the ingress gateway on 127.0.0.1:${p.listener.port}`,
        )
      : cond(
          'Programmed',
          false,
          'Invalid',
          unsupported
            ? 'not served'
            : p.conflict
              ? 'not served: it conflicts with another listener'
              : noCa
                ? 'not served: its TLS handshakes are refused until a CA certificate resolves'
                : 'not served: its TLS handshakes are refused until a certificate resolves',
        ),
  );
  conditions.sort((a, b) => (a.type < b.type ? -1 : 1)); // Istio's order: by type
  return {
    name: p.listener.name,
    supportedKinds: p.kinds.map((kind) => ({ group: GATEWAY_API_GROUP, kind })),
    attachedRoutes: p.attachedRoutes,
    conditions,
  };
}

/** Status of a Gateway API Gateway (stored as KubernetesGateway) among `all` the resources. */
export function gatewayStatus(gateway: KubernetesGateway, all: Resource[] | MeshIndex): GatewayStatus {
  const index = all instanceof MeshIndex ? all : new MeshIndex(all, []);
  const plans = gatewayApiPlan(index).byGateway.get(
    index.kubernetesGateways.find(
      (g) => g.metadata.namespace === gateway.metadata.namespace && g.metadata.name === gateway.metadata.name,
    ) ?? gateway,
  );
  const listeners = gateway.spec.listeners.map((l) => plans?.get(l.name)).filter((p) => p !== undefined);
  const statuses = listeners.map(listenerStatus);
  const is = (s: ListenerStatus, type: GatewayCondition['type'], status: 'True' | 'False') =>
    s.conditions.some((c) => c.type === type && c.status === status);
  const programmed = statuses.filter((s) => is(s, 'Programmed', 'True'));
  const invalid = statuses.filter((s) => is(s, 'Accepted', 'False') || is(s, 'ResolvedRefs', 'False'));
  return {
    conditions: [
      invalid.length
        ? cond(
            'Accepted',
            false,
            'ListenersNotValid',
            `invalid listeners: ${invalid.map((s) => s.name).join(', ')} (see their conditions)`,
          )
        : cond('Accepted', true, 'Accepted', 'Served by the ingress gateway (istio: ingressgateway)'),
      programmed.length
        ? cond(
            'Programmed',
            true,
            'Programmed',
            `${programmed.length} of ${statuses.length} listeners served`,
          )
        : cond('Programmed', false, 'Invalid', 'no listener is served'),
      cond('ResolvedRefs', true, 'ResolvedRefs', 'Resource references are resolved'),
      // GEP-91: say so while any listener lets clients in without a valid certificate.
      ...(listeners.some((p) => p.frontend?.mode === 'AllowInsecureFallback')
        ? [
            cond(
              'InsecureFrontendValidationMode',
              true,
              'ConfigurationChanged',
              'client certificate validation is AllowInsecureFallback: clients without a valid certificate are let in',
            ),
          ]
        : []),
    ],
    listeners: statuses,
  };
}

/** Resources as the admin API returns them: routes and Gateway API Gateways with their computed `status`. */
export function withRouteStatus(
  items: Resource[],
  all: Resource[],
): Array<Resource & { status?: RouteStatus | GatewayStatus }> {
  if (!items.some((r) => isRoute(r) || r.kind === 'KubernetesGateway')) return items;
  const index = new MeshIndex(all, []);
  return items.map((r) =>
    isRoute(r)
      ? { ...r, status: routeStatus(r, index) }
      : r.kind === 'KubernetesGateway'
        ? { ...r, status: gatewayStatus(r, index) }
        : r,
  );
}
