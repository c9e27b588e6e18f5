// Istio security.istio.io kinds (v1, v1beta1) and Weft's MeshConfig, with Istio's field names so users'
// YAML maps one to one. Semantics: https://istio.io/latest/docs/reference/config/security/
import type { ObjectMeta, SourcePosition } from './types.js';

interface ResourceBase<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  source?: SourcePosition;
}

export interface WorkloadSelector {
  matchLabels?: Record<string, string>;
}

/** Gateway API style policy attachment (Istio 1.22+): applies to the workloads behind a Gateway/Service. */
export interface PolicyTargetReference {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

// ---- PeerAuthentication ---------------------------------------------------------------------------

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthenticationSpec {
  selector?: WorkloadSelector;
  mtls?: { mode?: MtlsMode };
  /** Keyed by the workload's (container) port number, as in Istio. Needs a selector. */
  portLevelMtls?: Record<string, { mode?: MtlsMode }>;
}
export type PeerAuthentication = ResourceBase<'PeerAuthentication', PeerAuthenticationSpec>;

// ---- AuthorizationPolicy --------------------------------------------------------------------------

export interface AuthzSourceSpec {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  trustDomains?: string[];
  notTrustDomains?: string[];
}

export interface AuthzOperationSpec {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface AuthzConditionSpec {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface AuthzRuleSpec {
  from?: Array<{ source?: AuthzSourceSpec }>;
  to?: Array<{ operation?: AuthzOperationSpec }>;
  when?: AuthzConditionSpec[];
}

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface AuthorizationPolicySpec {
  selector?: WorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  rules?: AuthzRuleSpec[];
  action?: AuthzAction; // default ALLOW
  provider?: { name: string }; // CUSTOM only
}
export type AuthorizationPolicy = ResourceBase<'AuthorizationPolicy', AuthorizationPolicySpec>;

// ---- RequestAuthentication ------------------------------------------------------------------------

export interface JwtHeaderSpec {
  name: string;
  prefix?: string;
}

export interface JWTRuleSpec {
  issuer: string;
  audiences?: string[];
  jwksUri?: string;
  jwks?: string; // inline JWKS JSON
  fromHeaders?: JwtHeaderSpec[];
  fromParams?: string[];
  fromCookies?: string[];
  outputPayloadToHeader?: string;
  outputClaimToHeaders?: Array<{ header: string; claim: string }>;
  forwardOriginalToken?: boolean;
  timeout?: string;
  spaceDelimitedClaims?: string[];
  presence?: 'OPTIONAL' | 'REQUIRED';
}

export interface RequestAuthenticationSpec {
  selector?: WorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  jwtRules?: JWTRuleSpec[];
}
export type RequestAuthentication = ResourceBase<'RequestAuthentication', RequestAuthenticationSpec>;

// ---- MeshConfig (weft.dev/v1alpha1) ---------------------------------------------------------------

/** Istio's envoyExtAuthzHttp extension provider: an HTTP service that answers 200 to allow. */
export interface ExtAuthzHttpProvider {
  service: string; // host, e.g. ext-authz.foo.svc.cluster.local or a plain host name
  port: number;
  pathPrefix?: string;
  timeout?: string;
  failOpen?: boolean;
  statusOnError?: string;
  includeRequestHeadersInCheck?: string[];
  includeAdditionalHeadersInCheck?: Record<string, string>;
  headersToUpstreamOnAllow?: string[];
  headersToDownstreamOnAllow?: string[];
  headersToDownstreamOnDeny?: string[];
  includeRequestBodyInCheck?: {
    maxRequestBytes?: number;
    allowPartialMessage?: boolean;
    packAsBytes?: boolean;
  };
}

/** Istio's envoyExtAuthzGrpc extension provider: Envoy's Authorization/Check gRPC service. */
export interface ExtAuthzGrpcProvider {
  service: string;
  port: number;
  timeout?: string;
  failOpen?: boolean;
  statusOnError?: string;
  clearRouteCache?: boolean;
  includeRequestBodyInCheck?: {
    maxRequestBytes?: number;
    allowPartialMessage?: boolean;
    packAsBytes?: boolean;
  };
}

export interface ExtensionProvider {
  name: string;
  envoyExtAuthzHttp?: ExtAuthzHttpProvider;
  envoyExtAuthzGrpc?: ExtAuthzGrpcProvider;
  [other: string]: unknown; // other provider kinds (tracing, logging) are accepted for later issues
}

export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

/**
 * The subset of Istio's MeshConfig Weft acts on, under the same names. One per mesh (metadata.name
 * "default" by convention); what is not set keeps Istio's default.
 */
export interface MeshConfigSpec {
  rootNamespace?: string; // default istio-system: where mesh-wide policies live
  trustDomain?: string;
  pathNormalization?: { normalization?: PathNormalization };
  outboundTrafficPolicy?: { mode?: 'ALLOW_ANY' | 'REGISTRY_ONLY' };
  extensionProviders?: ExtensionProvider[];
  enableAutoMtls?: boolean; // default true
  /** Locality load balancing for DestinationRules that set none (same shape as theirs). */
  localityLbSetting?: Record<string, unknown>;
  /** SO_KEEPALIVE on upstream connections, for DestinationRules that set none. */
  tcpKeepalive?: { time?: string; interval?: string; probes?: number };
  [other: string]: unknown;
}
export type MeshConfig = ResourceBase<'MeshConfig', MeshConfigSpec>;
