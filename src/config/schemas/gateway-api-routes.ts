// The pieces of Gateway API routes (HTTPRoute, GRPCRoute): references, matches, filters and rules, with
// the CRDs' patterns and CEL rules (apis/v1/httproute_types.go, grpcroute_types.go, shared_types.go).
import { z } from 'zod';
import { tryParseDuration } from '../duration.js';
import { dnsLabel, dnsSubdomain, intRange, port, regex, show, strict } from './common.js';

type Ctx = z.core.$RefinementCtx<unknown>;
const issue = (ctx: Ctx, path: Array<string | number>, message: string) =>
  ctx.addIssue({ code: 'custom', path, message });

const pattern = (re: RegExp, what: string, max = 253) =>
  z.string().refine((s) => s.length >= 1 && s.length <= max && re.test(s), {
    error: (iss) => `must be ${what} (got ${show(iss.input)})`,
  });

const LABELS = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
export const hostname = pattern(
  new RegExp(`^(\\*\\.)?${LABELS}$`),
  'a lower-case DNS name, optionally starting with "*." (IP addresses are not allowed)',
);
const preciseHostname = pattern(new RegExp(`^${LABELS}$`), 'a lower-case DNS name without wildcards');
export const group = z
  .string()
  .refine((s) => s === '' || (s.length <= 253 && new RegExp(`^${LABELS}$`).test(s)), {
    error: (iss) =>
      `must be "" (the core group) or a DNS name such as gateway.networking.k8s.io (got ${show(iss.input)})`,
  });
export const kindName = pattern(
  /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/,
  'a Kubernetes kind such as Service',
  63,
);
export const sectionName = dnsSubdomain;
const objectName = z.string().min(1).max(253);
const headerName = pattern(/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, 'an HTTP header name', 256);
const gwDuration = z.string().regex(/^([0-9]{1,5}(h|m|s|ms)){1,4}$/, {
  error: (iss) => `must be a Gateway API duration such as "10s", "500ms" or "1h30m" (got ${show(iss.input)})`,
});

export const parentRef = strict({
  group: group.optional(),
  kind: kindName.optional(),
  namespace: dnsLabel.optional(),
  name: objectName,
  sectionName: sectionName.optional(),
  port: port.optional(),
});

const backendObjectRef = {
  group: group.optional(),
  kind: kindName.optional(),
  name: objectName,
  namespace: dnsLabel.optional(),
  port: port.optional(),
};
// CEL: a reference to a core Service must name its port.
const needsPort = (
  b: { group?: string | undefined; kind?: string | undefined; port?: number | undefined },
  ctx: Ctx,
) => {
  if ((b.group ?? '') === '' && (b.kind ?? 'Service') === 'Service' && b.port === undefined)
    issue(ctx, ['port'], 'is required when referring to a Service');
};
const backendObjectReference = strict(backendObjectRef).superRefine(needsPort);
const backendRefFields = { ...backendObjectRef, weight: intRange(0, 1000000).optional() };
/** BackendRef of a TLSRoute or TCPRoute (no filters). */
export const backendRef = strict(backendRefFields).superRefine(needsPort);

// ---- filters ---------------------------------------------------------------------------------------

const header = strict({ name: headerName, value: z.string().max(4096) });
const uniqueNames = (list: Array<{ name: string }> | undefined, key: string, ctx: Ctx) => {
  const seen = new Set<string>();
  list?.forEach((h, i) => {
    if (seen.has(h.name.toLowerCase())) issue(ctx, [key, i, 'name'], `duplicate header ${show(h.name)}`);
    seen.add(h.name.toLowerCase());
  });
};
const headerFilter = strict({
  set: z.array(header).max(16).optional(),
  add: z.array(header).max(16).optional(),
  remove: z.array(z.string()).max(16).optional(),
}).superRefine((f, ctx) => {
  uniqueNames(f.set, 'set', ctx);
  uniqueNames(f.add, 'add', ctx);
});

const pathModifier = strict({
  type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']),
  replaceFullPath: z.string().max(1024).optional(),
  replacePrefixMatch: z.string().max(1024).optional(),
}).superRefine((m, ctx) => {
  if (m.type === 'ReplaceFullPath' && m.replaceFullPath === undefined)
    issue(ctx, ['replaceFullPath'], 'is required when type is ReplaceFullPath');
  if (m.type === 'ReplacePrefixMatch' && m.replacePrefixMatch === undefined)
    issue(ctx, ['replacePrefixMatch'], 'is required when type is ReplacePrefixMatch');
  if (m.type !== 'ReplaceFullPath' && m.replaceFullPath !== undefined)
    issue(ctx, ['replaceFullPath'], 'type must be ReplaceFullPath when replaceFullPath is set');
  if (m.type !== 'ReplacePrefixMatch' && m.replacePrefixMatch !== undefined)
    issue(ctx, ['replacePrefixMatch'], 'type must be ReplacePrefixMatch when replacePrefixMatch is set');
});

const requestMirror = strict({
  backendRef: backendObjectReference,
  percent: intRange(0, 100).optional(),
  fraction: strict({ numerator: intRange(0, 2147483647), denominator: intRange(1, 2147483647).optional() })
    .refine((f) => f.numerator <= (f.denominator ?? 100), {
      error: 'numerator must be less than or equal to denominator',
    })
    .optional(),
}).refine((m) => m.percent === undefined || m.fraction === undefined, {
  error: 'only one of percent or fraction may be specified',
});

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
const CORS_ORIGIN = /(^\*$)|(^([a-zA-Z][a-zA-Z0-9+\-.]+):\/\/([^:/?#]+)(:([0-9]{1,5}))?$)/;
const wildcardAlone = (list: string[] | undefined, key: string, ctx: Ctx) => {
  if (list?.includes('*') && list.length > 1)
    issue(ctx, [key], `${key} cannot contain "*" alongside other values`);
};
const cors = strict({
  allowOrigins: z
    .array(pattern(CORS_ORIGIN, '"*" or an origin such as https://*.example.com'))
    .max(64)
    .optional(),
  allowCredentials: z.boolean().optional(),
  allowMethods: z
    .array(z.enum([...METHODS, '*']))
    .max(9)
    .optional(),
  allowHeaders: z.array(headerName).max(64).optional(),
  exposeHeaders: z.array(headerName).max(64).optional(),
  maxAge: intRange(1, 2147483647).optional(),
}).superRefine((c, ctx) => {
  wildcardAlone(c.allowOrigins, 'allowOrigins', ctx);
  wildcardAlone(c.allowMethods, 'allowMethods', ctx);
  wildcardAlone(c.allowHeaders, 'allowHeaders', ctx);
});

const externalAuth = strict({
  protocol: z.enum(['HTTP', 'GRPC']),
  backendRef: backendObjectReference,
  grpc: strict({ allowedHeaders: z.array(z.string()).optional() }).optional(),
  http: strict({
    path: z.string().optional(),
    allowedHeaders: z.array(z.string()).optional(),
    allowedResponseHeaders: z.array(z.string()).optional(),
  }).optional(),
  forwardBody: strict({ maxSize: intRange(0, 2147483647).optional() }).optional(),
});

const extensionRef = strict({ group, kind: kindName, name: objectName });

/** Which field carries each filter type's settings (CEL: set for its type, and only for its type). */
const FILTER_FIELDS = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  CORS: 'cors',
  ExternalAuth: 'externalAuth',
  ExtensionRef: 'extensionRef',
} as const;
type FilterType = keyof typeof FILTER_FIELDS;

function filterConsistency(f: Record<string, unknown> & { type: FilterType }, ctx: Ctx) {
  for (const [type, field] of Object.entries(FILTER_FIELDS)) {
    if (f[field] !== undefined && f.type !== type)
      issue(ctx, [field], `must not be set when type is ${f.type}`);
    if (f[field] === undefined && f.type === type) issue(ctx, [field], `is required when type is ${type}`);
  }
}

const httpFilter = strict({
  type: z.enum(Object.keys(FILTER_FIELDS) as [FilterType, ...FilterType[]]),
  requestHeaderModifier: headerFilter.optional(),
  responseHeaderModifier: headerFilter.optional(),
  requestMirror: requestMirror.optional(),
  requestRedirect: strict({
    scheme: z.enum(['http', 'https']).optional(),
    hostname: preciseHostname.optional(),
    path: pathModifier.optional(),
    port: port.optional(),
    statusCode: z
      .number()
      .refine((c) => [301, 302, 303, 307, 308].includes(c), {
        error: (iss) => `must be one of 301, 302, 303, 307, 308 (got ${show(iss.input)})`,
      })
      .optional(),
  }).optional(),
  urlRewrite: strict({ hostname: preciseHostname.optional(), path: pathModifier.optional() }).optional(),
  cors: cors.optional(),
  externalAuth: externalAuth.optional(),
  extensionRef: extensionRef.optional(),
}).superRefine((f, ctx) => filterConsistency(f, ctx));

const GRPC_FILTERS = [
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestMirror',
  'ExtensionRef',
] as const;
const grpcFilter = strict({
  type: z.enum(GRPC_FILTERS),
  requestHeaderModifier: headerFilter.optional(),
  responseHeaderModifier: headerFilter.optional(),
  requestMirror: requestMirror.optional(),
  extensionRef: extensionRef.optional(),
}).superRefine((f, ctx) => filterConsistency(f, ctx));

/** Filter lists: RequestRedirect and URLRewrite exclude each other; only mirrors and extensions repeat. */
function filterList<T extends { type: string }>(item: z.ZodType<T>) {
  return z
    .array(item)
    .max(16)
    .superRefine((list, ctx) => {
      const types = list.map((f) => f.type);
      if (types.includes('RequestRedirect') && types.includes('URLRewrite'))
        issue(ctx, [], 'may specify either a RequestRedirect or a URLRewrite filter, but not both');
      list.forEach((f, i) => {
        if (f.type !== 'RequestMirror' && f.type !== 'ExtensionRef' && types.indexOf(f.type) !== i)
          issue(ctx, [i, 'type'], `the ${f.type} filter cannot be repeated`);
      });
    });
}

// ---- matches ---------------------------------------------------------------------------------------

const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$/;
const pathMatch = strict({
  type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).optional(),
  value: z.string().max(1024).optional(),
}).superRefine((m, ctx) => {
  const value = m.value ?? '/';
  if (m.type === 'RegularExpression') {
    const r = regex.safeParse(value);
    if (!r.success) issue(ctx, ['value'], r.error.issues[0]?.message ?? 'invalid regular expression');
    return;
  }
  const bad = !value.startsWith('/')
    ? "must be an absolute path and start with '/'"
    : ['//', '/./', '/../', '%2f', '%2F', '#'].find((s) => value.includes(s))
      ? `must not contain ${show(['//', '/./', '/../', '%2f', '%2F', '#'].find((s) => value.includes(s)))}`
      : value.endsWith('/..') || value.endsWith('/.')
        ? "must not end with '/..' or '/.'"
        : !PATH_CHARS.test(value)
          ? 'must only contain valid path characters'
          : undefined;
  if (bad) issue(ctx, ['value'], bad);
});

const valueMatch = strict({
  type: z.enum(['Exact', 'RegularExpression']).optional(),
  name: headerName,
  value: z.string().min(1).max(4096),
}).superRefine((m, ctx) => {
  if (m.type !== 'RegularExpression') return;
  const r = regex.safeParse(m.value);
  if (!r.success) issue(ctx, ['value'], r.error.issues[0]?.message ?? 'invalid regular expression');
});
const valueMatches = z
  .array(valueMatch)
  .max(16)
  .superRefine((list, ctx) => {
    // listMapKey=name: the API server rejects the same name twice.
    list.forEach((m, i) => {
      if (list.findIndex((o) => o.name === m.name) !== i)
        issue(ctx, [i, 'name'], `duplicate name ${show(m.name)}`);
    });
  });

const httpRouteMatch = strict({
  path: pathMatch.optional(),
  headers: valueMatches.optional(),
  queryParams: valueMatches.optional(),
  method: z.enum(METHODS).optional(),
});

const GRPC_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;
const grpcMethodMatch = strict({
  type: z.enum(['Exact', 'RegularExpression']).optional(),
  service: z.string().max(1024).optional(),
  method: z.string().max(1024).optional(),
}).superRefine((m, ctx) => {
  if (m.service === undefined && m.method === undefined)
    issue(ctx, [], 'one or both of service or method must be set');
  for (const key of ['service', 'method'] as const) {
    const v = m[key];
    if (v === undefined) continue;
    if (m.type === 'RegularExpression') {
      const r = regex.safeParse(v);
      if (!r.success) issue(ctx, [key], r.error.issues[0]?.message ?? 'invalid regular expression');
    } else if (!(key === 'service' ? GRPC_SERVICE : GRPC_METHOD).test(v)) {
      issue(ctx, [key], `must be a valid gRPC ${key} name (got ${show(v)})`);
    }
  }
});

const grpcRouteMatch = strict({ method: grpcMethodMatch.optional(), headers: valueMatches.optional() });

// ---- rules -----------------------------------------------------------------------------------------

const sessionPersistence = strict({
  sessionName: z.string().max(128).optional(),
  absoluteTimeout: gwDuration.optional(),
  idleTimeout: gwDuration.optional(),
  type: z.enum(['Cookie', 'Header']).optional(),
  cookieConfig: strict({ lifetimeType: z.enum(['Permanent', 'Session']).optional() }).optional(),
});

const durationMs = (s: string) => tryParseDuration(s) ?? 0;

/** Does a rule's filter list use ReplacePrefixMatch (which needs exactly one PathPrefix match)? */
function usesPrefixReplace(filters: Array<{ requestRedirect?: unknown; urlRewrite?: unknown }> | undefined) {
  return (filters ?? []).some((f) =>
    [f.requestRedirect, f.urlRewrite].some(
      (x) => (x as { path?: { type?: string } } | undefined)?.path?.type === 'ReplacePrefixMatch',
    ),
  );
}

export const httpRouteRule = strict({
  name: sectionName.optional(),
  matches: z.array(httpRouteMatch).max(64).optional(),
  filters: filterList(httpFilter).optional(),
  backendRefs: z
    .array(strict({ ...backendRefFields, filters: filterList(httpFilter).optional() }).superRefine(needsPort))
    .max(16)
    .optional(),
  timeouts: strict({ request: gwDuration.optional(), backendRequest: gwDuration.optional() })
    .refine(
      (t) =>
        !t.request ||
        !t.backendRequest ||
        durationMs(t.request) === 0 ||
        durationMs(t.backendRequest) <= durationMs(t.request),
      { error: 'backendRequest timeout cannot be longer than request timeout' },
    )
    .optional(),
  retry: strict({
    codes: z.array(intRange(400, 599)).optional(),
    attempts: intRange(0, 2147483647).optional(),
    backoff: gwDuration.optional(),
  }).optional(),
  sessionPersistence: sessionPersistence.optional(),
}).superRefine((rule, ctx) => {
  if (rule.backendRefs?.length && rule.filters?.some((f) => f.type === 'RequestRedirect'))
    issue(ctx, ['filters'], 'a RequestRedirect filter must not be used together with backendRefs');
  const prefixReplace =
    usesPrefixReplace(rule.filters) || (rule.backendRefs ?? []).some((b) => usesPrefixReplace(b.filters));
  const matches = rule.matches ?? [{}]; // the API server defaults an absent list to one PathPrefix "/" match
  if (prefixReplace && (matches.length !== 1 || (matches[0]?.path?.type ?? 'PathPrefix') !== 'PathPrefix'))
    issue(ctx, ['matches'], 'with path.replacePrefixMatch, exactly one PathPrefix match must be specified');
});

export const grpcRouteRule = strict({
  name: sectionName.optional(),
  matches: z.array(grpcRouteMatch).max(64).optional(),
  filters: filterList(grpcFilter).optional(),
  backendRefs: z
    .array(strict({ ...backendRefFields, filters: filterList(grpcFilter).optional() }).superRefine(needsPort))
    .max(16)
    .optional(),
  sessionPersistence: sessionPersistence.optional(),
});
