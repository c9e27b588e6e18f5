// The typed snapshot a proxy consumes. The control plane compiles user resources and the registry into
// one of these per proxy; the proxy knows nothing else about configuration. Plain JSON-safe data, so it
// travels over the push stream as-is and `weft proxy-config` can print it.
import type { InboundSecurity } from './security.js';
import type { TracingSettings } from './tracing.js';
import type { AccessLogSettings } from './access-log.js';
import type { MetricsSettings } from './metrics-config.js';

export interface StringMatcher {
  exact?: string;
  prefix?: string;
  regex?: string; // RE2-style, full match, compiled once when the snapshot is applied
  /** Path only: Gateway API PathPrefix, matched element by element (`/foo` matches `/foo/bar`, not `/foobar`). */
  segmentPrefix?: string;
  /** Header/query only: true = must be present (any value), false = must be absent. */
  present?: boolean;
}

export interface NamedMatcher {
  name: string; // header names lower-case
  match: StringMatcher;
}

export interface RouteMatch {
  path?: StringMatcher;
  ignoreCase?: boolean; // applies to the path
  method?: StringMatcher;
  authority?: StringMatcher;
  scheme?: StringMatcher;
  headers?: NamedMatcher[];
  withoutHeaders?: NamedMatcher[]; // the request must NOT match any of these
  queryParams?: NamedMatcher[];
}

/** Header edits, applied in Envoy's order: remove, then set (replace), then add (append). */
export interface HeaderMutation {
  set?: Array<[string, string]>;
  add?: Array<[string, string]>;
  remove?: string[];
}

export interface WeightedCluster {
  cluster: string;
  weight: number; // relative; the route's weights usually sum to 100
  /** Answer locally with this status instead (a Gateway API backendRef that cannot be resolved: 500). */
  status?: number;
  requestHeaders?: HeaderMutation;
  responseHeaders?: HeaderMutation;
}

export interface RetryPolicy {
  attempts: number; // retries after the first try
  perTryTimeoutMs?: number;
  /** Envoy retry conditions: 5xx, gateway-error, reset, connect-failure, refused-stream, retriable-4xx,
   *  retriable-status-codes, and gRPC's cancelled, deadline-exceeded, internal, resource-exhausted, unavailable. */
  retryOn: string[];
  retriableStatusCodes: number[];
  /** Retry POST, PATCH and other non-idempotent methods too (off unless the route opts in). */
  nonIdempotent: boolean;
  backoffBaseMs: number; // jittered exponential backoff, Envoy's default 25 ms
  backoffMaxMs: number;
}

export interface RewritePolicy {
  /** Replace the part of the path the route's prefix (or exact) match consumed; Istio `rewrite.uri`. */
  prefix?: { matched: string; replacement: string };
  /** Replace the whole path (Gateway API ReplaceFullPath, or Istio rewrite of an exact match). */
  fullPath?: string;
  regex?: { pattern: string; substitution: string };
  authority?: string;
}

export interface MirrorPolicy {
  cluster: string;
  percentage: number; // 0..100
}

export interface FaultPolicy {
  delay?: { fixedDelayMs: number; percentage: number };
  abort?: { httpStatus?: number; grpcStatus?: number; percentage: number };
}

export interface CorsPolicy {
  allowOrigins: StringMatcher[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
  allowCredentials?: boolean;
}

export interface RedirectPolicy {
  scheme?: string;
  host?: string;
  port?: number;
  /** Full path replacement, or a prefix replacement of what the route matched. */
  path?: string;
  prefix?: { matched: string; replacement: string };
  status: number; // 301 by default (Istio), 302 in Gateway API
}

export type RouteAction =
  | {
      kind: 'forward';
      clusters: WeightedCluster[];
      timeoutMs?: number; // whole request, all retries included; undefined = no timeout (Istio's default)
      retry?: RetryPolicy;
      rewrite?: RewritePolicy;
      mirrors?: MirrorPolicy[];
    }
  | { kind: 'direct'; status: number; body: string }
  | { kind: 'redirect'; redirect: RedirectPolicy };

export interface Route {
  name: string; // for diagnostics: "VirtualService/ns/name#http[0]" or "default"
  matches: RouteMatch[]; // OR; empty = matches everything
  action: RouteAction;
  fault?: FaultPolicy;
  requestHeaders?: HeaderMutation;
  responseHeaders?: HeaderMutation;
  cors?: CorsPolicy;
  rateLimit?: TokenBucket;
}

/** A local token bucket: answers 429 with flag RL when empty. */
export interface TokenBucket {
  name: string; // the RateLimit resource, for diagnostics
  maxTokens: number;
  tokensPerFill: number;
  fillIntervalMs: number;
}

export interface VirtualHost {
  name: string; // "reviews.default.svc.cluster.local:9080"
  domains: string[]; // lower-case; "*" or "*.suffix" allowed for gateways
  routes: Route[]; // first match wins
}

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';

/** What a consistent-hash cluster hashes (DestinationRule consistentHash). */
export interface HashPolicy {
  header?: string; // lower-case
  cookie?: { name: string; path?: string; ttlMs?: number };
  sourceIp?: boolean;
  queryParam?: string;
  ringSize?: number; // ring hash: minimumRingSize; maglev: table size
}

export interface Locality {
  region?: string;
  zone?: string;
  subzone?: string;
}

/** localityLbSetting: prefer endpoints nearest the client, failing over by region as configured. */
export interface LocalityPolicy {
  failover: Array<{ from: string; to: string }>;
  /** Ordered label keys (`key` or `key=value`): endpoints sharing more of them, in order, with the client come first. */
  failoverPriority?: string[];
  /** Weighted traffic by locality; replaces failover. Patterns are `region/zone/subzone` with `*`. */
  distribute?: Array<{ from: string; to: Array<{ locality: string; weight: number }> }>;
}

export interface Endpoint {
  address: string; // host of the peer proxy's inbound listener
  port: number; // port of the peer proxy's inbound listener
  identity: string; // SPIFFE ID the peer must present
  instance: string; // proxy id, for diagnostics
  labels: Record<string, string>;
  healthy: boolean;
  locality?: Locality;
  /** Send plaintext: the peer does not accept mTLS on this port (PeerAuthentication DISABLE, auto
   *  mTLS) or a DestinationRule says tls.mode DISABLE. */
  plaintext?: boolean;
}

export interface Cluster {
  name: string; // Istio style: outbound|9080|v2|reviews.default.svc.cluster.local
  service: string; // FQDN
  port: number; // service port
  subset?: string;
  lbPolicy: LbPolicy;
  sni: string; // outbound_.9080_.v2_.reviews.default.svc.cluster.local: tells the peer which port
  protocol: AppProtocol;
  /** Outside the mesh (ServiceEntry MESH_EXTERNAL, or endpoints without a sidecar): plaintext, no identity. */
  external?: boolean;
  endpoints: Endpoint[];
  hashPolicy?: HashPolicy;
  locality?: LocalityPolicy;
  /** Endpoints named by host, resolved by the proxy (ServiceEntry `DNS`: every address is an endpoint,
   *  Envoy STRICT_DNS; `DNS_ROUND_ROBIN`: only the first address, Envoy LOGICAL_DNS). */
  dns?: 'STRICT' | 'LOGICAL';
  /** Wildcard ServiceEntry host with resolution NONE or DYNAMIC_DNS: each request goes to the host the
   *  client named, on the port of `endpoints[0]`. */
  dynamicHost?: true;
  connectionPool?: ConnectionPoolPolicy;
  outlierDetection?: OutlierPolicy;
  /** Caps retries to a share of requests (Linkerd's retryRatio) so retries cannot turn into a storm. */
  retryBudget?: { ratio: number; minRetriesPerSecond: number };
  /** DestinationRule `tls.mode` SIMPLE or MUTUAL toward a host outside the mesh: the app speaks plain
   *  HTTP (or TCP), the proxy speaks TLS to the endpoints (Istio's TLS origination). */
  originateTls?: OriginateTls;
  /** Istio's h2UpgradePolicy: HTTP/1.1 requests from the app travel to the peer proxy as streams of the
   *  HTTP/2 session between the sidecars (the peer still speaks HTTP/1.1 to its app). Only for
   *  `http` clusters inside the mesh (gRPC and HTTP/2 ports use HTTP/2 anyway). */
  h2Upgrade?: true;
}

/** Istio's ClientTLSSettings for SIMPLE and MUTUAL, ready for the proxy (files are read by the proxy). */
export interface OriginateTls {
  mode: 'SIMPLE' | 'MUTUAL';
  /** SNI sent in the ClientHello, and the name the server certificate must carry (unless
   *  `subjectAltNames` or `insecureSkipVerify`); the ServiceEntry host when the rule names none. */
  sni: string;
  /** Trusted CAs for the server certificate; absent = the system's (Node's) root CAs. */
  caCertificates?: PemSource;
  caCrl?: PemSource;
  /** The server certificate must carry one of these SANs (DNS, URI or IP) instead of the SNI name. */
  subjectAltNames?: string[];
  /** Do not verify the server certificate at all (chain or name). */
  insecureSkipVerify?: boolean;
  /** MUTUAL: the proxy's client certificate (chain, leaf first) and its key. */
  clientCertificate?: PemSource;
  privateKey?: PemSource;
  /** Why the rule cannot be applied (a missing Secret, MUTUAL without a certificate): requests to the
   *  cluster fail with 503 UF instead of going out in plaintext. */
  error?: string;
}

/** meshConfig.outboundTrafficPolicy.mode: what a sidecar does with a host that is neither a mesh
 *  Service nor a ServiceEntry. ALLOW_ANY (Istio's default) passes it through; REGISTRY_ONLY answers 502 NR. */
export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

/** DestinationRule connectionPool; excess requests fail fast with 503 and flag UO. */
export interface ConnectionPoolPolicy {
  maxConnections?: number;
  connectTimeoutMs?: number;
  maxPendingRequests?: number; // http1MaxPendingRequests
  maxRequests?: number; // http2MaxRequests: concurrent requests to the cluster
  maxRequestsPerConnection?: number;
  /** http.maxConcurrentStreams: streams at once on one HTTP/2 session; past it, another session. */
  maxConcurrentStreams?: number;
  idleTimeoutMs?: number;
  maxRetries?: number; // concurrent retries
  /** tcp.maxConnectionDuration: an upstream HTTP connection or session takes no requests past this age. */
  maxConnectionDurationMs?: number;
  /** tcp.idleTimeout: a TCP tunnel with no bytes either way this long is closed; 0 = never. */
  tcpIdleTimeoutMs?: number;
  /** tcp.tcpKeepalive (or meshConfig.tcpKeepalive): SO_KEEPALIVE on upstream connections. */
  tcpKeepalive?: TcpKeepalive;
}

/** TCP keep-alive on a cluster's upstream connections (Istio's TcpKeepalive, field by field). */
export interface TcpKeepalive {
  /** Idle time before the first probe; 0 = the system's (net.ipv4.tcp_keepalive_time). */
  timeMs: number;
  /** Time between unanswered probes. Absent: 1 s when `timeMs` is set (libuv's), else the system's. */
  intervalMs?: number;
  /** Unanswered probes before the connection is dropped. Absent: 10 when `timeMs` is set (libuv's),
   *  else the system's. */
  probes?: number;
}

/** DestinationRule outlierDetection (Envoy semantics). */
export interface OutlierPolicy {
  consecutive5xxErrors?: number;
  consecutiveGatewayErrors?: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

/** A listener on a gateway proxy, from Istio Gateway servers on one port: plain HTTP, or TLS when `tls` is set. */
export interface GatewayListener {
  name: string; // "Gateway/ns/name:8080"
  bind: string; // address to bind
  port: number;
  virtualHosts: VirtualHost[];
  /** TLS servers on this port (HTTPS, TLS), chosen by the client's SNI; absent = plain HTTP. */
  tls?: GatewayTls;
  /** A plain TCP port (Gateway API TCP listener): every connection's bytes go here, unread (no clusters: refused). */
  tcpRoute?: { name: string; clusters: WeightedCluster[] };
}

export interface GatewayTls {
  servers: GatewayTlsServer[];
}

/** PEM text given inline (from a Secret), or a file the gateway proxy reads, watches and reloads. */
export interface PemSource {
  pem?: string;
  file?: string;
}

export type GatewayTlsMode =
  'SIMPLE' | 'MUTUAL' | 'OPTIONAL_MUTUAL' | 'ISTIO_MUTUAL' | 'PASSTHROUGH' | 'AUTO_PASSTHROUGH';

/** One Istio Gateway server with TLS (ServerTLSSettings): its certificate, client checks and routes. */
export interface GatewayTlsServer {
  name: string; // "ns/gateway/portName", for logs
  /** SNI names it answers, lower-case, exact or "*.suffix"; empty = any name and no SNI at all. */
  sniHosts: string[];
  mode: GatewayTlsMode;
  certificate?: PemSource; // chain, leaf first (SIMPLE, MUTUAL, OPTIONAL_MUTUAL)
  privateKey?: PemSource;
  /** More certificates (Istio credentialNames/tlsCertificates, several Gateway API certificateRefs): the
   *  client's SNI picks among all of them by their DNS names, then its signature algorithms by key type. */
  moreCertificates?: Array<{ certificate: PemSource; privateKey: PemSource }>;
  /** MUTUAL, OPTIONAL_MUTUAL: client certificates must chain to one of these. */
  caCertificates?: PemSource;
  caCrl?: PemSource;
  /** OPTIONAL_MUTUAL only: a certificate that does not verify is let in too (Gateway API AllowInsecureFallback). */
  allowUnverified?: boolean;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL names; they apply up to TLS 1.2 (TLS 1.3 suites are fixed, as in Envoy). */
  cipherSuites?: string[];
  /** A client certificate must carry one of these SANs (URI, DNS, email or IP). */
  subjectAltNames?: string[];
  verifyCertificateSpki?: string[]; // base64 SHA-256 of the client's SubjectPublicKeyInfo
  verifyCertificateHash?: string[]; // hex SHA-256 of the client certificate (DER), ":" allowed
  /** Terminating modes: names of the listener's virtual hosts requests on this server may reach. */
  virtualHosts?: string[];
  /** PASSTHROUGH: VirtualService tls routes, first match by SNI wins; AUTO_PASSTHROUGH routes by Istio's SNI. */
  tlsRoutes?: TlsRoute[];
  /** A TLS server (not HTTPS) that terminates: the bytes inside go where the VirtualService tcp route says. */
  tcpRoute?: { name: string; clusters: WeightedCluster[] };
  /** Why this server cannot serve (a missing Secret, an invalid setting): its handshakes are refused. */
  error?: string;
}

/** A VirtualService `tls` route at a gateway: raw TLS, routed by the SNI, to weighted clusters. */
export interface TlsRoute {
  name: string; // "VirtualService/ns/name#tls[0]"
  sniHosts: string[]; // lower-case, exact or "*.suffix", "*" = any
  clusters: WeightedCluster[];
}

/**
 * Inbound: which app port a peer may reach. A client names `service:port` in its TLS SNI
 * (Istio's `outbound_.<port>_.<subset>_.<host>`), and the inbound listener maps it to the app's port.
 */
export interface InboundRoute {
  service: string; // FQDN
  port: number; // service port
  targetPort: number; // container port of the app
  protocol: AppProtocol; // how to speak to the app on that port
}

/** Istio's protocol selection: the Service port's appProtocol, or its name prefix (grpc-, http2-, tcp-...). */
export type AppProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

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
  outbound: {
    virtualHosts: VirtualHost[];
    /** Sidecars: hosts outside the registry; absent = 404 NR (gateways, and control planes before it). */
    policy?: OutboundTrafficPolicy;
  };
  inbound: {
    routes: InboundRoute[];
    containerPorts: number[];
    /** The workload's readiness probe; the proxy runs it and reports readiness to the registry. */
    probe?: { path: string; port: number };
    /** Local rate limit for all inbound HTTP requests to this workload. */
    rateLimit?: TokenBucket;
  };
  gateways: GatewayListener[];
  clusters: Cluster[];
  /** What this proxy enforces on requests it receives (sidecar inbound, gateway listeners). */
  security: InboundSecurity;
  /** Distributed tracing (Telemetry / MeshConfig); absent = the proxy leaves trace headers alone. */
  tracing?: TracingSettings;
  /** Access logs (Telemetry / MeshConfig); absent = Weft's compact line on the proxy's output. */
  accessLog?: AccessLogSettings;
  /** Istio metrics customised by Telemetry / MeshConfig; absent = Istio's standard metrics unchanged. */
  metrics?: MetricsSettings;
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
