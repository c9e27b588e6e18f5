// networking.istio.io ServiceEntry: hosts outside the registry (MESH_EXTERNAL) or workloads Weft does
// not run (MESH_INTERNAL, by endpoints or workloadSelector). Checks follow Istio's webhook.
import { z } from 'zod';
import type { ServiceEntrySpec } from '../types.js';
import { exportTo, intRange, labelMap, nonEmptyString, port, resource, strict } from './common.js';

const workloadEntry = strict({
  address: z.string().optional(),
  ports: z.record(z.string(), port).optional(),
  labels: labelMap.optional(),
  network: z.string().optional(),
  locality: z.string().optional(),
  weight: intRange(0, 4294967295).optional(),
  serviceAccount: z.string().optional(),
});

export const serviceEntrySpec = strict({
  hosts: z.array(nonEmptyString).min(1, { error: 'a ServiceEntry needs at least one host' }),
  addresses: z.array(z.string()).optional(),
  ports: z
    .array(
      strict({
        number: port,
        protocol: z.string().optional(),
        name: nonEmptyString,
        targetPort: port.optional(),
      }),
    )
    .optional(),
  location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
  resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']).optional(),
  endpoints: z.array(workloadEntry).optional(),
  workloadSelector: strict({ labels: labelMap }).optional(),
  exportTo: exportTo.optional(),
  subjectAltNames: z.array(z.string()).optional(),
}).superRefine((se, ctx) => {
  if (se.resolution === 'STATIC' && !se.workloadSelector && !(se.endpoints ?? []).length) {
    ctx.addIssue({
      code: 'custom',
      path: ['endpoints'],
      message: 'STATIC resolution needs endpoints or a workloadSelector',
    });
  }
  if (se.endpoints?.length && se.workloadSelector) {
    ctx.addIssue({
      code: 'custom',
      path: ['workloadSelector'],
      message: 'set only one of endpoints or workloadSelector',
    });
  }
  (se.endpoints ?? []).forEach((e, i) => {
    if (se.resolution === 'STATIC' && !e.address) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints', i, 'address'],
        message: 'STATIC endpoints need an address',
      });
    }
  });
});

const _check: z.ZodType<ServiceEntrySpec> = serviceEntrySpec;
void _check;

export const serviceEntryResource = resource('ServiceEntry', serviceEntrySpec);
