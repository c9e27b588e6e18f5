// kubectl-style names for kinds: singular, plural and short forms, any case.
import type { Kind } from '../../config/types.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';

const ALIASES: Record<string, Kind> = {
  ratelimit: 'RateLimit',
  ratelimits: 'RateLimit',
  serviceentry: 'ServiceEntry',
  serviceentries: 'ServiceEntry',
  se: 'ServiceEntry',
  workloadentry: 'WorkloadEntry',
  workloadentries: 'WorkloadEntry',
  we: 'WorkloadEntry',
  workload: 'Workload',
  workloads: 'Workload',
  wl: 'Workload',
  service: 'Service',
  services: 'Service',
  svc: 'Service',
  virtualservice: 'VirtualService',
  virtualservices: 'VirtualService',
  vs: 'VirtualService',
  destinationrule: 'DestinationRule',
  destinationrules: 'DestinationRule',
  dr: 'DestinationRule',
  gateway: 'Gateway',
  gateways: 'Gateway',
  gw: 'Gateway',
  httproute: 'HTTPRoute',
  httproutes: 'HTTPRoute',
  grpcroute: 'GRPCRoute',
  grpcroutes: 'GRPCRoute',
  tlsroute: 'TLSRoute',
  tlsroutes: 'TLSRoute',
  tcproute: 'TCPRoute',
  tcproutes: 'TCPRoute',
  // The Gateway API's Gateway (stored as KubernetesGateway): kubectl's short name, or the group-qualified name.
  kubernetesgateway: 'KubernetesGateway',
  kubernetesgateways: 'KubernetesGateway',
  gtw: 'KubernetesGateway',
  referencegrant: 'ReferenceGrant',
  referencegrants: 'ReferenceGrant',
  refgrant: 'ReferenceGrant',
  peerauthentication: 'PeerAuthentication',
  peerauthentications: 'PeerAuthentication',
  pa: 'PeerAuthentication',
  authorizationpolicy: 'AuthorizationPolicy',
  authorizationpolicies: 'AuthorizationPolicy',
  ap: 'AuthorizationPolicy',
  requestauthentication: 'RequestAuthentication',
  requestauthentications: 'RequestAuthentication',
  ra: 'RequestAuthentication',
  meshconfig: 'MeshConfig',
  meshconfigs: 'MeshConfig',
  telemetry: 'Telemetry',
  telemetries: 'Telemetry',
  secret: 'Secret',
  secrets: 'Secret',
  configmap: 'ConfigMap',
  configmaps: 'ConfigMap',
  cm: 'ConfigMap',
  sidecar: 'Sidecar',
  sidecars: 'Sidecar',
};

/** kubectl's group-qualified names, for the one kind whose short name is ambiguous (`gateways`). */
const QUALIFIED: Record<string, Kind> = {
  'gateway.gateway.networking.k8s.io': 'KubernetesGateway',
  'gateways.gateway.networking.k8s.io': 'KubernetesGateway',
};

export function kindFromArg(arg: string): Kind | 'all' {
  if (arg.toLowerCase() === 'all') return 'all';
  const k = QUALIFIED[arg.toLowerCase()] ?? ALIASES[arg.toLowerCase().replace(/\..*$/, '')];
  if (!k)
    throw new WeftError(
      ErrorCodes.CONFIG_UNKNOWN_KIND,
      `unknown resource type "${arg}"`,
      `use one of: ${[...new Set(Object.values(ALIASES))].join(', ')} (or short names such as vs, dr, gw, gtw, svc, pa, ap, ra)`,
    );
  return k;
}
