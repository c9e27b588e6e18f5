// Kubernetes Gateway API routes (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute) compiled into the snapshot
// model, beside Istio's VirtualServices. Two places take them:
//  - sidecars (GAMMA): HTTP and gRPC routes whose parentRef is a Service replace that service's default
//    route on the ports they name, unless a VirtualService already binds the host (Istio's precedence);
//  - the ingress gateway `weft up` runs (labels istio: ingressgateway) serves every Gateway API Gateway,
//    whatever its gatewayClassName, on 127.0.0.1: HTTP listeners share a route table per port; HTTPS
//    listeners terminate TLS with their certificateRefs and route their own HTTPRoutes/GRPCRoutes; TLS
//    listeners in Passthrough route by SNI with TLSRoutes; TLS listeners in Terminate send the bytes
//    inside to a TLSRoute or TCPRoute. Every HTTPS/TLS listener is one SNI server of the port, the same
//    model Istio Gateway servers compile to (gateway-tls.ts). A TCP listener takes its port alone and
//    sends each connection's bytes to its TCPRoute (GatewayListener.tcpRoute).
// Pieces: gateway-api/refs.ts (parents, hostnames, backends, listener kinds), tls.ts (certificateRefs),
// matches.ts (matches and precedence), actions.ts (filters and backends -> route actions).
import type {
  GatewayListener,
  GatewayTlsServer,
  Route,
  TlsRoute,
  VirtualHost,
  WeightedCluster,
} from '../../model/snapshot.js';
import type {
  AnyGatewayApiRoute,
  GatewayApiRoute,
  KubernetesGateway,
  L4Route,
  Listener,
} from '../gateway-api-types.js';
import { hostMatches } from '../hosts.js';
import { labelsMatch, type MeshIndex, type ServiceInfo } from './inputs.js';
import { compileEntry } from './gateway-api/actions.js';
import { comparePrecedence, ruleEntries, type RuleEntry } from './gateway-api/matches.js';
import {
  listenerKind,
  listenerKinds,
  listenerServed,
  resolveBackend,
  resolveParents,
  type ListenerAttachment,
  type ListenerKind,
} from './gateway-api/refs.js';
import { listenerCertificate, type ListenerCertificate } from './gateway-api/tls.js';
import { listenerFrontend, type ListenerFrontend } from './gateway-api/frontend.js';

/** The proxy that serves Gateway API Gateways: the ingress gateway `weft up` always runs. */
export const GATEWAY_API_PROXY_LABELS: Record<string, string> = { istio: 'ingressgateway' };

interface ServiceBinding {
  route: GatewayApiRoute;
  ports: number[];
  consumer: boolean; // the route lives in another namespace than the Service: it applies to its own namespace only
}

// Parent resolution walks every route; do it once per MeshIndex (one per push), not once per proxy.
const gammaCache = new WeakMap<MeshIndex, Map<string, ServiceBinding[]>>();

function gammaBindings(index: MeshIndex): Map<string, ServiceBinding[]> {
  let byService = gammaCache.get(index);
  if (byService) return byService;
  byService = new Map();
  for (const route of index.gatewayApiRoutes) {
    for (const p of resolveParents(route, index)) {
      if (!p.accepted || !p.service) continue;
      const list = byService.get(p.service.info.fqdn) ?? [];
      list.push({ route, ports: p.service.ports, consumer: p.service.consumer });
      byService.set(p.service.info.fqdn, list);
    }
  }
  gammaCache.set(index, byService);
  return byService;
}

/**
 * GAMMA (GEP-1426) routes for one service port as seen from a client namespace, or undefined when no
 * route binds it. Consumer routes (in the client's namespace, parent Service elsewhere) win over the
 * producer routes (in the Service's namespace), which apply to every other client.
 */
export function gammaRoutes(
  index: MeshIndex,
  svc: ServiceInfo,
  port: number,
  clientNamespace: string,
): Route[] | undefined {
  const bindings = (gammaBindings(index).get(svc.fqdn) ?? []).filter((b) => b.ports.includes(port));
  const consumer = bindings.filter((b) => b.consumer && b.route.metadata.namespace === clientNamespace);
  const chosen = consumer.length ? consumer : bindings.filter((b) => !b.consumer);
  if (chosen.length === 0) return undefined;
  const routes = [...new Set(chosen.map((b) => b.route))];
  const entries = routes.flatMap(ruleEntries).sort(comparePrecedence);
  return entries.map((e) => compileEntry(e, { index, port }));
}

/** One Gateway API listener as the ingress gateway serves it (or not), for the compiler and for status. */
export interface ListenerPlan {
  gateway: KubernetesGateway;
  listener: Listener;
  kind: ListenerKind;
  /** Route kinds it takes (status supportedKinds) and the allowedRoutes.kinds it cannot take. */
  kinds: string[];
  invalidKinds: string[];
  /** Routes attached to it (Accepted for this listener). */
  attachedRoutes: number;
  /** Opened on the gateway proxy: a served protocol, and no conflict with an earlier listener. */
  served: boolean;
  conflict?: { reason: 'ProtocolConflict' | 'HostnameConflict'; message: string };
  /** Terminate listeners: the certificate served and what is wrong with certificateRefs. */
  certificate?: ListenerCertificate;
  /** Terminate listeners with client certificate validation (GEP-91): the CA bundle and its problems. */
  frontend?: ListenerFrontend;
}

export interface GatewayApiPlan {
  listeners: GatewayListener[];
  /** By Gateway, then listener name. */
  byGateway: Map<KubernetesGateway, Map<string, ListenerPlan>>;
}

/**
 * Add the Gateway API's listeners to a gateway proxy's listeners (by port), when this proxy is the one
 * that serves them. Istio Gateway servers come first: a port they hold as plain HTTP takes Gateway API
 * HTTP listeners into its route table, a TLS port takes their TLS servers; a port of the other kind is
 * left to Istio's Gateway.
 */
export function addGatewayApiListeners(
  byPort: Map<number, GatewayListener>,
  index: MeshIndex,
  labels: Record<string, string>,
): void {
  if (!labelsMatch(GATEWAY_API_PROXY_LABELS, labels)) return;
  for (const l of gatewayApiListeners(index)) {
    const existing = byPort.get(l.port);
    if (!existing) byPort.set(l.port, l);
    else if ((existing.tls === undefined) !== (l.tls === undefined)) continue;
    else if (existing.tcpRoute || l.tcpRoute)
      continue; // a plain TCP port is one listener's alone
    else if (!existing.tls || !l.tls) existing.virtualHosts.push(...l.virtualHosts);
    else {
      // TLS: an SNI name an Istio server already answers stays with it (as Istio skips a repeated host).
      const names = (s: GatewayTlsServer) => (s.sniHosts.length ? s.sniHosts : ['*']);
      const taken = new Set(existing.tls.servers.flatMap(names));
      for (const s of l.tls.servers) {
        if (names(s).some((h) => taken.has(h))) continue;
        existing.tls.servers.push(s);
        const own = new Set(s.virtualHosts ?? []);
        existing.virtualHosts.push(...l.virtualHosts.filter((vh) => own.has(vh.name)));
      }
    }
  }
}

interface Attached extends ListenerAttachment {
  route: AnyGatewayApiRoute;
}

/** One GatewayListener per port across all Gateway API Gateways (listeners merged by port). */
export function gatewayApiListeners(index: MeshIndex): GatewayListener[] {
  return gatewayApiPlan(index).listeners;
}

const planCache = new WeakMap<MeshIndex, GatewayApiPlan>();

/** Oldest first, then by namespace and name: the spec's order for conflicting routes. */
function byAge(a: AnyGatewayApiRoute, b: AnyGatewayApiRoute): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Every Gateway API listener, decided once per MeshIndex: which are opened, with which routes and
 * certificates. Gateways in order, listeners in order; on one port, plain HTTP listeners share a route
 * table, TLS listeners (HTTPS, TLS) are SNI servers; a listener of the other kind than the port's first
 * is ProtocolConflict, a second TLS listener with the same hostname on a port is HostnameConflict.
 */
export function gatewayApiPlan(index: MeshIndex): GatewayApiPlan {
  const cached = planCache.get(index);
  if (cached) return cached;
  const attached: Attached[] = [];
  const routes: AnyGatewayApiRoute[] = [...index.gatewayApiRoutes, ...index.gatewayApiL4Routes];
  for (const route of routes)
    for (const p of resolveParents(route, index)) for (const a of p.listeners) attached.push({ ...a, route });
  const attachedTo = (p: { gateway: KubernetesGateway; listener: Listener }) =>
    attached.filter((a) => a.gateway === p.gateway && a.listener === p.listener);

  const byGateway = new Map<KubernetesGateway, Map<string, ListenerPlan>>();
  const portMode = new Map<number, 'plain' | 'tls' | 'tcp'>();
  const sniTaken = new Map<number, Set<string>>();
  const served: ListenerPlan[] = [];
  for (const gateway of index.kubernetesGateways) {
    const plans = new Map<string, ListenerPlan>();
    byGateway.set(gateway, plans);
    for (const listener of gateway.spec.listeners) {
      const kind = listenerKind(listener);
      const { kinds, invalid } = listenerKinds(listener);
      const plan: ListenerPlan = {
        gateway,
        listener,
        kind,
        kinds,
        invalidKinds: invalid,
        attachedRoutes: new Set(attachedTo({ gateway, listener }).map((a) => a.route)).size,
        served: false,
      };
      plans.set(listener.name, plan);
      if (kind === 'https' || kind === 'tls-terminate') {
        plan.certificate = listenerCertificate(gateway, listener, index);
        const frontend = listenerFrontend(gateway, listener, index);
        if (frontend) plan.frontend = frontend;
      }
      if (!listenerServed(listener)) continue;
      const mode = kind === 'http' ? 'plain' : kind === 'tcp' ? 'tcp' : 'tls';
      const held = portMode.get(listener.port);
      if (held && (held !== mode || mode === 'tcp')) {
        const what = { plain: 'plain HTTP', tls: 'TLS', tcp: 'plain TCP' }[held];
        plan.conflict = {
          reason: 'ProtocolConflict',
          message: `port ${listener.port} already serves ${what} for another listener`,
        };
        continue;
      }
      if (mode === 'tls') {
        const taken = sniTaken.get(listener.port) ?? new Set<string>();
        const host = listener.hostname ?? '*';
        if (taken.has(host)) {
          plan.conflict = {
            reason: 'HostnameConflict',
            message: `another TLS listener on port ${listener.port} already has hostname "${host}"`,
          };
          continue;
        }
        taken.add(host);
        sniTaken.set(listener.port, taken);
      }
      portMode.set(listener.port, mode);
      plan.served = true;
      served.push(plan);
    }
  }

  const out: GatewayListener[] = [];
  const ports = [...new Set(served.map((p) => p.listener.port))].sort((a, b) => a - b);
  for (const port of ports) {
    const onPort = served.filter((p) => p.listener.port === port);
    const first = onPort[0]!.gateway.metadata;
    const listener: GatewayListener = {
      name: `${first.namespace}/${first.name}:${port}`,
      bind: '127.0.0.1',
      port,
      virtualHosts: [],
    };
    if (portMode.get(port) === 'tcp') {
      // One TCP listener per port: its oldest TCPRoute takes every connection.
      const route = attachedTo(onPort[0]!)
        .map((a) => a.route as L4Route)
        .sort(byAge)[0];
      listener.tcpRoute = route
        ? {
            name: `${route.kind}/${route.metadata.namespace}/${route.metadata.name}`,
            clusters: l4Clusters(route, index),
          }
        : { name: '-', clusters: [] };
    } else if (portMode.get(port) === 'plain') {
      const att = attached.filter((a) => onPort.some((p) => p.listener === a.listener));
      // A vhost for every listener hostname too: a host that belongs to a listener without routes gets
      // 404, rather than falling through to another listener's catch-all (listener isolation).
      const domains = new Set([
        ...onPort.map((p) => p.listener.hostname ?? '*'),
        ...att.flatMap((a) => a.hostnames),
      ]);
      const listenerHosts = onPort.map((p) => p.listener.hostname ?? '');
      listener.virtualHosts = [...domains]
        .sort()
        .map((d) => virtualHost(d, port, att as HttpAttached[], listenerHosts, index));
    } else {
      listener.tls = { servers: [] };
      const httpsHosts = onPort.filter((p) => p.kind === 'https').map((p) => p.listener.hostname ?? '');
      const tlsHosts = onPort.map((p) => p.listener.hostname ?? '');
      for (const p of onPort) {
        const server = tlsServer(p, attachedTo(p), { httpsHosts, tlsHosts }, index);
        listener.tls.servers.push(...server.tls);
        listener.virtualHosts.push(...server.virtualHosts);
      }
    }
    out.push(listener);
  }
  const plan = { listeners: out, byGateway };
  planCache.set(index, plan);
  return plan;
}

type HttpAttached = Attached & { route: GatewayApiRoute };
const isHttpRoute = (a: Attached): a is HttpAttached =>
  a.route.kind === 'HTTPRoute' || a.route.kind === 'GRPCRoute';

/** The backends of a TLSRoute or TCPRoute as weighted clusters; a backend that does not resolve keeps its weight and refuses. */
function l4Clusters(route: L4Route, index: MeshIndex): WeightedCluster[] {
  const out: WeightedCluster[] = [];
  route.spec.rules.forEach((rule, i) =>
    rule.backendRefs.forEach((b, j) => {
      const r = resolveBackend(b, route, index);
      out.push({
        // Spec: connections for an invalid backend are rejected, in proportion to its weight.
        cluster: r.ok
          ? r.cluster
          : `invalid|${route.kind}/${route.metadata.namespace}/${route.metadata.name}#${i}.${j}`,
        weight: b.weight ?? 1,
      });
    }),
  );
  return out;
}

/** The TLS server of one HTTPS or TLS listener, and the virtual hosts its handshakes reach. */
function tlsServer(
  p: ListenerPlan,
  att: Attached[],
  hostsOnPort: { httpsHosts: string[]; tlsHosts: string[] },
  index: MeshIndex,
): { tls: GatewayTlsServer[]; virtualHosts: VirtualHost[] } {
  const { httpsHosts, tlsHosts } = hostsOnPort;
  const { gateway, listener } = p;
  const name = `${gateway.metadata.namespace}/${gateway.metadata.name}/${listener.name}`;
  const sniHosts = listener.hostname ? [listener.hostname.toLowerCase()] : [];
  if (p.kind === 'tls-passthrough') {
    const l4 = att.map((a) => ({ ...a, route: a.route as L4Route })).sort((a, b) => byAge(a.route, b.route));
    const tlsRoutes: TlsRoute[] = l4.map((a) => ({
      name: `${a.route.kind}/${a.route.metadata.namespace}/${a.route.metadata.name}`,
      sniHosts: a.hostnames.map((h) => h.toLowerCase()),
      clusters: l4Clusters(a.route, index),
    }));
    return { tls: [{ name, sniHosts, mode: 'PASSTHROUGH', tlsRoutes }], virtualHosts: [] };
  }
  const server: GatewayTlsServer = {
    name,
    sniHosts,
    mode: 'SIMPLE',
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
  };
  const cert = p.certificate?.certificate;
  if (cert) {
    Object.assign(server, cert);
    if (p.certificate!.more.length) server.moreCertificates = p.certificate!.more;
  } else server.error = p.certificate?.problems.map((x) => x.message).join('; ') ?? 'no certificate';
  const fe = p.frontend;
  if (fe?.ca) {
    // AllowInsecureFallback: no certificate, or one that does not verify, is let in too.
    server.mode = fe.mode === 'AllowValidOnly' ? 'MUTUAL' : 'OPTIONAL_MUTUAL';
    server.caCertificates = { pem: fe.ca };
    if (fe.mode === 'AllowInsecureFallback') server.allowUnverified = true;
  } else if (fe && !server.error)
    server.error = `no valid caCertificateRef: ${fe.problems.map((x) => x.message).join('; ')}`;
  if (p.kind === 'tls-terminate')
    return { tls: terminatedServers(server, p, att, tlsHosts, index), virtualHosts: [] };
  // HTTPS: this listener's routes only; other listeners' hostnames on the port get 404 here.
  const http = att.filter(isHttpRoute);
  const port = listener.port;
  const domains = new Set([
    listener.hostname ?? '*',
    ...http.flatMap((a) => a.hostnames),
    ...httpsHosts.map((h) => h || '*'),
  ]);
  const virtualHosts = [...domains].sort().map((d) => {
    const vh = virtualHost(d, port, http, httpsHosts, index);
    vh.name = `${vh.name}@${name}`;
    return vh;
  });
  server.virtualHosts = virtualHosts.map((vh) => vh.name);
  return { tls: [server], virtualHosts };
}

/**
 * A TLS listener in Terminate mode: one SNI server per attached route (oldest first), answering the
 * route's hostnames (TLSRoute) or the listener's (TCPRoute, or a TLSRoute on the listener's hostname),
 * all with the listener's certificate; the bytes inside go to that route's backends. A name an older
 * route took, or that a more specific listener on the port owns, is left out. No route: one server that
 * closes what it accepts.
 */
function terminatedServers(
  base: GatewayTlsServer,
  p: ListenerPlan,
  att: Attached[],
  tlsHosts: string[],
  index: MeshIndex,
): GatewayTlsServer[] {
  const own = p.listener.hostname ?? '';
  const routes = [...new Set(att.map((a) => a.route as L4Route))].sort(byAge);
  const out: GatewayTlsServer[] = [];
  const claimed = new Set<string>();
  for (const route of routes) {
    const hosts = att
      .filter((a) => a.route === route)
      .flatMap((a) => a.hostnames.map((h) => h.toLowerCase()))
      .filter((h) => !claimed.has(h) && (h === '*' || owningListenerHost(h, tlsHosts) === own));
    if (hosts.length === 0) continue;
    for (const h of hosts) claimed.add(h);
    const ref = `${route.kind}/${route.metadata.namespace}/${route.metadata.name}`;
    out.push({
      ...base,
      name: `${base.name}@${ref}`,
      sniHosts: hosts.includes('*') ? base.sniHosts : [...new Set(hosts)],
      tcpRoute: { name: ref, clusters: l4Clusters(route, index) },
    });
  }
  return out.length ? out : [base];
}

/** Specificity of a hostname that matched: exact names before wildcards, longer before shorter. */
function hostRank(h: string): [number, number] {
  if (h === '*') return [0, 0];
  return [h.startsWith('*.') ? 0 : h.length, h.length];
}

/** The listener hostname that owns a request host: exact, then the longest wildcard, then none (""). */
function owningListenerHost(domain: string, listenerHosts: string[]): string {
  let best = '';
  for (const lh of listenerHosts) {
    if (lh === '' || !(lh === domain || hostMatches(lh, domain))) continue;
    if (best === '' || lh === domain || (best !== domain && lh.length > best.length)) best = lh;
  }
  return best;
}

function virtualHost(
  domain: string,
  port: number,
  attached: HttpAttached[],
  listenerHosts: string[],
  index: MeshIndex,
): VirtualHost {
  const owner = owningListenerHost(domain, listenerHosts);
  // Per route, the most specific of its hostnames that covers this domain.
  const best = new Map<GatewayApiRoute, string>();
  for (const a of attached) {
    if ((a.listener.hostname ?? '') !== owner) continue;
    for (const h of a.hostnames) {
      if (!(h === domain || h === '*' || (h.startsWith('*.') && hostMatches(h, domain)))) continue;
      const prev = best.get(a.route);
      if (prev === undefined || compareRank(hostRank(h), hostRank(prev)) < 0) best.set(a.route, h);
    }
  }
  const entries: Array<RuleEntry & { host: [number, number] }> = [];
  for (const [route, h] of best)
    for (const e of ruleEntries(route)) entries.push({ ...e, host: hostRank(h) });
  // Spec: across routes, the one with the most specific matching hostname first; then match precedence.
  entries.sort((a, b) => compareRank(a.host, b.host) || comparePrecedence(a, b));
  return {
    name: `${domain}:${port}`,
    domains: [domain],
    routes: entries.map((e) => compileEntry(e, { index, port })),
  };
}

function compareRank(a: [number, number], b: [number, number]): number {
  return b[0] - a[0] || b[1] - a[1];
}
