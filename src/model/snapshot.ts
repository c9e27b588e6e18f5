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

/** Inbound: which app port a peer may reach, keyed by the SNI a client sends. */
export interface InboundRoute {
  sni: string;
  targetPort: number; // container port of the app
  service: string;
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
  inbound: { routes: InboundRoute[]; containerPorts: number[] };
  gateways: GatewayListener[];
  clusters: Cluster[];
}
