// The security part of a proxy snapshot: what its inbound side enforces. Compiled by the control plane
// from PeerAuthentication, RequestAuthentication, AuthorizationPolicy and MeshConfig; the proxy and
// `weft authz check` evaluate exactly this, so a dry run explains the same decision traffic gets.

export type MtlsModeValue = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface InboundMtls {
  mode: MtlsModeValue; // the workload's effective mode
  /** portLevelMtls, by container (target) port. */
  ports: Record<string, MtlsModeValue>;
  /** The PeerAuthentication that decided `mode` ("ns/name"), or "default" when none applies. */
  source: string;
}

/** Istio AuthorizationPolicy rule fields, with the same names and semantics. Missing = not checked. */
export interface AuthzSource {
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
  /** The peer's trust domain (the SPIFFE ID's authority). */
  trustDomains?: string[];
  notTrustDomains?: string[];
}

export interface AuthzOperation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface AuthzCondition {
  key: string; // request.headers[x], source.ip, request.auth.claims[a][b], destination.port, ...
  values?: string[];
  notValues?: string[];
}

/** A rule matches when any `from` matches (or there is none), any `to` matches, and every `when` holds. */
export interface AuthzRule {
  from: AuthzSource[];
  to: AuthzOperation[];
  when: AuthzCondition[];
}

export interface AuthzPolicy {
  name: string; // "ns/name"
  action: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  /** No rules: ALLOW matches nothing (so it denies everything), DENY/AUDIT/CUSTOM match nothing. */
  rules: AuthzRule[];
  provider?: string; // CUSTOM: the extension provider's name
}

/** meshConfig.extensionProviders[].envoyExtAuthzHttp or envoyExtAuthzGrpc, with the service resolved to
 * host:port. The header lists apply to HTTP providers only (a gRPC check carries every request header). */
export interface ExtAuthzProvider {
  name: string;
  /** envoyExtAuthzGrpc: Envoy's envoy.service.auth.v3.Authorization/Check. */
  grpc?: boolean;
  /** includeRequestBodyInCheck: buffer up to maxRequestBytes of the body and send it with the check. */
  includeRequestBody?: { maxRequestBytes: number; allowPartialMessage: boolean; packAsBytes: boolean };
  /** Where to send the check: a mesh service goes through this proxy's outbound listener. */
  host: string;
  port: number;
  /** A mesh service: the check goes through this proxy's own outbound listener, over mTLS. */
  viaMesh?: boolean;
  pathPrefix: string;
  timeoutMs: number;
  failOpen: boolean;
  statusOnError: number;
  includeRequestHeadersInCheck: string[]; // lower-case
  includeAdditionalHeadersInCheck: Array<[string, string]>;
  headersToUpstreamOnAllow: string[];
  headersToDownstreamOnAllow: string[];
  headersToDownstreamOnDeny: string[];
}

export interface JwtRule {
  issuer: string;
  audiences: string[];
  /** Either fetched from a URI (cached, refreshed, kept when a refresh fails) or inline JSON. */
  jwksUri?: string;
  jwks?: string;
  /** Where to look; empty both = Authorization: Bearer, then the access_token query parameter. */
  fromHeaders: Array<{ name: string; prefix: string }>;
  fromParams: string[];
  fromCookies: string[];
  outputPayloadToHeader?: string;
  outputClaimToHeaders: Array<{ header: string; claim: string }>;
  forwardOriginalToken: boolean;
  timeoutMs: number;
  /** Claims whose space-separated string value counts as a list (scope and permission always do). */
  spaceDelimitedClaims?: string[];
  /** presence: REQUIRED — a request without a token is refused (401 "Jwt is missing"). */
  required?: boolean;
}

export type PathNormalizationMode = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

export interface InboundSecurity {
  mtls: InboundMtls;
  pathNormalization: PathNormalizationMode;
  jwtRules: JwtRule[];
  /** Every policy that selects this workload, in Istio's evaluation order: CUSTOM, DENY, ALLOW (AUDIT logs). */
  policies: AuthzPolicy[];
  providers: ExtAuthzProvider[];
}

/** No policy at all: Istio's defaults (PERMISSIVE, BASE normalization, allow everything). */
export function openSecurity(): InboundSecurity {
  return {
    mtls: { mode: 'PERMISSIVE', ports: {}, source: 'default' },
    pathNormalization: 'BASE',
    jwtRules: [],
    policies: [],
    providers: [],
  };
}

/** The mode that applies to one container port of a workload. */
export function portMode(mtls: InboundMtls, targetPort: number): MtlsModeValue {
  return mtls.ports[String(targetPort)] ?? mtls.mode;
}
