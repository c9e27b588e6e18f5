// Typed Kubernetes Gateway API resources (gateway.networking.k8s.io): Gateway, HTTPRoute, GRPCRoute,
// TLSRoute, TCPRoute and ReferenceGrant, after schema validation. Field names follow the upstream Go types (apis/v1/*.go) so
// users' YAML maps one to one; defaults the API server would fill in are applied by the compiler.
//
// Two kinds are called `Gateway` in user YAML: Istio's (networking.istio.io) and the Gateway API's. They
// are told apart by API group when loading, and the Gateway API one is stored under the internal kind
// `KubernetesGateway` (Istio's own internal name for it, gvk.KubernetesGateway). So `kind` alone still
// discriminates the `Resource` union, store keys (`Kind/ns/name`) never collide, and every existing
// `kind === 'Gateway'` check keeps meaning Istio's Gateway. `apiVersion` keeps the user's group/version.
import type { ObjectMeta, SourcePosition } from './types.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_API_VERSIONS = [
  'gateway.networking.k8s.io/v1',
  'gateway.networking.k8s.io/v1beta1',
] as const;
export const GRPC_ROUTE_API_VERSIONS = [
  'gateway.networking.k8s.io/v1',
  'gateway.networking.k8s.io/v1alpha2',
] as const;
/** TLSRoute: experimental v1alpha2 (rules without limits on hostnames) and v1alpha3 / v1 (the same spec). */
export const TLS_ROUTE_API_VERSIONS = [
  'gateway.networking.k8s.io/v1',
  'gateway.networking.k8s.io/v1alpha3',
  'gateway.networking.k8s.io/v1alpha2',
] as const;
export const TCP_ROUTE_API_VERSIONS = ['gateway.networking.k8s.io/v1alpha2'] as const;
export const REFERENCE_GRANT_API_VERSIONS = [
  'gateway.networking.k8s.io/v1',
  'gateway.networking.k8s.io/v1beta1',
  'gateway.networking.k8s.io/v1alpha2',
] as const;

/** Gateway API objects keep their creation time: route matching precedence breaks ties by age. */
export interface GatewayApiMeta extends ObjectMeta {
  creationTimestamp?: string;
}

interface GatewayApiResource<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: GatewayApiMeta;
  spec: S;
  source?: SourcePosition;
}

// ---- shared --------------------------------------------------------------------------------------

export interface ParentReference {
  group?: string; // default gateway.networking.k8s.io; "" = core (Service, for GAMMA mesh routes)
  kind?: string; // default Gateway
  namespace?: string;
  name: string;
  sectionName?: string; // Gateway: listener name; Service: port name
  port?: number;
}

export interface BackendObjectReference {
  group?: string; // default "" (core)
  kind?: string; // default Service
  name: string;
  namespace?: string;
  port?: number; // required when kind is Service
}

export interface BackendRef extends BackendObjectReference {
  weight?: number; // default 1; 0 = no traffic
}

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPHeaderFilter {
  set?: HTTPHeader[];
  add?: HTTPHeader[];
  remove?: string[];
}

export interface HTTPPathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRequestRedirectFilter {
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: HTTPPathModifier;
  port?: number;
  statusCode?: number; // default 302
}

export interface HTTPURLRewriteFilter {
  hostname?: string;
  path?: HTTPPathModifier;
}

export interface Fraction {
  numerator: number;
  denominator?: number; // default 100
}

export interface HTTPRequestMirrorFilter {
  backendRef: BackendObjectReference;
  percent?: number;
  fraction?: Fraction;
}

export interface HTTPCORSFilter {
  allowOrigins?: string[];
  allowCredentials?: boolean;
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: number; // seconds, default 5
}

export interface LocalObjectReference {
  group: string;
  kind: string;
  name: string;
}

export type HTTPRouteFilterType =
  | 'RequestHeaderModifier'
  | 'ResponseHeaderModifier'
  | 'RequestMirror'
  | 'RequestRedirect'
  | 'URLRewrite'
  | 'CORS'
  | 'ExternalAuth'
  | 'ExtensionRef';

export interface HTTPRouteFilter {
  type: HTTPRouteFilterType;
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestMirror?: HTTPRequestMirrorFilter;
  requestRedirect?: HTTPRequestRedirectFilter;
  urlRewrite?: HTTPURLRewriteFilter;
  cors?: HTTPCORSFilter;
  externalAuth?: Record<string, unknown>; // accepted; not acted on yet
  extensionRef?: LocalObjectReference;
}

export interface SessionPersistence {
  sessionName?: string;
  absoluteTimeout?: string;
  idleTimeout?: string;
  type?: 'Cookie' | 'Header';
  cookieConfig?: { lifetimeType?: 'Permanent' | 'Session' };
}

export type MatchType = 'Exact' | 'RegularExpression';

// ---- HTTPRoute -----------------------------------------------------------------------------------

export interface HTTPPathMatch {
  type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; // default PathPrefix
  value?: string; // default "/"
}

export interface HTTPHeaderMatch {
  type?: MatchType; // default Exact
  name: string;
  value: string;
}

export interface HTTPRouteMatch {
  path?: HTTPPathMatch;
  headers?: HTTPHeaderMatch[];
  queryParams?: HTTPHeaderMatch[];
  method?: string;
}

export interface HTTPBackendRef extends BackendRef {
  filters?: HTTPRouteFilter[];
}

export interface HTTPRouteTimeouts {
  request?: string;
  backendRequest?: string;
}

export interface HTTPRouteRetry {
  codes?: number[];
  attempts?: number;
  backoff?: string;
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
  timeouts?: HTTPRouteTimeouts;
  retry?: HTTPRouteRetry;
  sessionPersistence?: SessionPersistence;
}

export interface HTTPRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[];
  rules?: HTTPRouteRule[];
  useDefaultGateways?: string;
}
export type HTTPRouteResource = GatewayApiResource<'HTTPRoute', HTTPRouteSpec>;

// ---- GRPCRoute -----------------------------------------------------------------------------------

export interface GRPCMethodMatch {
  type?: MatchType; // default Exact
  service?: string;
  method?: string;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers?: HTTPHeaderMatch[];
}

export interface GRPCRouteFilter {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestMirror' | 'ExtensionRef';
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestMirror?: HTTPRequestMirrorFilter;
  extensionRef?: LocalObjectReference;
}

export interface GRPCBackendRef extends BackendRef {
  filters?: GRPCRouteFilter[];
}

export interface GRPCRouteRule {
  name?: string;
  matches?: GRPCRouteMatch[];
  filters?: GRPCRouteFilter[];
  backendRefs?: GRPCBackendRef[];
  sessionPersistence?: SessionPersistence;
}

export interface GRPCRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[];
  rules?: GRPCRouteRule[];
  useDefaultGateways?: string;
}
export type GRPCRouteResource = GatewayApiResource<'GRPCRoute', GRPCRouteSpec>;

export type GatewayApiRoute = HTTPRouteResource | GRPCRouteResource;

// ---- TLSRoute, TCPRoute --------------------------------------------------------------------------

/** A rule of a TLSRoute or TCPRoute: where the bytes go, by weight (no matches: the listener decides). */
export interface L4RouteRule {
  name?: string;
  backendRefs: BackendRef[];
}

export interface TLSRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[]; // SNI names; required from v1alpha3 on
  rules: L4RouteRule[];
  useDefaultGateways?: string;
}
export type TLSRouteResource = GatewayApiResource<'TLSRoute', TLSRouteSpec>;

export interface TCPRouteSpec {
  parentRefs?: ParentReference[];
  rules: L4RouteRule[];
  useDefaultGateways?: string;
}
export type TCPRouteResource = GatewayApiResource<'TCPRoute', TCPRouteSpec>;

/** Routes that carry bytes, not requests: routed by the listener (and SNI), never by content. */
export type L4Route = TLSRouteResource | TCPRouteResource;
/** Every route kind that attaches to parents (status, references). */
export type AnyGatewayApiRoute = GatewayApiRoute | L4Route;

// ---- Gateway -------------------------------------------------------------------------------------

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export interface RouteGroupKind {
  group?: string; // default gateway.networking.k8s.io
  kind: string;
}

export interface AllowedRoutes {
  namespaces?: { from?: 'All' | 'Same' | 'Selector' | 'None'; selector?: LabelSelector };
  kinds?: RouteGroupKind[];
}

export interface SecretObjectReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

/** ObjectReference (GEP-91): a ConfigMap (or Secret) with a CA bundle under `ca.crt`. */
export interface CaCertificateRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

export interface FrontendTLSValidation {
  caCertificateRefs?: CaCertificateRef[];
  mode?: 'AllowValidOnly' | 'AllowInsecureFallback';
}

/** Gateway spec.tls: client certificate validation for HTTPS listeners, by default and per port. */
export interface GatewayTLSConfig {
  frontend?: {
    default: { validation?: FrontendTLSValidation };
    perPort?: Array<{ port: number; tls: { validation?: FrontendTLSValidation } }>;
  };
  backend?: Record<string, unknown>;
}

export interface ListenerTLSConfig {
  mode?: 'Terminate' | 'Passthrough';
  certificateRefs?: SecretObjectReference[];
  /** Older experimental form of client certificate validation (GatewayTLSConfig.frontend now). */
  frontendValidation?: FrontendTLSValidation;
  options?: Record<string, string>;
}

export interface Listener {
  name: string;
  hostname?: string;
  port: number;
  protocol: string; // HTTP, HTTPS, TLS, TCP, UDP or domain-prefixed; core values are case-insensitive
  tls?: ListenerTLSConfig;
  allowedRoutes?: AllowedRoutes;
}

export interface KubernetesGatewaySpec {
  gatewayClassName: string;
  listeners: Listener[];
  addresses?: Array<{ type?: string; value?: string }>;
  infrastructure?: Record<string, unknown>;
  allowedListeners?: Record<string, unknown>;
  tls?: GatewayTLSConfig;
  defaultScope?: string;
}
export type KubernetesGateway = GatewayApiResource<'KubernetesGateway', KubernetesGatewaySpec>;

// ---- ReferenceGrant ------------------------------------------------------------------------------

export interface ReferenceGrantSpec {
  from: Array<{ group: string; kind: string; namespace: string }>;
  to: Array<{ group: string; kind: string; name?: string }>;
}
export type ReferenceGrant = GatewayApiResource<'ReferenceGrant', ReferenceGrantSpec>;

export type GatewayApiResourceKind =
  | HTTPRouteResource
  | GRPCRouteResource
  | TLSRouteResource
  | TCPRouteResource
  | KubernetesGateway
  | ReferenceGrant;
