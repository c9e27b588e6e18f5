// core/v1 ConfigMap, for CA bundles that Gateway API client-certificate validation names
// (`caCertificateRefs`, key `ca.crt`). Checked as the API server checks one (key names, `binaryData` in
// base64, a key in both maps, 1 MiB) and kept like every other kind with its body under `spec`; that
// stored form (`weft get configmap -o yaml`) is accepted back by `weft apply`.
import { z } from 'zod';
import type { ObjectMeta, ResourceBase } from '../types.js';
import { dnsSubdomain, metadata, show, strict, stringMap } from './common.js';
import { base64Problem, keyProblem } from './kube-data.js';

export interface ConfigMapSpec {
  data: Record<string, string>;
  binaryData?: Record<string, string>; // base64
  immutable?: boolean;
}
export type ConfigMap = ResourceBase<'ConfigMap', ConfigMapSpec>;

const MAX_BYTES = 1024 * 1024;

const body = {
  data: stringMap.optional(),
  binaryData: z.record(z.string(), z.string()).optional(),
  immutable: z.boolean().optional(),
};
const kubernetesForm = strict({
  apiVersion: z.string(),
  kind: z.literal('ConfigMap'),
  metadata: metadata(dnsSubdomain),
  ...body,
});
const storedForm = strict({
  apiVersion: z.string(),
  kind: z.literal('ConfigMap'),
  metadata: metadata(dnsSubdomain),
  spec: strict(body),
});

type Out = { apiVersion: string; kind: 'ConfigMap'; metadata: ObjectMeta; spec: ConfigMapSpec };

function normalize(
  r: z.infer<typeof kubernetesForm> | z.infer<typeof storedForm>,
  ctx: z.core.$RefinementCtx<unknown>,
): Out {
  const stored = 'spec' in r;
  const f = stored ? r.spec : r;
  const at = (...p: string[]) => (stored ? ['spec', ...p] : p);
  let total = 0;
  for (const [k, v] of Object.entries(f.data ?? {})) {
    const p = keyProblem(k);
    if (p) ctx.addIssue({ code: 'custom', path: at('data', k), message: p });
    total += Buffer.byteLength(v);
  }
  for (const [k, v] of Object.entries(f.binaryData ?? {})) {
    const p =
      keyProblem(k) ??
      (k in (f.data ?? {}) ? `duplicate of key ${show(k)} present in data` : undefined) ??
      base64Problem(v, 'data');
    if (p) ctx.addIssue({ code: 'custom', path: at('binaryData', k), message: p });
    total += Buffer.byteLength(v, 'base64');
  }
  if (total > MAX_BYTES)
    ctx.addIssue({ code: 'custom', path: at('data'), message: 'a ConfigMap holds at most 1 MiB of data' });
  return {
    apiVersion: r.apiVersion,
    kind: 'ConfigMap',
    metadata: r.metadata,
    spec: {
      data: f.data ?? {},
      ...(f.binaryData ? { binaryData: f.binaryData } : {}),
      ...(f.immutable !== undefined ? { immutable: f.immutable } : {}),
    },
  };
}

/** Either form; a top-level `spec` says which, so problems name the fields the user wrote. */
export const configMapResource = z.unknown().transform((value, ctx): Out => {
  const stored = typeof value === 'object' && value !== null && 'spec' in value;
  const r = (stored ? storedForm : kubernetesForm).safeParse(value, { reportInput: true });
  if (!r.success) {
    for (const iss of r.error.issues) ctx.issues.push(iss as z.core.$ZodRawIssue);
    return z.NEVER;
  }
  return normalize(r.data, ctx);
}) as unknown as z.ZodType<Out>;

/** The text of one key (data, else binaryData), or undefined. */
export function configMapValue(spec: ConfigMapSpec, key: string): string | undefined {
  const v = spec.data[key];
  if (v !== undefined) return v;
  const b = spec.binaryData?.[key];
  return b === undefined ? undefined : Buffer.from(b, 'base64').toString('utf8');
}
