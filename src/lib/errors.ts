// One catalogue of errors with stable codes (like undici's UND_ERR_* and fastify's FST_ERR_*), so scripts
// and users can match on a code, and every message can carry a next step.

export const ErrorCodes = {
  CONFIG_PARSE: 'WEFT_ERR_CONFIG_PARSE', // YAML that does not parse
  CONFIG_INVALID: 'WEFT_ERR_CONFIG_INVALID', // a document that fails its schema
  CONFIG_UNKNOWN_KIND: 'WEFT_ERR_CONFIG_UNKNOWN_KIND',
  CONFIG_NOT_FOUND: 'WEFT_ERR_CONFIG_NOT_FOUND',
  FILE_NOT_FOUND: 'WEFT_ERR_FILE_NOT_FOUND',
  MESH_UNREACHABLE: 'WEFT_ERR_MESH_UNREACHABLE', // CLI cannot find a running control plane
  CA_TOKEN_INVALID: 'WEFT_ERR_CA_TOKEN_INVALID', // bootstrap token unknown, used or for another identity
  CA_CSR_INVALID: 'WEFT_ERR_CA_CSR_INVALID',
  CA_IDENTITY_MISMATCH: 'WEFT_ERR_CA_IDENTITY_MISMATCH',
  CA_KEY_MISMATCH: 'WEFT_ERR_CA_KEY_MISMATCH', // a CA key that is not the key of its certificate
  CA_CERT_INVALID: 'WEFT_ERR_CA_CERT_INVALID', // a plugged-in CA file that does not parse, is not a CA or does not chain to the root
  CA_CERT_EXPIRED: 'WEFT_ERR_CA_CERT_EXPIRED', // a CA or root certificate outside its validity period
  CA_TTL_INVALID: 'WEFT_ERR_CA_TTL_INVALID', // workload certificate lifetime not positive or above the maximum
  CA_ROTATION_REFUSED: 'WEFT_ERR_CA_ROTATION_REFUSED', // weft ca rotate-root cannot run (plugged-in CA, overlap too short)
  PROXY_CERT_UNRENEWABLE: 'WEFT_ERR_PROXY_CERT_UNRENEWABLE', // a proxy's certificate is no longer accepted and no new bootstrap token is at hand
  SNAPSHOT_INVALID: 'WEFT_ERR_SNAPSHOT_INVALID', // a proxy NACKs a snapshot it cannot apply
  PROXY_NOT_FOUND: 'WEFT_ERR_PROXY_NOT_FOUND',
  PORT_IN_USE: 'WEFT_ERR_PORT_IN_USE',
  WORKLOAD_FAILED: 'WEFT_ERR_WORKLOAD_FAILED',
  // weft analyze: cross-reference mistakes (Istio's analyzer message in brackets where one exists)
  ANALYZE_UNKNOWN_HOST: 'WEFT_ERR_ANALYZE_UNKNOWN_HOST', // IST0101: destination host has no service
  ANALYZE_UNKNOWN_SUBSET: 'WEFT_ERR_ANALYZE_UNKNOWN_SUBSET', // IST0101: subset no DestinationRule defines
  ANALYZE_UNKNOWN_GATEWAY: 'WEFT_ERR_ANALYZE_UNKNOWN_GATEWAY', // IST0101: VirtualService names a missing Gateway
  ANALYZE_NO_WORKLOADS: 'WEFT_ERR_ANALYZE_NO_WORKLOADS', // IST0127: a selector (Service, policy) matches no workload
  ANALYZE_GATEWAY_NO_WORKLOAD: 'WEFT_ERR_ANALYZE_GATEWAY_NO_WORKLOAD', // IST0101: Gateway selector matches nothing
  ANALYZE_UNKNOWN_PROVIDER: 'WEFT_ERR_ANALYZE_UNKNOWN_PROVIDER', // CUSTOM policy names an undefined extension provider
  ANALYZE_UNKNOWN_PORT: 'WEFT_ERR_ANALYZE_UNKNOWN_PORT', // portLevelMtls on a port the workload does not serve
  ANALYZE_MTLS_CONFLICT: 'WEFT_ERR_ANALYZE_MTLS_CONFLICT', // plaintext forced toward a STRICT server
  ANALYZE_UNREACHABLE_RULE: 'WEFT_ERR_ANALYZE_UNREACHABLE_RULE', // IST0130: a route rule no request can reach
  ANALYZE_INEFFECTIVE_MATCH: 'WEFT_ERR_ANALYZE_INEFFECTIVE_MATCH', // IST0131: a match an earlier one shadows
  ANALYZE_HOST_CONFLICT: 'WEFT_ERR_ANALYZE_HOST_CONFLICT', // IST0109: mesh VirtualServices sharing a host
  ANALYZE_PORT_REQUIRED: 'WEFT_ERR_ANALYZE_PORT_REQUIRED', // IST0112: destination of a multi-port Service without a port
  ANALYZE_HOST_NOT_IN_GATEWAY: 'WEFT_ERR_ANALYZE_HOST_NOT_IN_GATEWAY', // IST0132: no VirtualService host is served by the Gateway
  ANALYZE_GATEWAY_CONFLICT: 'WEFT_ERR_ANALYZE_GATEWAY_CONFLICT', // IST0145: two Gateways claim one port and host
  ANALYZE_GATEWAY_NO_ROUTES: 'WEFT_ERR_ANALYZE_GATEWAY_NO_ROUTES', // a Gateway no route binds: 404 only
  ANALYZE_SIDECAR_CONFLICT: 'WEFT_ERR_ANALYZE_SIDECAR_CONFLICT', // IST0110/IST0111: several Sidecars for one workload
  ANALYZE_SIDECAR_NO_WORKLOAD: 'WEFT_ERR_ANALYZE_SIDECAR_NO_WORKLOAD', // IST0101: a Sidecar selector matches no Workload
  ANALYZE_UNKNOWN_NAMESPACE: 'WEFT_ERR_ANALYZE_UNKNOWN_NAMESPACE', // IST0101: an AuthorizationPolicy source names no existing namespace
  ANALYZE_TELEMETRY_NO_EFFECT: 'WEFT_ERR_ANALYZE_TELEMETRY_NO_EFFECT', // a Telemetry field Weft accepts but cannot act on
  ANALYZE_PROTOCOL_CONFLICT: 'WEFT_ERR_ANALYZE_PROTOCOL_CONFLICT', // IST0177: ServiceEntries give one host and port different protocols
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class WeftError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'WeftError';
    this.code = code;
    this.hint = hint;
  }

  /** The message as a user should read it: what went wrong, then what to do next. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }
}

export function isWeftError(e: unknown): e is WeftError {
  return e instanceof WeftError;
}

export function errorMessage(e: unknown): string {
  if (e instanceof WeftError) return e.describe();
  if (e instanceof Error) return e.message;
  return String(e);
}
