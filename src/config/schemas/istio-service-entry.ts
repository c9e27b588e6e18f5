// networking.istio.io ServiceEntry: hosts outside the registry (MESH_EXTERNAL) or workloads Weft does
// not run (MESH_INTERNAL, by endpoints or workloadSelector). Checks follow Istio's webhook.
import { z } from 'zod';
import type { ServiceEntrySpec, WorkloadEntrySpec } from '../types.js';
import { exportTo, intRange, labelMap, nonEmptyString, port, resource, strict } from './common.js';

function ipv6FromYamlKey(v: unknown): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const entries = Object.entries(v);
    if (entries.length === 1 && entries[0]![1] === null) return `${entries[0]![0]}:`;
  }
  return v;
}

const workloadEntry = strict({
  address: z.string().optional(),
  ports: z.record(z.string(), port).optional(),
  labels: labelMap.optional(),
  network: z.string().optional(),
  locality: z.string().optional(),
  weight: intRange(0, 4294967295).optional(),
  serviceAccount: z.string().optional(),
});

/** Unix domain socket addresses, as Istio's validation checks them. */
function checkAddress(
  e: { address?: string | undefined; ports?: Record<string, number> | undefined },
  ctx: z.RefinementCtx,
  path: Array<string | number>,
): void {
  const a = e.address;
  if (!a?.startsWith('unix://')) return;
  const at = (message: string) => ctx.addIssue({ code: 'custom', path: [...path, 'address'], message });
  const p = a.slice('unix://'.length);
  if (!p.startsWith('/') && !p.startsWith('@')) at('UDS must be an absolute path or abstract socket');
  else if (p.endsWith('/')) at('UDS may not be a dir');
  if (e.ports && Object.keys(e.ports).length) at('UDS may not include ports');
}

/** Port names in an entry's `ports` map are DNS labels, as Istio's CRD requires. */
const PORT_NAME = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
function checkPortNames(
  e: { ports?: Record<string, number> | undefined },
  ctx: z.RefinementCtx,
  path: Array<string | number>,
): void {
  for (const k of Object.keys(e.ports ?? {}))
    if (k.length > 63 || !PORT_NAME.test(k))
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'ports'],
        message: `Invalid value: port name ${JSON.stringify(k)} must be a DNS label (letters, digits and '-')`,
      });
}

/** networking.istio.io WorkloadEntry: a workload Weft does not run, with its address and labels. */
export const workloadEntrySpec = workloadEntry.superRefine((we, ctx) => {
  if (!we.address && !we.network)
    ctx.addIssue({ code: 'custom', path: ['address'], message: 'Address is required' });
  checkAddress(we, ctx, []);
  checkPortNames(we, ctx, []);
});

const _checkWe: z.ZodType<WorkloadEntrySpec> = workloadEntrySpec;
void _checkWe;

export const workloadEntryResource = resource('WorkloadEntry', workloadEntrySpec);

export const serviceEntrySpec = strict({
  hosts: z.array(nonEmptyString).min(1, { error: 'a ServiceEntry needs at least one host' }),
  // An IPv6 address such as `001:db8::` in a flow sequence reads as a one-key mapping in YAML 1.2
  // ({"001:db8:": null}); Kubernetes' YAML reads it as the string. Accept it the way users meant it.
  addresses: z.array(z.preprocess(ipv6FromYamlKey, z.string())).optional(),
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
  resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']).optional(),
  endpoints: z.array(workloadEntry).optional(),
  workloadSelector: strict({ labels: labelMap.optional() }).optional(),
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
  se.hosts.forEach((h, i) => {
    if (h === '*')
      ctx.addIssue({ code: 'custom', path: ['hosts', i], message: 'hostname cannot be wildcard "*"' });
  });
  for (const [k, v] of Object.entries(se.workloadSelector?.labels ?? {})) {
    if (k.includes('*') || v.includes('*'))
      ctx.addIssue({
        code: 'custom',
        path: ['workloadSelector', 'labels', k],
        message: 'wildcard is not supported in selector',
      });
  }
  const resolution = se.resolution ?? 'NONE';
  (se.addresses ?? []).forEach((a, i) => {
    if (a.includes('/') && resolution !== 'NONE' && resolution !== 'STATIC')
      ctx.addIssue({
        code: 'custom',
        path: ['addresses', i],
        message: 'CIDR addresses are allowed only for NONE/STATIC resolution types',
      });
  });
  const names = new Set<string>();
  const numbers = new Set<number>();
  (se.ports ?? []).forEach((p, i) => {
    if (names.has(p.name))
      ctx.addIssue({
        code: 'custom',
        path: ['ports', i, 'name'],
        message: `Duplicate value: port name "${p.name}"`,
      });
    if (numbers.has(p.number))
      ctx.addIssue({
        code: 'custom',
        path: ['ports', i, 'number'],
        message: `port number cannot be duplicated (${p.number})`,
      });
    names.add(p.name);
    numbers.add(p.number);
  });
  if ((resolution === 'NONE' || resolution === 'DYNAMIC_DNS') && (se.endpoints ?? []).length)
    ctx.addIssue({ code: 'custom', path: ['endpoints'], message: `${resolution} mode cannot set endpoints` });
  // The proxy resolves the hosts themselves when there are no endpoints: they must be names.
  if (
    (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') &&
    !se.endpoints?.length &&
    !se.workloadSelector
  )
    se.hosts.forEach((h, i) => {
      if (h.startsWith('*'))
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', i],
          message: `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution} (got ${JSON.stringify(h)})`,
        });
    });
  if (resolution === 'DNS_ROUND_ROBIN' && (se.endpoints ?? []).length > 1)
    ctx.addIssue({
      code: 'custom',
      path: ['endpoints'],
      message: 'DNS_ROUND_ROBIN mode cannot have multiple endpoints',
    });
  if (se.endpoints?.length && se.workloadSelector) {
    ctx.addIssue({
      code: 'custom',
      path: ['workloadSelector'],
      message: 'only one of WorkloadSelector or Endpoints can be set',
    });
  }
  (se.endpoints ?? []).forEach((e, i) => {
    checkAddress(e, ctx, ['endpoints', i]);
    checkPortNames(e, ctx, ['endpoints', i]);
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
