// weft.dev/v1alpha1: Weft's own kinds. A Workload is a local process (or a set of replicas) that Weft
// starts or adopts and puts a sidecar in front of; its labels are what Services and Gateways select.
import { z } from 'zod';
import type { RateLimitSpec, WorkloadSpec } from '../types.js';
import { tryParseDuration } from '../duration.js';
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

const duration = z.string().refine((v) => (tryParseDuration(v) ?? 0) > 0, {
  error: 'must be a positive duration such as "1s" or "500ms"',
});

export const rateLimitSpec = strict({
  selector: strict({ matchLabels: z.record(z.string(), z.string()) }).optional(),
  routes: z.array(strict({ virtualService: dnsSubdomain, route: nonEmptyString })).optional(),
  tokenBucket: strict({
    maxTokens: intRange(1, 1_000_000_000),
    tokensPerFill: intRange(1, 1_000_000_000).optional(),
    fillInterval: duration,
  }),
}).refine((s) => s.selector !== undefined || (s.routes?.length ?? 0) > 0, {
  error: 'set a selector (per workload) or routes (per route)',
});

const _checkRateLimit: z.ZodType<RateLimitSpec> = rateLimitSpec;
void _checkRateLimit;

export const rateLimitResource = resource('RateLimit', rateLimitSpec);
