// core/v1 Service, with every field of the upstream ServiceSpec listed so that real manifests load
// under strict validation. Weft acts on selector, ports and type; the rest is accepted and kept.
import { z } from 'zod';
import type { ServiceSpec } from '../types.js';
import { intRange, loose, nonEmptyString, port, resource, show, strict, stringMap } from './common.js';

export const KUBERNETES_API_VERSIONS = ['v1'] as const;

// Service names are DNS-1035 labels: they become DNS names, so they must start with a letter.
const serviceName = z.string().refine((s) => s.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(s), {
  error: (iss) =>
    `must be a DNS-1035 label: lowercase letters, digits and "-", starting with a letter, at most 63 characters (got ${show(iss.input)})`,
});

const servicePort = strict({
  name: z.string().optional(),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
  appProtocol: z.string().optional(),
  port,
  targetPort: z.union([port, nonEmptyString]).optional(),
  nodePort: intRange(1, 65535).optional(),
});

export const serviceSpec = strict({
  ports: z.array(servicePort).default([]),
  selector: stringMap.optional(),
  type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).optional(),
  clusterIP: z.string().optional(),
  clusterIPs: z.array(z.string()).optional(),
  externalIPs: z.array(z.string()).optional(),
  externalName: z.string().optional(),
  externalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
  internalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
  healthCheckNodePort: port.optional(),
  ipFamilies: z.array(z.enum(['IPv4', 'IPv6'])).optional(),
  ipFamilyPolicy: z.enum(['SingleStack', 'PreferDualStack', 'RequireDualStack']).optional(),
  loadBalancerIP: z.string().optional(),
  loadBalancerClass: z.string().optional(),
  loadBalancerSourceRanges: z.array(z.string()).optional(),
  allocateLoadBalancerNodePorts: z.boolean().optional(),
  publishNotReadyAddresses: z.boolean().optional(),
  sessionAffinity: z.enum(['None', 'ClientIP']).optional(),
  sessionAffinityConfig: loose.optional(),
  trafficDistribution: z.string().optional(),
}).superRefine((spec, ctx) => {
  // Kubernetes: with more than one port, every port needs a unique name.
  const names = new Set<string>();
  spec.ports.forEach((p, i) => {
    if (spec.ports.length > 1 && !p.name) {
      ctx.addIssue({
        code: 'custom',
        path: ['ports', i, 'name'],
        message: 'is required when a Service has more than one port',
      });
    }
    if (p.name && names.has(p.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['ports', i, 'name'],
        message: `duplicate port name ${show(p.name)}`,
      });
    }
    if (p.name) names.add(p.name);
  });
});

const _check: z.ZodType<ServiceSpec> = serviceSpec;
void _check;

export const serviceResource = resource('Service', serviceSpec, serviceName);
