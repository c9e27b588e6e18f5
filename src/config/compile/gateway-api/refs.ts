// Resolving a Gateway API route's references: which parents (Gateway listeners, or Services for GAMMA
// mesh routes) it attaches to and with which hostnames, and which backends it may send to. The compiler
// and the route status (config/route-status.ts) share these, so status always explains the snapshot.
import { clusterName } from '../../../model/snapshot.js';
import {
  GATEWAY_API_GROUP,
  type AnyGatewayApiRoute,
  type BackendObjectReference,
  type KubernetesGateway,
  type LabelSelector,
  type Listener,
  type ParentReference,
} from '../../gateway-api-types.js';
import { hostMatches, serviceFqdn } from '../../hosts.js';
import type { MeshIndex, ServiceInfo } from '../inputs.js';

export interface ListenerAttachment {
  gateway: KubernetesGateway;
  listener: Listener;
  hostnames: string[]; // route hostnames intersected with the listener's; "*" = any host
}

export interface ParentOutcome {
  parentRef: ParentReference;
  accepted: boolean;
  reason:
    | 'Accepted'
    | 'NoMatchingParent'
    | 'NotAllowedByListeners'
    | 'NoMatchingListenerHostname'
    | 'UnsupportedValue';
  message: string;
  listeners: ListenerAttachment[];
  /** GAMMA: the Service this route configures, on which ports; consumer = route in another namespace. */
  service?: { info: ServiceInfo; ports: number[]; consumer: boolean };
}

const isServiceRef = (p: ParentReference) => p.group === '' && (p.kind ?? 'Gateway') === 'Service';
const isGatewayRef = (p: ParentReference) =>
  (p.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP && (p.kind ?? 'Gateway') === 'Gateway';

const fail = (
  parentRef: ParentReference,
  reason: ParentOutcome['reason'],
  message: string,
): ParentOutcome => ({
  parentRef,
  accepted: false,
  reason,
  message,
  listeners: [],
});

/** Every parentRef of a route, resolved (spec: CommonRouteSpec.parentRefs, ParentReference). */
export function resolveParents(route: AnyGatewayApiRoute, index: MeshIndex): ParentOutcome[] {
  return (route.spec.parentRefs ?? []).map((ref) => {
    if (isServiceRef(ref)) return serviceParent(route, ref, index);
    if (isGatewayRef(ref)) return gatewayParent(route, ref, index);
    const group = ref.group ?? GATEWAY_API_GROUP;
    const hint = ref.kind === 'Service' ? ' (a core Service needs group: "")' : '';
    return fail(
      ref,
      'NoMatchingParent',
      `unsupported parentRef: group "${group}" kind "${ref.kind ?? 'Gateway'}"${hint}`,
    );
  });
}

function serviceParent(route: AnyGatewayApiRoute, ref: ParentReference, index: MeshIndex): ParentOutcome {
  const ns = ref.namespace ?? route.metadata.namespace;
  const info = index.services.get(serviceFqdn(ref.name, ns, index.mesh.domain));
  if (!info) return fail(ref, 'NoMatchingParent', `service ${ns}/${ref.name} not found`);
  // sectionName names a Service port; port selects by number; both must agree when both are given.
  const ports = info.resource.spec.ports.filter(
    (p) =>
      (ref.port === undefined || p.port === ref.port) &&
      (ref.sectionName === undefined || p.name === ref.sectionName),
  );
  if (ports.length === 0) {
    const what = ref.sectionName !== undefined ? `sectionName "${ref.sectionName}"` : `port ${ref.port}`;
    return fail(ref, 'NoMatchingParent', `${what} not found on service ${ns}/${ref.name}`);
  }
  return {
    parentRef: ref,
    accepted: true,
    reason: 'Accepted',
    message: 'Route was valid',
    listeners: [],
    service: { info, ports: ports.map((p) => p.port), consumer: ns !== route.metadata.namespace },
  };
}

function gatewayParent(route: AnyGatewayApiRoute, ref: ParentReference, index: MeshIndex): ParentOutcome {
  const ns = ref.namespace ?? route.metadata.namespace;
  const gateway = index.kubernetesGateways.find(
    (g) => g.metadata.namespace === ns && g.metadata.name === ref.name,
  );
  if (!gateway) return fail(ref, 'NoMatchingParent', `gateway ${ns}/${ref.name} not found`);
  const selected = gateway.spec.listeners.filter(
    (l) =>
      (ref.sectionName === undefined || l.name === ref.sectionName) &&
      (ref.port === undefined || l.port === ref.port),
  );
  if (selected.length === 0) {
    const what = [
      ref.sectionName !== undefined ? `sectionName "${ref.sectionName}"` : '',
      ref.port !== undefined ? `port ${ref.port}` : '',
    ];
    return fail(ref, 'NoMatchingParent', `${what.filter(Boolean).join(' with ')} not found`);
  }
  const allowed = selected.filter((l) => kindAllowed(l, route.kind) && namespaceAllowed(l, gateway, route));
  if (allowed.length === 0)
    return fail(
      ref,
      'NotAllowedByListeners',
      `no listener of gateway ${ns}/${ref.name} allows this ${route.kind}`,
    );
  const hostnames = 'hostnames' in route.spec ? route.spec.hostnames : undefined;
  const matched = allowed
    .map((listener) => ({ gateway, listener, hostnames: intersectHostnames(listener.hostname, hostnames) }))
    .filter((a) => a.hostnames.length > 0);
  if (matched.length === 0) {
    const names = allowed.map((l) => `"${l.hostname ?? ''}"`).join(', ');
    return fail(ref, 'NoMatchingListenerHostname', `no hostnames matched parent hostname ${names}`);
  }
  const listeners = matched.filter((a) => listenerServed(a.listener));
  if (listeners.length === 0) {
    const names = matched.map((a) => a.listener.name).join(', ');
    return fail(
      ref,
      'UnsupportedValue',
      `listener ${names} of gateway ${ns}/${ref.name} is not served by Weft (protocol ${matched[0]!.listener.protocol})`,
    );
  }
  return { parentRef: ref, accepted: true, reason: 'Accepted', message: 'Route was valid', listeners };
}

/** What a listener does with connections, from its protocol and tls.mode. */
export type ListenerKind = 'http' | 'https' | 'tls-passthrough' | 'tls-terminate' | 'tcp' | 'other';

/** Core protocol names are case-sensitive (as Istio reads them: a listener with protocol "http" is unsupported). */
export function listenerKind(l: Listener): ListenerKind {
  switch (l.protocol) {
    case 'HTTP':
      return 'http';
    case 'HTTPS':
      return 'https';
    case 'TLS':
      return l.tls?.mode === 'Passthrough' ? 'tls-passthrough' : 'tls-terminate';
    case 'TCP':
      return 'tcp';
    default:
      return 'other';
  }
}

/** UDP and domain-prefixed protocols are not served: the gateway opens no port for them. */
export function listenerServed(l: Listener): boolean {
  return listenerKind(l) !== 'other';
}

/** Route kinds a protocol carries (Istio's choice for TLS: Passthrough takes TLSRoute, Terminate TCPRoute too). */
const KINDS_BY_LISTENER: Record<ListenerKind, readonly string[]> = {
  http: ['HTTPRoute', 'GRPCRoute'],
  https: ['HTTPRoute', 'GRPCRoute'],
  'tls-passthrough': ['TLSRoute'],
  'tls-terminate': ['TLSRoute', 'TCPRoute'],
  tcp: ['TCPRoute'],
  other: [],
};

/**
 * The route kinds a listener takes (its status' supportedKinds): allowedRoutes.kinds that its protocol
 * can carry, else every kind its protocol carries; `invalid` are the listed kinds it cannot take.
 */
export function listenerKinds(l: Listener): { kinds: string[]; invalid: string[] } {
  const carried = KINDS_BY_LISTENER[listenerKind(l)];
  const listed = l.allowedRoutes?.kinds;
  if (!listed?.length) return { kinds: [...carried], invalid: [] };
  const kinds: string[] = [];
  const invalid: string[] = [];
  for (const k of listed) {
    const ok = (k.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP && carried.includes(k.kind);
    const list = ok ? kinds : invalid;
    if (!list.includes(k.kind)) list.push(k.kind);
  }
  return { kinds, invalid };
}

/** Route kinds a listener takes: allowedRoutes.kinds its protocol carries, else what its protocol carries. */
function kindAllowed(l: Listener, kind: AnyGatewayApiRoute['kind']): boolean {
  return listenerKinds(l).kinds.includes(kind);
}

function namespaceAllowed(l: Listener, gw: KubernetesGateway, route: AnyGatewayApiRoute): boolean {
  const from = l.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return route.metadata.namespace === gw.metadata.namespace;
  if (from === 'Selector')
    return selectorMatches(l.allowedRoutes?.namespaces?.selector, route.metadata.namespace);
  return false;
}

/**
 * Weft does not keep Namespace objects, so a namespace's only known label is the one Kubernetes puts on
 * every namespace, `kubernetes.io/metadata.name`. Selectors on other labels select nothing.
 */
function selectorMatches(sel: LabelSelector | undefined, namespace: string): boolean {
  if (!sel) return false;
  const labels: Record<string, string> = { 'kubernetes.io/metadata.name': namespace };
  const okLabels = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const okExprs = (sel.matchExpressions ?? []).every((e) => {
    const v = labels[e.key];
    if (e.operator === 'In') return v !== undefined && (e.values ?? []).includes(v);
    if (e.operator === 'NotIn') return v === undefined || !(e.values ?? []).includes(v);
    if (e.operator === 'Exists') return v !== undefined;
    return v === undefined; // DoesNotExist
  });
  return okLabels && okExprs;
}

/**
 * Spec (HTTPRouteSpec.hostnames): a route without hostnames takes the listener's; a listener without one
 * takes the route's; otherwise keep each route hostname the listener covers, or the listener's hostname
 * where a route wildcard covers it. Empty = no intersection, and the listener does not take the route.
 */
export function intersectHostnames(
  listenerHost: string | undefined,
  routeHosts: string[] | undefined,
): string[] {
  if (!routeHosts?.length) return [listenerHost ?? '*'];
  if (!listenerHost) return [...new Set(routeHosts)];
  const out = new Set<string>();
  for (const h of routeHosts) {
    if (h === listenerHost || hostMatches(listenerHost, h)) out.add(h);
    else if (hostMatches(h, listenerHost)) out.add(listenerHost);
  }
  return [...out];
}

// ---- backends ------------------------------------------------------------------------------------

export type BackendResolution =
  | { ok: true; cluster: string }
  | { ok: false; reason: 'InvalidKind' | 'BackendNotFound' | 'RefNotPermitted'; message: string };

/**
 * A backendRef as the spec validates it (HTTPBackendRef): core Services only, cross-namespace only with a
 * ReferenceGrant, and the Service and port must exist. A GAMMA consumer route may name its parent Service
 * as a backend without a grant (the conformance test MeshConsumerRoute relies on it).
 */
export function resolveBackend(
  ref: BackendObjectReference,
  route: AnyGatewayApiRoute,
  index: MeshIndex,
): BackendResolution {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if (group !== '' || kind !== 'Service')
    return {
      ok: false,
      reason: 'InvalidKind',
      message: `referencing unsupported backendRef: group "${group}" kind "${kind}"`,
    };
  const routeNs = route.metadata.namespace;
  const ns = ref.namespace ?? routeNs;
  if (ns !== routeNs && !isParentService(route, ns, ref.name) && !granted(index, route, ns, ref.name)) {
    return {
      ok: false,
      reason: 'RefNotPermitted',
      message: `backendRef ${ns}/${ref.name} not accessible to a ${route.kind} in namespace "${routeNs}" (missing a ReferenceGrant?)`,
    };
  }
  const fqdn = serviceFqdn(ref.name, ns, index.mesh.domain);
  const svc = index.services.get(fqdn);
  if (!svc) return { ok: false, reason: 'BackendNotFound', message: `backend(${fqdn}) not found` };
  const ports = svc.resource.spec.ports;
  const port = ref.port ?? (ports.length === 1 ? ports[0]!.port : undefined);
  if (port === undefined || !ports.some((p) => p.port === port))
    return {
      ok: false,
      reason: 'BackendNotFound',
      message: `backend(${fqdn}) has no port ${ref.port ?? '(none given)'}`,
    };
  return { ok: true, cluster: clusterName(port, undefined, fqdn) };
}

function isParentService(route: AnyGatewayApiRoute, ns: string, name: string): boolean {
  return (route.spec.parentRefs ?? []).some(
    (p) => isServiceRef(p) && (p.namespace ?? route.metadata.namespace) === ns && p.name === name,
  );
}

/** ReferenceGrant (GEP-709): a grant in the target namespace names the route's kind and namespace. */
function granted(index: MeshIndex, route: AnyGatewayApiRoute, ns: string, name: string): boolean {
  return index.referenceGrants.some(
    (g) =>
      g.metadata.namespace === ns &&
      g.spec.from.some(
        (f) =>
          f.group === GATEWAY_API_GROUP && f.kind === route.kind && f.namespace === route.metadata.namespace,
      ) &&
      g.spec.to.some(
        (t) => t.group === '' && t.kind === 'Service' && (t.name === undefined || t.name === name),
      ),
  );
}

/** Every backend reference of a route with its field path: backendRefs and RequestMirror targets. */
export function backendRefsOf(
  route: AnyGatewayApiRoute,
): Array<{ ref: BackendObjectReference; path: string }> {
  const out: Array<{ ref: BackendObjectReference; path: string }> = [];
  const rules = (route.spec.rules ?? []) as Array<{
    filters?: Array<{ requestMirror?: { backendRef: BackendObjectReference } }>;
    backendRefs?: BackendObjectReference[];
  }>;
  rules.forEach((rule, i) => {
    (rule.filters ?? []).forEach((f, j) => {
      if (f.requestMirror)
        out.push({ ref: f.requestMirror.backendRef, path: `spec.rules[${i}].filters[${j}]` });
    });
    (rule.backendRefs ?? []).forEach((b, j) =>
      out.push({ ref: b, path: `spec.rules[${i}].backendRefs[${j}]` }),
    );
  });
  return out;
}
