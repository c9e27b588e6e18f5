// core/v1 Secret, for certificates that Istio Gateway servers name with `tls.credentialName` (what
// `kubectl create secret tls NAME --cert --key` writes). Checked as the API server checks it (key names,
// base64 `data`, the keys a typed Secret must have, 1 MiB) and stored the way the API server keeps it:
// `stringData` merged into `data` (base64), never kept on its own. Weft keeps the body under `spec`
// (`spec.type`, `spec.data`) like every other kind; that form is accepted back by `weft apply` too.
import { z } from 'zod';
import type { ObjectMeta, SecretSpec } from '../types.js';
import { dnsSubdomain, metadata, strict, stringMap } from './common.js';
import { base64Problem, keyProblem } from './kube-data.js';

const MAX_TOTAL_BYTES = 1024 * 1024; // Kubernetes' MaxSecretSize

/** Keys a typed Secret must carry (Kubernetes ValidateSecret). Alternatives: one of them is enough. */
const REQUIRED_KEYS: Record<string, string[][]> = {
  'kubernetes.io/tls': [['tls.crt'], ['tls.key']],
  'kubernetes.io/dockercfg': [['.dockercfg']],
  'kubernetes.io/dockerconfigjson': [['.dockerconfigjson']],
  'kubernetes.io/basic-auth': [['username', 'password']],
  'kubernetes.io/ssh-auth': [['ssh-privatekey']],
};

const body = {
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).optional(),
  stringData: stringMap.optional(),
  immutable: z.boolean().optional(),
};

/** Kubernetes' form: type, data, stringData at the top level. */
const kubernetesForm = strict({
  apiVersion: z.string(),
  kind: z.literal('Secret'),
  metadata: metadata(dnsSubdomain),
  ...body,
});

/** Weft's stored form (what `weft get secret -o yaml` prints): the same fields under spec. */
const storedForm = strict({
  apiVersion: z.string(),
  kind: z.literal('Secret'),
  metadata: metadata(dnsSubdomain),
  spec: strict(body),
});

type Out = { apiVersion: string; kind: 'Secret'; metadata: ObjectMeta; spec: SecretSpec };

type Parsed = z.infer<typeof kubernetesForm> | z.infer<typeof storedForm>;

function normalize(r: Parsed, ctx: z.core.$RefinementCtx<unknown>): Out {
  const stored = 'spec' in r;
  const fields = stored ? r.spec : r;
  const at = (...p: string[]) => (stored ? ['spec', ...p] : p);
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields.data ?? {})) {
    const problem = keyProblem(k) ?? base64Problem(v);
    if (problem) ctx.addIssue({ code: 'custom', path: at('data', k), message: problem });
    data[k] = v;
  }
  // The API server merges stringData into data; stringData wins on a shared key.
  for (const [k, v] of Object.entries(fields.stringData ?? {})) {
    const problem = keyProblem(k);
    if (problem) ctx.addIssue({ code: 'custom', path: at('stringData', k), message: problem });
    data[k] = Buffer.from(v, 'utf8').toString('base64');
  }
  let total = 0;
  for (const v of Object.values(data)) total += Buffer.byteLength(v, 'base64');
  if (total > MAX_TOTAL_BYTES)
    ctx.addIssue({ code: 'custom', path: at('data'), message: 'a Secret holds at most 1 MiB of data' });
  const type = fields.type || 'Opaque';
  for (const alternatives of REQUIRED_KEYS[type] ?? []) {
    if (!alternatives.some((k) => k in data)) {
      ctx.addIssue({
        code: 'custom',
        path: at('data'),
        message: `a ${type} Secret needs ${alternatives.map((k) => `"${k}"`).join(' or ')} in data or stringData`,
      });
    }
  }
  return {
    apiVersion: r.apiVersion,
    kind: 'Secret',
    metadata: r.metadata,
    spec: { type, data, ...(fields.immutable !== undefined ? { immutable: fields.immutable } : {}) },
  };
}

/** Either form; which one is told by a top-level `spec`, so problems name the fields the user wrote. */
export const secretResource = z.unknown().transform((value, ctx): Out => {
  const stored = typeof value === 'object' && value !== null && 'spec' in value;
  const r = (stored ? storedForm : kubernetesForm).safeParse(value, { reportInput: true });
  if (!r.success) {
    for (const iss of r.error.issues) ctx.issues.push(iss as z.core.$ZodRawIssue);
    return z.NEVER;
  }
  return normalize(r.data, ctx);
}) as unknown as z.ZodType<Out>;

/** The bytes of one key, or undefined when the Secret does not have it. */
export function secretValue(spec: SecretSpec, key: string): Buffer | undefined {
  const v = spec.data[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64');
}
