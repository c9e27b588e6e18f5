// networking.istio.io Sidecar: which services a workload's sidecar knows (egress[].hosts as
// "namespace/dnsName") and what it does with the rest (outboundTrafficPolicy). Every field of the API is
// listed so a typo is reported; `ingress`, `bind`, `captureMode` and the connection pools are accepted as
// written and not acted on. Checks follow Istio's ValidateSidecar, with its messages where it has one.
import { z } from 'zod';
import type { ResourceBase } from '../types.js';
import { labelMap, loose, port, resource, show, strict } from './common.js';

export const SIDECAR_API_VERSIONS = [
  'networking.istio.io/v1',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1alpha3',
] as const;

export interface SidecarEgress {
  port?: { number: number; protocol?: string; name?: string; targetPort?: number };
  bind?: string;
  captureMode?: string;
  hosts: string[];
}
export interface SidecarSpec {
  workloadSelector?: { labels?: Record<string, string> };
  ingress?: Array<Record<string, unknown>>;
  egress?: SidecarEgress[];
  inboundConnectionPool?: Record<string, unknown>;
  outboundTrafficPolicy?: {
    mode?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
    egressProxy?: Record<string, unknown>;
  };
}
export type Sidecar = ResourceBase<'Sidecar', SidecarSpec>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOST_LABEL = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/** Istio's validateNamespaceSlashWildcardHostname for a sidecar: "ns/host", ns `*`, `.`, `~` or a namespace. */
export function egressHostProblem(h: string): string | undefined {
  const parts = h.split('/');
  if (parts.length !== 2) return `host must be of form namespace/dnsName (got ${show(h)})`;
  const [ns, host] = parts as [string, string];
  if (ns === '') return `namespace in ${show(h)} must not be empty: use "*" for any namespace`;
  if (!['*', '.', '~'].includes(ns) && !(ns.length <= 63 && DNS_LABEL.test(ns)))
    return `invalid namespace ${show(ns)} in ${show(h)}: use "*", ".", "~" or a namespace name`;
  if (host === '*') return undefined;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name === '' || name.length > 253 || !name.split('.').every((l) => l.length <= 63 && HOST_LABEL.test(l)))
    return `invalid dnsName ${show(host)} in ${show(h)}: use "*", a host name or "*.suffix"`;
  return undefined;
}

const portSpec = strict({
  number: port,
  protocol: z.string().optional(),
  name: z.string().optional(),
  targetPort: port.optional(),
});

const egress = strict({
  port: portSpec.optional(),
  bind: z.string().optional(),
  captureMode: z.enum(['DEFAULT', 'IPTABLES', 'NONE']).optional(),
  hosts: z.array(z.string()).min(1, { error: 'sidecar: egress listener must contain at least one host' }),
});

export const sidecarSpec = strict({
  workloadSelector: strict({ labels: labelMap.optional() }).optional(),
  ingress: z.array(loose).optional(),
  egress: z.array(egress).optional(),
  inboundConnectionPool: loose.optional(),
  outboundTrafficPolicy: strict({
    mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']).optional(),
    egressProxy: loose.optional(),
  }).optional(),
}).superRefine((s, ctx) => {
  if (!s.egress?.length && !s.ingress?.length && !s.outboundTrafficPolicy && !s.inboundConnectionPool)
    ctx.addIssue({ code: 'custom', message: 'sidecar: empty configuration provided' });
  if (s.workloadSelector && !Object.keys(s.workloadSelector.labels ?? {}).length)
    ctx.addIssue({
      code: 'custom',
      path: ['workloadSelector'],
      message: 'sidecar: workloadSelector labels cannot be empty',
    });
  const egressList = s.egress ?? [];
  egressList.forEach((e, i) => {
    if (!e.port && i !== egressList.length - 1)
      ctx.addIssue({
        code: 'custom',
        path: ['egress', i],
        message: 'sidecar: the egress listener with empty port should be the last listener in the list',
      });
    e.hosts.forEach((h, j) => {
      const p = egressHostProblem(h);
      if (p) ctx.addIssue({ code: 'custom', path: ['egress', i, 'hosts', j], message: p });
    });
  });
  const ports = egressList.filter((e) => e.port).map((e) => e.port!.number);
  ports.forEach((p, i) => {
    if (ports.indexOf(p) !== i)
      ctx.addIssue({
        code: 'custom',
        path: ['egress'],
        message: `sidecar: ports on egress listeners must be unique (port ${p} is repeated)`,
      });
  });
  const policy = s.outboundTrafficPolicy;
  if (policy?.egressProxy && policy.mode !== 'ALLOW_ANY')
    ctx.addIssue({
      code: 'custom',
      path: ['outboundTrafficPolicy', 'egressProxy'],
      message: 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode',
    });
}) as unknown as z.ZodType<SidecarSpec>;

export const sidecarResource = resource('Sidecar', sidecarSpec);
