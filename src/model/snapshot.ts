// The typed snapshot a proxy consumes. The control plane compiles user resources and the registry into
// one of these per proxy; the proxy knows nothing else about configuration. Plain JSON-safe data, so it
// travels over the push stream as-is and `weft proxy-config` can print it.

export interface StringMatcher {
  exact?: string;
  prefix?: string;
  regex?: string; // RE2-style, full match, compiled once when the snapshot is applied
}

export interface RouteMatch {
  path?: StringMatcher;
  ignoreCase?: boolean;
  method?: StringMatcher;
  authority?: StringMatcher;
  headers?: Array<{ name: string; match: StringMatcher }>; // names lower-case
}

export interface WeightedCluster {
  cluster: string;
  weight: number; // the route's weights sum to 100 (or to the total given)
}

export type RouteAction =
  | { kind: 'forward'; clusters: WeightedCluster[]; timeoutMs?: number }
  | { kind: 'direct'; status: number; body: string };

export interface Route {
  name: string; // for diagnostics: "VirtualService/ns/name#http[0]" or "default"
  matches: RouteMatch[]; // OR; empty = matches everything
  action: RouteAction;
}

export interface VirtualHost {
  name: string; // "reviews.default.svc.cluster.local:9080"
  domains: string[]; // lower-case; "*" or "*.suffix" allowed for gateways
  routes: Route[]; // first match wins
}

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';

export interface Endpoint {
  address: string; // host of the peer proxy's inbound listener
  port: number; // port of the peer proxy's inbound listener
  identity: string; // SPIFFE ID the peer must present
  instance: string; // proxy id, for diagnostics
  labels: Record<string, string>;
  healthy: boolean;
}

export interface Cluster {
  name: string; // Istio style: outbound|9080|v2|reviews.default.svc.cluster.local
  service: string; // FQDN
  port: number; // service port
  subset?: string;
  lbPolicy: LbPolicy;
  sni: string; // outbound_.9080_.v2_.reviews.default.svc.cluster.local: tells the peer which port
  endpoints: Endpoint[];
}

/** A plain-HTTP listener on a gateway proxy, from an Istio Gateway server. */
export interface GatewayListener {
  name: string; // "Gateway/ns/name:8080"
  bind: string; // address to bind
  port: number;
  virtualHosts: VirtualHost[];
}

/**
 * Inbound: which app port a peer may reach. A client names `service:port` in its TLS SNI
 * (Istio's `outbound_.<port>_.<subset>_.<host>`), and the inbound listener maps it to the app's port.
 */
export interface InboundRoute {
  service: string; // FQDN
  port: number; // service port
  targetPort: number; // container port of the app
}

export interface ProxyIdentity {
  id: string; // instance id: "reviews-v2-0.default"
  workload: string;
  namespace: string;
  serviceAccount: string;
  spiffeId: string;
  labels: Record<string, string>;
  kind: 'sidecar' | 'gateway';
}

export interface ProxySnapshot {
  version: string;
  proxy: ProxyIdentity;
  trustDomain: string;
  outbound: { virtualHosts: VirtualHost[] };
  inbound: {
    routes: InboundRoute[];
    containerPorts: number[];
    /** The workload's readiness probe; the proxy runs it and reports readiness to the registry. */
    probe?: { path: string; port: number };
  };
  gateways: GatewayListener[];
  clusters: Cluster[];
}

/** Istio's SNI for mesh traffic to one service port and subset. */
export function clusterSni(port: number, subset: string | undefined, host: string): string {
  return `outbound_.${port}_.${subset ?? ''}_.${host}`;
}

/** Reads `outbound_.<port>_.<subset>_.<host>` back; undefined when the name is not one. */
export function parseClusterSni(sni: string): { port: number; subset: string; host: string } | undefined {
  const m = /^outbound_\.(\d+)_\.([^_]*)_\.(.+)$/.exec(sni);
  if (!m) return undefined;
  return { port: Number(m[1]), subset: m[2] ?? '', host: m[3] ?? '' };
}

export function clusterName(port: number, subset: string | undefined, host: string): string {
  return `outbound|${port}|${subset ?? ''}|${host}`;
}
