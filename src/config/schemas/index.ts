// Which schema validates which (apiVersion, kind). A kind is identified by its API group too: a
// `Gateway` in gateway.networking.k8s.io is the Gateway API's, not Istio's. The loader looks schemas up by
// the YAML `kind`, so the `Gateway` entry takes both groups and hands the Gateway API one to its schema,
// which stores it as the internal kind `KubernetesGateway` (see gateway-api-types.ts for why).
import type { z } from 'zod';
import type { Kind, Resource } from '../types.js';
import {
  ISTIO_NETWORKING_API_VERSIONS,
  destinationRuleResource,
  gatewayResource,
  virtualServiceResource,
} from './istio-networking.js';
import { KUBERNETES_API_VERSIONS, serviceResource } from './kubernetes.js';
import { secretResource } from './secret.js';
import { configMapResource } from './configmap.js';
import { SIDECAR_API_VERSIONS, sidecarResource } from './istio-sidecar.js';
import { serviceEntryResource, workloadEntryResource } from './istio-service-entry.js';
import { TELEMETRY_API_VERSIONS, telemetryResource } from './istio-telemetry.js';
import { WEFT_API_VERSIONS, meshConfigResource, rateLimitResource, workloadResource } from './weft.js';
import {
  SECURITY_API_VERSIONS,
  authorizationPolicyResource,
  peerAuthenticationResource,
  requestAuthenticationResource,
} from './istio-security.js';
import {
  GATEWAY_API_GROUP,
  GATEWAY_API_VERSIONS,
  GRPC_ROUTE_API_VERSIONS,
  REFERENCE_GRANT_API_VERSIONS,
  TCP_ROUTE_API_VERSIONS,
  TLS_ROUTE_API_VERSIONS,
} from '../gateway-api-types.js';
import {
  byApiGroup,
  grpcRouteResource,
  httpRouteResource,
  kubernetesGatewayResource,
  referenceGrantResource,
  tcpRouteResource,
  tlsRouteResource,
} from './gateway-api.js';

export interface KindSchema {
  apiVersions: readonly string[];
  schema: z.ZodType<Omit<Resource, 'source'>>;
}

export const KIND_SCHEMAS: Record<Kind, KindSchema> = {
  Workload: { apiVersions: WEFT_API_VERSIONS, schema: workloadResource },
  RateLimit: { apiVersions: WEFT_API_VERSIONS, schema: rateLimitResource },
  Service: { apiVersions: KUBERNETES_API_VERSIONS, schema: serviceResource },
  VirtualService: { apiVersions: ISTIO_NETWORKING_API_VERSIONS, schema: virtualServiceResource },
  DestinationRule: { apiVersions: ISTIO_NETWORKING_API_VERSIONS, schema: destinationRuleResource },
  Gateway: {
    apiVersions: [...ISTIO_NETWORKING_API_VERSIONS, ...GATEWAY_API_VERSIONS],
    schema: byApiGroup<Omit<Resource, 'source'>>(
      { [GATEWAY_API_GROUP]: kubernetesGatewayResource },
      gatewayResource,
    ),
  },
  ServiceEntry: { apiVersions: ISTIO_NETWORKING_API_VERSIONS, schema: serviceEntryResource },
  WorkloadEntry: { apiVersions: ISTIO_NETWORKING_API_VERSIONS, schema: workloadEntryResource },
  HTTPRoute: { apiVersions: GATEWAY_API_VERSIONS, schema: httpRouteResource },
  GRPCRoute: { apiVersions: GRPC_ROUTE_API_VERSIONS, schema: grpcRouteResource },
  TLSRoute: { apiVersions: TLS_ROUTE_API_VERSIONS, schema: tlsRouteResource },
  TCPRoute: { apiVersions: TCP_ROUTE_API_VERSIONS, schema: tcpRouteResource },
  KubernetesGateway: { apiVersions: GATEWAY_API_VERSIONS, schema: kubernetesGatewayResource },
  ReferenceGrant: { apiVersions: REFERENCE_GRANT_API_VERSIONS, schema: referenceGrantResource },
  PeerAuthentication: { apiVersions: SECURITY_API_VERSIONS, schema: peerAuthenticationResource },
  AuthorizationPolicy: { apiVersions: SECURITY_API_VERSIONS, schema: authorizationPolicyResource },
  RequestAuthentication: { apiVersions: SECURITY_API_VERSIONS, schema: requestAuthenticationResource },
  MeshConfig: { apiVersions: WEFT_API_VERSIONS, schema: meshConfigResource },
  Telemetry: { apiVersions: TELEMETRY_API_VERSIONS, schema: telemetryResource },
  Secret: { apiVersions: KUBERNETES_API_VERSIONS, schema: secretResource },
  ConfigMap: { apiVersions: KUBERNETES_API_VERSIONS, schema: configMapResource },
  Sidecar: { apiVersions: SIDECAR_API_VERSIONS, schema: sidecarResource },
};

/** "networking.istio.io/v1" -> "networking.istio.io"; core "v1" -> "". */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}
