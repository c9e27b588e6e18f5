// Kubernetes Gateway API routes (HTTPRoute, GRPCRoute) compiled into the snapshot model, beside Istio's
// VirtualServices. Two places take them:
//  - sidecars (GAMMA): routes whose parentRef is a Service replace that service's default route on the
//    ports they name, unless a VirtualService already binds the host (Istio's precedence);
//  - the ingress gateway `weft up` runs (labels istio: ingressgateway) serves every Gateway API Gateway,
//    whatever its gatewayClassName: each HTTP listener port becomes a GatewayListener on 127.0.0.1.
// Pieces: gateway-api/refs.ts (parents, hostnames, backends), matches.ts (matches and precedence),
// actions.ts (filters and backends -> route actions).
import type { GatewayListener, Route, VirtualHost } from '../../model/snapshot.js';
import type { GatewayApiRoute, KubernetesGateway, Listener } from '../gateway-api-types.js';
import { hostMatches } from '../hosts.js';
import { labelsMatch, type MeshIndex, type ServiceInfo } from './inputs.js';
import { compileEntry } from './gateway-api/actions.js';
import { comparePrecedence, ruleEntries, type RuleEntry } from './gateway-api/matches.js';
import { resolveParents, type ListenerAttachment } from './gateway-api/refs.js';

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

const isHttp = (l: Listener) => l.protocol.toUpperCase() === 'HTTP';

/**
 * Add the Gateway API's HTTP listeners to a gateway proxy's listeners (by port), when this proxy is the
 * one that serves them. HTTPS and TLS listeners accept routes (see route status) but are not served yet.
 */
export function addGatewayApiListeners(
  byPort: Map<number, GatewayListener>,
  index: MeshIndex,
  labels: Record<string, string>,
): void {
  if (!labelsMatch(GATEWAY_API_PROXY_LABELS, labels)) return;
  for (const l of gatewayApiListeners(index)) {
    const existing = byPort.get(l.port);
    if (existing) existing.virtualHosts.push(...l.virtualHosts);
    else byPort.set(l.port, l);
  }
}

interface Attached extends ListenerAttachment {
  route: GatewayApiRoute;
}

/** One GatewayListener per port of an HTTP listener, across all Gateway API Gateways (merged by port). */
export function gatewayApiListeners(index: MeshIndex): GatewayListener[] {
  const attached: Attached[] = [];
  for (const route of index.gatewayApiRoutes) {
    for (const p of resolveParents(route, index)) {
      for (const a of p.listeners) if (isHttp(a.listener)) attached.push({ ...a, route });
    }
  }
  const ports = new Map<number, Array<{ gateway: KubernetesGateway; listener: Listener }>>();
  for (const gateway of index.kubernetesGateways) {
    for (const listener of gateway.spec.listeners.filter(isHttp)) {
      ports.set(listener.port, [...(ports.get(listener.port) ?? []), { gateway, listener }]);
    }
  }
  const out: GatewayListener[] = [];
  for (const [port, listeners] of ports) {
    const first = listeners[0]!.gateway.metadata;
    const onPort = attached.filter((a) => a.listener.port === port);
    // A vhost for every listener hostname too: a host that belongs to a listener without routes gets 404,
    // rather than falling through to another listener's catch-all (listener isolation).
    const domains = new Set([
      ...listeners.map((l) => l.listener.hostname ?? '*'),
      ...onPort.flatMap((a) => a.hostnames),
    ]);
    const listenerHosts = listeners.map((l) => l.listener.hostname ?? '');
    out.push({
      name: `${first.namespace}/${first.name}:${port}`,
      bind: '127.0.0.1',
      port,
      virtualHosts: [...domains].sort().map((d) => virtualHost(d, port, onPort, listenerHosts, index)),
    });
  }
  return out.sort((a, b) => a.port - b.port);
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
  attached: Attached[],
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
