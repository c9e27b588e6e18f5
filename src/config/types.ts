// Typed user resources, after parsing and schema validation. Field names follow the upstream APIs
// (Kubernetes core/v1, Istio networking/v1) so users' YAML maps one to one. Everything downstream of the
// loader (store, compiler, analyzer) uses these types and never sees YAML.
import type {
  GRPCRouteResource,
  HTTPRouteResource,
  KubernetesGateway,
  TCPRouteResource,
  TLSRouteResource,
  ReferenceGrant,
} from './gateway-api-types.js';
import type {
  AuthorizationPolicy,
  MeshConfig,
  PeerAuthentication,
  RequestAuthentication,
} from './security-types.js';
import type { Telemetry } from './schemas/istio-telemetry.js';
import type { ConfigMap } from './schemas/configmap.js';
import type { Sidecar } from './schemas/istio-sidecar.js';

export interface SourcePosition {
  file: string;
  line: number; // 1-based line of the document's start
}

export interface ObjectMeta {
  name: string;
  namespace: string; // defaulted to "default" by the loader
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ResourceBase<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  /** Where the document came from, when it came from a file. Not persisted as user data. */
  source?: SourcePosition;
}

// ---- Weft ----------------------------------------------------------------------------------------

export interface WorkloadPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface HttpGetProbe {
  path?: string; // default "/"
  port?: number | string; // default: first container port
}

export interface WorkloadSpec {
  serviceAccount?: string; // default "default"
  replicas?: number; // default 1
  ports?: WorkloadPort[];
  command?: string[]; // omitted = adopt a process already listening
  env?: Record<string, string>;
  readinessProbe?: { httpGet?: HttpGetProbe; periodSeconds?: number };
  sidecar?: { outboundPort?: number; inboundPort?: number; adminPort?: number };
}
export type Workload = ResourceBase<'Workload', WorkloadSpec>;

/** Envoy's local token bucket: `maxTokens` burst, refilled with `tokensPerFill` every `fillInterval`. */
export interface TokenBucketSpec {
  maxTokens: number;
  tokensPerFill?: number; // default maxTokens
  fillInterval: string; // duration
}

/**
 * Local rate limiting (Envoy's local_ratelimit, which Istio reaches only through EnvoyFilter): a token
 * bucket per selected workload (checked by its inbound sidecar), or per named VirtualService route
 * (checked wherever that route runs: sidecar outbound or gateway).
 */
export interface RateLimitSpec {
  selector?: { matchLabels: Record<string, string> };
  routes?: Array<{ virtualService: string; route: string }>;
  tokenBucket: TokenBucketSpec;
}
export type RateLimit = ResourceBase<'RateLimit', RateLimitSpec>;

// ---- Kubernetes ------------------------------------------------------------------------------------

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string; // default: port; a string names a container port
  protocol?: string;
  appProtocol?: string;
}
export interface ServiceSpec {
  selector?: Record<string, string>;
  ports: ServicePort[];
  type?: string;
}
export type Service = ResourceBase<'Service', ServiceSpec>;

/** core/v1 Secret as the API server keeps it: `data` values base64, `stringData` already merged in. */
export interface SecretSpec {
  type: string; // "Opaque" when not given
  data: Record<string, string>;
  immutable?: boolean;
}
export type Secret = ResourceBase<'Secret', SecretSpec>;

// ---- Istio networking ------------------------------------------------------------------------------

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  scheme?: StringMatch;
  headers?: Record<string, StringMatch>;
  withoutHeaders?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
  ignoreUriCase?: boolean;
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
}

export interface PortSelector {
  number?: number;
}

export interface Destination {
  host: string;
  subset?: string;
  port?: PortSelector;
}

export interface HTTPRouteDestination {
  destination: Destination;
  weight?: number;
  headers?: Headers;
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}
export interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface HTTPRedirect {
  uri?: string;
  authority?: string;
  port?: number;
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
  scheme?: string;
  redirectCode?: number;
}

export interface HTTPDirectResponse {
  status: number;
  body?: { string?: string; bytes?: string };
}

export interface CorsPolicySpec {
  allowOrigins?: StringMatch[];
  allowOrigin?: string[]; // deprecated form
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: string;
  allowCredentials?: boolean;
}

export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  uriRegexRewrite?: { match: string; rewrite: string };
}

export interface HTTPRetry {
  attempts?: number;
  perTryTimeout?: string;
  retryOn?: string;
  retryRemoteLocalities?: boolean;
}

export interface HTTPFaultInjection {
  delay?: { fixedDelay?: string; percentage?: { value: number }; percent?: number };
  abort?: { httpStatus?: number; grpcStatus?: string; percentage?: { value: number } };
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  redirect?: HTTPRedirect;
  rewrite?: HTTPRewrite;
  timeout?: string;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
  headers?: Headers;
  directResponse?: HTTPDirectResponse;
  mirror?: Destination;
  mirrors?: Array<{ destination: Destination; percentage?: { value: number } }>;
  mirrorPercentage?: { value: number };
  mirror_percent?: number;
  mirrorPercent?: number;
  corsPolicy?: CorsPolicySpec;
  /** Hands this rule to a VirtualService without hosts (compile/delegates.ts). */
  delegate?: { name?: string; namespace?: string };
}

export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  tcp?: unknown[];
  tls?: unknown[];
  exportTo?: string[];
}
export type VirtualService = ResourceBase<'VirtualService', VirtualServiceSpec>;

export interface LoadBalancerSettings {
  simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';
  consistentHash?: Record<string, unknown>;
  localityLbSetting?: Record<string, unknown>;
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: Record<string, unknown>;
  outlierDetection?: Record<string, unknown>;
  tls?: { mode?: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL'; sni?: string; [k: string]: unknown };
  portLevelSettings?: Array<Record<string, unknown>>;
}

export interface Subset {
  name: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
}
export type DestinationRule = ResourceBase<'DestinationRule', DestinationRuleSpec>;

export interface GatewayServer {
  name?: string;
  port: { number: number; protocol: string; name?: string; targetPort?: number };
  hosts: string[];
  bind?: string;
  tls?: Record<string, unknown>;
}
export interface GatewaySpec {
  selector?: Record<string, string>;
  servers: GatewayServer[];
}
export type Gateway = ResourceBase<'Gateway', GatewaySpec>;

export interface WorkloadEntrySpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

export interface ServiceEntrySpec {
  hosts: string[];
  addresses?: string[];
  ports?: Array<{ number: number; protocol?: string; name: string; targetPort?: number }>;
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';
  endpoints?: WorkloadEntrySpec[];
  workloadSelector?: { labels?: Record<string, string> };
  exportTo?: string[];
  subjectAltNames?: string[];
}
export type ServiceEntry = ResourceBase<'ServiceEntry', ServiceEntrySpec>;
/** A workload Weft does not run (a VM, a process elsewhere), selected by ServiceEntries and Services. */
export type WorkloadEntry = ResourceBase<'WorkloadEntry', WorkloadEntrySpec>;

// Kubernetes Gateway API kinds live in gateway-api-types.ts; its Gateway is stored as `KubernetesGateway`
// (see there) so it never collides with Istio's `Gateway`.
export type Resource =
  | Workload
  | RateLimit
  | Service
  | VirtualService
  | DestinationRule
  | Gateway
  | ServiceEntry
  | WorkloadEntry
  | HTTPRouteResource
  | GRPCRouteResource
  | TLSRouteResource
  | TCPRouteResource
  | KubernetesGateway
  | ReferenceGrant
  | PeerAuthentication
  | AuthorizationPolicy
  | RequestAuthentication
  | MeshConfig
  | Telemetry
  | Secret
  | ConfigMap
  | Sidecar;
export type Kind = Resource['kind'];

export const KINDS: readonly Kind[] = [
  'Workload',
  'RateLimit',
  'Service',
  'VirtualService',
  'DestinationRule',
  'Gateway',
  'ServiceEntry',
  'WorkloadEntry',
  'HTTPRoute',
  'GRPCRoute',
  'TLSRoute',
  'TCPRoute',
  'KubernetesGateway',
  'ReferenceGrant',
  'PeerAuthentication',
  'AuthorizationPolicy',
  'RequestAuthentication',
  'MeshConfig',
  'Telemetry',
  'Secret',
  'ConfigMap',
  'Sidecar',
];

/** Stable identity of a resource in the store: Kind/namespace/name. */
export function resourceKey(r: Pick<Resource, 'kind' | 'metadata'>): string {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

/** A problem found in user config; file and line are set when the resource came from a file. */
export interface ConfigProblem {
  code: string; // a WEFT_ERR_* code
  file?: string;
  line?: number;
  kind?: string;
  name?: string; // namespace/name
  field?: string; // dotted path such as spec.http[0].route[0].destination.host
  message: string;
  severity: 'error' | 'warning';
}

/** One line a user can read and a script can parse: file:line: Kind ns/name: field: message */
export function formatProblem(p: ConfigProblem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}` : ''}: ` : '';
  const what = p.kind ? `${p.kind}${p.name ? ` ${p.name}` : ''}: ` : '';
  const field = p.field ? `${p.field}: ` : '';
  return `${where}${p.severity === 'warning' ? 'warning: ' : ''}${what}${field}${p.message} [${p.code}]`;
}
