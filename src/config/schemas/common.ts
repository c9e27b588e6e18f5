// Building blocks shared by the per-API-group schemas. Every range check produces a plain-language
// message that names the accepted range and echoes the value, because users read these in a terminal.
import { z } from 'zod';
import { tryParseDuration } from '../duration.js';
import { compileIstioRegex } from '../regex.js';
import type { ObjectMeta } from '../types.js';

/** Show a user's value in a message: strings quoted, objects as short JSON. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'an empty value';
  if (typeof v === 'object') {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  }
  return String(v);
}

/** Edit distance, to suggest the field a user probably meant when a key is misspelled. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      // Count a swap of two neighbours as one edit ("wieght" -> "weight").
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

export function unknownFieldMessage(key: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dd = distance(key.toLowerCase(), k.toLowerCase());
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  const hint =
    best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3))
      ? ` (did you mean "${best}"?)`
      : '';
  return `unknown field "${key}"${hint}`;
}

/**
 * A strict object (unknown keys are errors, like `kubectl apply --validate=strict`). The message holds one
 * line per unknown key, in the order of the issue's `keys`, so the loader can report each key at its own line.
 */
export function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? iss.keys.map((k) => unknownFieldMessage(k, known)).join('\n')
        : undefined,
  });
}

/** An object Weft does not interpret yet: any fields are accepted and kept as they are. */
export const loose = z.record(z.string(), z.unknown());

export const intRange = (min: number, max: number) =>
  z.number().refine((v) => Number.isInteger(v) && v >= min && v <= max, {
    error: (iss) => `must be an integer between ${min} and ${max} (got ${show(iss.input)})`,
  });

export const numberRange = (min: number, max: number) =>
  z.number().refine((v) => v >= min && v <= max, {
    error: (iss) => `must be a number between ${min} and ${max} (got ${show(iss.input)})`,
  });

export const nonNegativeInt = z.number().refine((v) => Number.isInteger(v) && v >= 0, {
  error: (iss) => `must be a whole number of 0 or more (got ${show(iss.input)})`,
});

export const port = intRange(1, 65535);
export const weight = intRange(0, 100);
export const percent = strict({ value: numberRange(0, 100) });

/** A duration as Istio accepts it: at least 1ms and in whole milliseconds. */
export const duration = z.string().superRefine((s, ctx) => {
  const ms = tryParseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid duration ${show(s)}: use a number and a unit, e.g. "1.5s", "100ms", "2m", "1h"`,
    });
  } else if (ms < 1) {
    ctx.addIssue({ code: 'custom', message: `duration must be at least 1ms (got ${show(s)})` });
  } else if (!Number.isInteger(ms)) {
    ctx.addIssue({ code: 'custom', message: `duration must be in whole milliseconds (got ${show(s)})` });
  }
});

/** Istio's TcpKeepalive (DestinationRule connectionPool.tcp and MeshConfig). An empty one turns keep-alive on
 *  with the system's settings. */
export const tcpKeepalive = strict({
  probes: z.number().int().nonnegative().optional(),
  time: duration.optional(),
  interval: duration.optional(),
});

export const nonEmptyString = z.string().min(1, { error: 'must not be empty' });

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const dnsLabel = z.string().refine((s) => s.length <= 63 && DNS1123_LABEL.test(s), {
  error: (iss) =>
    `must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (got ${show(iss.input)})`,
});

export const dnsSubdomain = z.string().refine((s) => s.length <= 253 && DNS1123_SUBDOMAIN.test(s), {
  error: (iss) =>
    `must be a DNS-1123 name: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit (got ${show(iss.input)})`,
});

export const stringMap = z.record(z.string(), z.string());

/** Kubernetes label selectors and label maps: keys may be prefixed (`app.kubernetes.io/name`). */
export const labelMap = z.record(z.string(), z.string()).superRefine((m, ctx) => {
  for (const [k, v] of Object.entries(m)) {
    if (k === '' || k.includes('*') || v.includes('*')) {
      ctx.addIssue({
        code: 'custom',
        path: [k],
        message: `invalid label ${show(`${k}=${v}`)}: keys must be non-empty and wildcards are not allowed`,
      });
    }
  }
});

/** A regular expression, checked by compiling it the way the proxy will. */
export const regex = z.string().superRefine((s, ctx) => {
  try {
    compileIstioRegex(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(e as Error).message}` });
  }
});

/** Istio's exportTo: ".", "*", or namespace names, without duplicates. */
export const exportTo = z.array(z.string()).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((e, i) => {
    if (e !== '.' && e !== '*' && e !== '~' && !DNS1123_LABEL.test(e)) {
      ctx.addIssue({
        code: 'custom',
        path: [i],
        message: `must be ".", "*" or a namespace name (got ${show(e)})`,
      });
    }
    if (seen.has(e)) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate entry ${show(e)}` });
    seen.add(e);
  });
  if (list.includes('*') && list.length > 1) {
    ctx.addIssue({ code: 'custom', message: 'cannot mix "*" (all namespaces) with other entries' });
  }
});

/** Object metadata: what Weft keeps. Server-set fields (uid, resourceVersion, ...) are accepted and dropped. */
export function metadata(name: z.ZodType<string> = dnsSubdomain) {
  return z
    .object({
      name,
      namespace: dnsLabel.optional(),
      labels: stringMap.optional(),
      annotations: stringMap.optional(),
    })
    .transform(({ name, namespace, labels, annotations }) => ({
      name,
      namespace: namespace ?? 'default',
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
    }));
}

/** A whole resource: apiVersion, kind, metadata, spec; a `status` written by a cluster is ignored. */
export function resource<K extends string, S>(kind: K, spec: z.ZodType<S>, name?: z.ZodType<string>) {
  type Out = { apiVersion: string; kind: K; metadata: ObjectMeta; spec: S };
  return strict({
    apiVersion: z.string(),
    kind: z.literal(kind),
    metadata: metadata(name),
    spec,
    status: z.unknown().optional(),
  }).transform((r): Out => {
    const { apiVersion, metadata, spec } = r as unknown as Out; // generic inference stops at the shape
    return { apiVersion, kind, metadata, spec };
  });
}
