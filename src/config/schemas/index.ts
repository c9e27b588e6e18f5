// Which schema validates which (apiVersion, kind). A kind is identified by its API group too: a
// `Gateway` in gateway.networking.k8s.io is the Gateway API's, not Istio's, and is not supported yet.
import type { z } from 'zod';
import type { Kind, Resource } from '../types.js';
import {
  ISTIO_NETWORKING_API_VERSIONS,
  destinationRuleResource,
  gatewayResource,
  virtualServiceResource,
} from './istio-networking.js';
import { KUBERNETES_API_VERSIONS, serviceResource } from './kubernetes.js';
import { WEFT_API_VERSIONS, workloadResource } from './weft.js';

export interface KindSchema {
  apiVersions: readonly string[];
  schema: z.ZodType<Omit<Resource, 'source'>>;
}

export const KIND_SCHEMAS: Record<Kind, KindSchema> = {
  Workload: { apiVersions: WEFT_API_VERSIONS, schema: workloadResource },
  Service: { apiVersions: KUBERNETES_API_VERSIONS, schema: serviceResource },
  VirtualService: { apiVersions: ISTIO_NETWORKING_API_VERSIONS, schema: virtualServiceResource },
  DestinationRule: { apiVersions: ISTIO_NETWORKING_API_VERSIONS, schema: destinationRuleResource },
  Gateway: { apiVersions: ISTIO_NETWORKING_API_VERSIONS, schema: gatewayResource },
};

/** "networking.istio.io/v1" -> "networking.istio.io"; core "v1" -> "". */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}
