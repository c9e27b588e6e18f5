// weft.dev/v1alpha1: Weft's own kinds. A Workload is a local process (or a set of replicas) that Weft
// starts or adopts and puts a sidecar in front of; its labels are what Services and Gateways select.
import { z } from 'zod';
import type { WorkloadSpec } from '../types.js';
import {
  dnsLabel,
  dnsSubdomain,
  intRange,
  nonEmptyString,
  nonNegativeInt,
  port,
  resource,
  strict,
} from './common.js';

export const WEFT_API_VERSIONS = ['weft.dev/v1alpha1'] as const;

// Environment values are strings, but YAML turns `PORT: 9080` into a number; accept and stringify scalars.
const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const workloadPort = strict({
  name: dnsLabel.optional(),
  containerPort: port,
  protocol: z.string().optional(),
});

const httpGetProbe = strict({
  path: z.string().optional(),
  port: z.union([port, nonEmptyString]).optional(),
});

export const workloadSpec = strict({
  serviceAccount: dnsSubdomain.optional(),
  replicas: nonNegativeInt.optional(),
  ports: z.array(workloadPort).optional(),
  command: z
    .array(z.string())
    .min(1, { error: 'must have at least one item (omit it to adopt a running process)' })
    .optional(),
  env: z.record(z.string(), envValue).optional(),
  readinessProbe: strict({
    httpGet: httpGetProbe.optional(),
    periodSeconds: intRange(1, 3600).optional(),
  }).optional(),
  sidecar: strict({
    outboundPort: port.optional(),
    inboundPort: port.optional(),
    adminPort: port.optional(),
  }).optional(),
});

const _check: z.ZodType<WorkloadSpec> = workloadSpec;
void _check;

export const workloadResource = resource('Workload', workloadSpec);
