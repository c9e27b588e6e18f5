// security.istio.io (v1, v1beta1 share one schema): PeerAuthentication, AuthorizationPolicy,
// RequestAuthentication. Every upstream field is listed so that strict validation accepts real Istio YAML;
// the checks follow Istio's CRD schema (CEL rules) and its webhook (pkg/config/validation/validation.go,
// pkg/config/security/security.go). Where Weft is stricter than Istio, the comment says so and why.
import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import type {
  AuthorizationPolicySpec,
  PeerAuthenticationSpec,
  RequestAuthenticationSpec,
} from '../security-types.js';
import { duration, labelMap, nonEmptyString, resource, show, strict } from './common.js';

export const SECURITY_API_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'] as const;

type Ctx = z.core.$RefinementCtx;
const issue = (ctx: Ctx, path: Array<string | number>, message: string) =>
  ctx.addIssue({ code: 'custom', path, message });

// ---- Shared: selector and policy attachment ---------------------------------------------------------

const workloadSelector = strict({ matchLabels: labelMap.optional() });

const GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
/** The kinds Istio lets a policy attach to (validatePolicyTargetReference); "" and "core" are the core group. */
const TARGET_KINDS = [
  { group: 'core', kind: 'Service' },
  { group: 'networking.istio.io', kind: 'ServiceEntry' },
  { group: 'gateway.networking.k8s.io', kind: 'Gateway' },
  { group: 'gateway.networking.k8s.io', kind: 'GatewayClass' },
];

const targetRef = strict({
  group: z
    .string()
    .refine((g) => g.length <= 253 && GROUP.test(g), {
      error: (iss) =>
        `must be an API group such as "" (core), "networking.istio.io" or "gateway.networking.k8s.io" (got ${show(iss.input)})`,
    })
    .optional(),
  kind: z.string().refine((k) => k.length <= 63 && KIND.test(k), {
    error: (iss) => `must be a kind name such as "Service" or "Gateway" (got ${show(iss.input)})`,
  }),
  name: z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(253, { error: 'must be at most 253 characters' }),
  namespace: z
    .string()
    .refine((ns) => ns === '', {
      error:
        "cross-namespace references are not supported: leave namespace out, the target is looked up in the policy's own namespace",
    })
    .optional(),
}).superRefine((r, ctx) => {
  const group = r.group === undefined || r.group === '' ? 'core' : r.group;
  if (!GROUP.test(r.group ?? '') || !KIND.test(r.kind)) return; // already reported
  if (!TARGET_KINDS.some((t) => t.group === group && t.kind === r.kind)) {
    issue(
      ctx,
      ['kind'],
      `a policy can target a Service, a ServiceEntry (networking.istio.io), or a Gateway or GatewayClass (gateway.networking.k8s.io) (got ${show(`${r.group ?? ''}/${r.kind}`)})`,
    );
  }
});

const policyTargeting = {
  selector: workloadSelector.optional(),
  targetRef: targetRef.optional(),
  targetRefs: z.array(targetRef).max(16, { error: 'must have at most 16 items' }).optional(),
};

/** Istio's CEL rule: at most one of selector, targetRef and targetRefs (present, even if empty). */
function checkOneTarget(
  spec: { selector?: unknown; targetRef?: unknown; targetRefs?: unknown },
  ctx: Ctx,
): void {
  const set = (['selector', 'targetRef', 'targetRefs'] as const).filter((k) => spec[k] !== undefined);
  if (set.length > 1) {
    issue(
      ctx,
      [set[1] as string],
      `set only one of selector, targetRef and targetRefs (found ${set.join(' and ')}): a selector picks workloads by label, a target reference picks them through a Service or Gateway`,
    );
  }
}

// ---- Values: IPs, ports, service accounts, paths --------------------------------------------------------

/** Istio's security.ValidateIPs: a single address or a CIDR block, IPv4 or IPv6. */
export function ipOrCidrProblem(v: string): string | undefined {
  const slash = v.indexOf('/');
  const hint = 'use an address such as "10.0.0.1" or a CIDR block such as "10.0.0.0/16"';
  if (slash < 0) return isIP(v) ? undefined : `invalid IP address ${show(v)}: ${hint}`;
  const addr = v.slice(0, slash);
  const bits = v.slice(slash + 1);
  const family = addr.includes('%') ? 0 : isIP(addr);
  const max = family === 4 ? 32 : 128;
  if (!family || !/^(0|[1-9]\d{0,2})$/.test(bits) || Number(bits) > max) {
    return `invalid CIDR block ${show(v)}: ${hint} (prefix length 0-${family === 4 ? 32 : '32 for IPv4, 0-128 for IPv6'})`;
  }
  return undefined;
}

const ipOrCidr = z.string().superRefine((v, ctx) => {
  const p = v === '' ? 'must not be empty' : ipOrCidrProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

/**
 * Istio's security.ValidatePorts: a decimal number up to 65535, written as a string. A YAML number is
 * reported here rather than as a type error, which would hide the policy-level problems.
 */
const portString = z
  .union([z.string(), z.number()])
  .superRefine((p, ctx) => {
    if (typeof p === 'number') {
      ctx.addIssue({ code: 'custom', message: `write ports as strings, e.g. "${p}" (got a number)` });
    } else if (!/^\d+$/.test(p) || Number(p) > 65535) {
      ctx.addIssue({ code: 'custom', message: `must be a port number from 0 to 65535 (got ${show(p)})` });
    }
  })
  .transform(String);

/** Istio's security.CheckServiceAccount: "sa" or "ns/sa", no wildcards, at most 320 characters. */
function serviceAccountProblem(v: string): string | undefined {
  const format = 'use "<serviceAccount>" or "<namespace>/<serviceAccount>"';
  if (v === '') return 'must not be empty';
  if (v.includes('*')) return `wildcards are not allowed in service accounts (got ${show(v)})`;
  const parts = v.split('/');
  if (parts.length > 2) return `${format} (got ${show(v)})`;
  if (v.length > 320) return `must be at most 320 characters (got ${v.length})`;
  if (parts.length === 2 && parts[0] === '') return `the namespace is empty: ${format} (got ${show(v)})`;
  if (parts.length === 2 && parts[1] === '')
    return `the service account is empty: ${format} (got ${show(v)})`;
  return undefined;
}

const serviceAccounts = z
  .array(
    z.string().superRefine((v, ctx) => {
      const p = serviceAccountProblem(v);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    }),
  )
  .max(16, { error: 'must have at most 16 items: list more in another "from" entry' });

const MATCH_ONE = '{*}';
const MATCH_ANY = '{**}';
// RFC 3986 pchar: what a literal segment of a templated path may contain (Envoy's uri_template rule).
const VALID_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

/**
 * Istio's security.CheckValidPathTemplate: `{*}` (one segment) and `{**}` (any segments) must be whole
 * segments, nothing but literals may follow `{**}`, and literal segments of a templated path must be pchars.
 * Weft is stricter about `*` outside templates: Istio only matches it as a single leading or trailing
 * wildcard and takes any other `*` literally, so "/api/*\/admin" in a DENY rule would silently never match.
 */
export function pathProblem(path: string): string | undefined {
  const templated = path.includes(MATCH_ONE) || path.includes(MATCH_ANY);
  let foundAny = false;
  for (const glob of path.replace(/^\/+|\/+$/g, '').split('/')) {
    if (glob === MATCH_ONE || glob === MATCH_ANY) {
      if (foundAny) {
        return `{**} must be the last template in a path: no {*} or {**} may follow it (got ${show(path)})`;
      }
      foundAny = glob === MATCH_ANY;
      continue;
    }
    if (/[{}]/.test(glob)) {
      return `"{" and "}" are only allowed as whole-segment templates {*} (one segment) and {**} (any number of segments) (got ${show(path)})`;
    }
    if (templated && !VALID_LITERAL.test(glob)) {
      return `segment ${show(glob)} of a templated path may only use letters, digits and - . _ ~ % ! $ & ' ( ) + , ; : @ = (got ${show(path)})`;
    }
  }
  if (!templated && path !== '*') {
    const stars = path.split('*').length - 1;
    if (stars > 1 || (stars === 1 && !path.startsWith('*') && !path.endsWith('*'))) {
      return `"*" can only be the first or last character of a path (suffix or prefix match) or the whole path; to match a segment use a template, e.g. "/api/{*}/items" (got ${show(path)})`;
    }
  }
  return undefined;
}

const paths = z.array(
  z.string().superRefine((v, ctx) => {
    const p = v === '' ? 'must not be empty' : pathProblem(v);
    if (p) ctx.addIssue({ code: 'custom', message: p });
  }),
);

const strings = z.array(nonEmptyString);

// ---- AuthorizationPolicy ----------------------------------------------------------------------------

const SOURCE_FIELDS = {
  principals: strings.optional(),
  notPrincipals: strings.optional(),
  requestPrincipals: strings.optional(),
  notRequestPrincipals: strings.optional(),
  namespaces: strings.optional(),
  notNamespaces: strings.optional(),
  ipBlocks: z.array(ipOrCidr).optional(),
  notIpBlocks: z.array(ipOrCidr).optional(),
  remoteIpBlocks: z.array(ipOrCidr).optional(),
  notRemoteIpBlocks: z.array(ipOrCidr).optional(),
  serviceAccounts: serviceAccounts.optional(),
  notServiceAccounts: serviceAccounts.optional(),
  trustDomains: strings.optional(), // Istio 1.29
  notTrustDomains: strings.optional(),
};

const source = strict(SOURCE_FIELDS).superRefine((s, ctx) => {
  if (Object.values(s).every((v) => !v?.length)) {
    issue(
      ctx,
      [],
      'a source needs at least one field, e.g. principals, namespaces or ipBlocks (leave "from" out to match any source)',
    );
  }
  // Istio's CEL rule: serviceAccounts are matched against the same peer identity as principals/namespaces.
  const sa = s.serviceAccounts !== undefined ? 'serviceAccounts' : 'notServiceAccounts';
  if (
    (s.serviceAccounts !== undefined || s.notServiceAccounts !== undefined) &&
    [s.principals, s.notPrincipals, s.namespaces, s.notNamespaces].some((v) => v !== undefined)
  ) {
    issue(
      ctx,
      [sa],
      `${sa} cannot be combined with principals or namespaces in the same source; put them in separate "from" entries`,
    );
  }
});

const operation = strict({
  hosts: strings.optional(),
  notHosts: strings.optional(),
  ports: z.array(portString).optional(),
  notPorts: z.array(portString).optional(),
  methods: strings.optional(),
  notMethods: strings.optional(),
  paths: paths.optional(),
  notPaths: paths.optional(),
}).superRefine((op, ctx) => {
  if (Object.values(op).every((v) => !v?.length)) {
    issue(
      ctx,
      [],
      'an operation needs at least one field, e.g. paths, methods, hosts or ports (leave "to" out to match any operation)',
    );
  }
});

// Istio's security.ValidateAttribute: what a `when` key may name, and how its values are checked.
const MAP_KEYS: Array<[prefix: string, example: string]> = [
  ['request.headers', 'request.headers[x-user]'],
  ['request.experimental.inline.headers', 'request.experimental.inline.headers[x-user]'],
  ['request.auth.claims', 'request.auth.claims[groups]'],
  ['experimental.envoy.filters.', 'experimental.envoy.filters.network.mysql_proxy[db.table]'],
];
const PLAIN_KEYS = new Set([
  'source.namespace',
  'source.principal',
  'source.trustDomain',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'connection.sni',
]);
const IP_KEYS = new Set(['source.ip', 'remote.ip', 'destination.ip']);
export const CONDITION_KEYS = [
  'request.headers[<name>]',
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.serviceAccount',
  'source.principal',
  'source.trustDomain',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'request.auth.claims[<claim>]',
  'destination.ip',
  'destination.port',
  'connection.sni',
  'experimental.envoy.filters.*[<key>]',
];

type ValueCheck = (v: string) => string | undefined;

function conditionKey(key: string): { problem: string } | { check?: ValueCheck } {
  const map = MAP_KEYS.find(([prefix]) => key.startsWith(prefix));
  if (map) {
    const open = key.indexOf('[');
    return key.endsWith(']') && open > 0 && open < key.length - 2
      ? {}
      : { problem: `${show(key)} must name an entry in brackets, e.g. ${map[1]}` };
  }
  if (PLAIN_KEYS.has(key)) return {};
  if (IP_KEYS.has(key)) return { check: ipOrCidrProblem };
  if (key === 'source.serviceAccount') return { check: serviceAccountProblem };
  if (key === 'destination.port') {
    return {
      check: (v) =>
        /^\d+$/.test(v) && Number(v) <= 65535
          ? undefined
          : `must be a port number from 0 to 65535 (got ${show(v)})`,
    };
  }
  if (key === 'destination.namespace')
    return { problem: 'destination.namespace is not supported: a policy applies in its own namespace' };
  if (key.startsWith('destination.labels'))
    return { problem: `${key} is not supported: select workloads with the policy's selector instead` };
  if (key === 'destination.name' || key === 'destination.user')
    return { problem: `${key} is no longer supported (it was an Istio v1alpha1 attribute)` };
  return { problem: `unknown key ${show(key)}: use one of ${CONDITION_KEYS.join(', ')}` };
}

const condition = strict({
  key: z.string({
    error: (iss) =>
      iss.input === undefined ? 'a condition needs a key, e.g. key: request.headers[x-user]' : undefined,
  }),
  values: z.array(z.string()).optional(),
  notValues: z.array(z.string()).optional(),
}).superRefine((c, ctx) => {
  if (c.key === '') return issue(ctx, ['key'], 'must not be empty');
  if (!c.values?.length && !c.notValues?.length) {
    return issue(ctx, [], `set values or notValues (or both) for key ${c.key}`);
  }
  const k = conditionKey(c.key);
  if ('problem' in k) return issue(ctx, ['key'], k.problem);
  for (const field of ['values', 'notValues'] as const) {
    c[field]?.forEach((v, i) => {
      const p = v === '' ? 'must not be empty' : k.check?.(v);
      if (p) issue(ctx, [field, i], p);
    });
  }
  if (c.key === 'source.serviceAccount') {
    for (const field of ['values', 'notValues'] as const) {
      if ((c[field]?.length ?? 0) > 16) issue(ctx, [field], 'must have at most 16 items');
    }
  }
});

// An entry written `- source:` with nothing after it reads as null; report it like a missing source.
const nullAsMissing = (v: unknown) => (v === null ? undefined : v);

const rule = strict({
  from: z
    .array(
      strict({ source: z.preprocess(nullAsMissing, source.optional()) }).superRefine((f, ctx) => {
        if (!f.source)
          issue(ctx, ['source'], 'each "from" entry needs a source, e.g. - source: { namespaces: [foo] }');
      }),
    )
    .max(512, { error: 'must have at most 512 items' })
    .optional(),
  to: z
    .array(
      strict({ operation: z.preprocess(nullAsMissing, operation.optional()) }).superRefine((t, ctx) => {
        if (!t.operation)
          issue(
            ctx,
            ['operation'],
            'each "to" entry needs an operation, e.g. - operation: { methods: [GET] }',
          );
      }),
    )
    .optional(),
  when: z.array(condition).optional(),
}).superRefine((r, ctx) => {
  if (r.from?.length === 0)
    issue(
      ctx,
      ['from'],
      'must not be empty: list at least one source, or leave "from" out to match any source',
    );
  if (r.to?.length === 0)
    issue(
      ctx,
      ['to'],
      'must not be empty: list at least one operation, or leave "to" out to match any operation',
    );
});

// Peer identity and JWT attributes that Istio does not support with action CUSTOM.
const CUSTOM_UNSUPPORTED_SOURCE = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  // Not in Istio's list as of the webhook we follow (the fields are newer); they match the same peer
  // identity as principals, so Weft treats them the same way rather than let a CUSTOM policy ignore them.
  'trustDomains',
  'notTrustDomains',
] as const;
const customUnsupportedKey = (key: string) =>
  ['source.namespace', 'source.serviceAccount', 'source.principal', 'source.trustDomain'].includes(key) ||
  key.startsWith('request.auth.');

const PROVIDER_NAME_NEEDED =
  'action CUSTOM needs provider.name: the name of an extensionProviders entry in the MeshConfig';

export const authorizationPolicySpec = strict({
  ...policyTargeting,
  rules: z.array(rule).max(512, { error: 'must have at most 512 items' }).optional(),
  action: z
    .enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'], {
      error: (iss) => `must be one of ALLOW, DENY, AUDIT, CUSTOM (got ${show(iss.input)})`,
    })
    .optional(),
  provider: strict({
    name: z.string({
      error: (iss) => (iss.input === undefined ? PROVIDER_NAME_NEEDED : undefined),
    }),
  }).optional(),
}).superRefine((ap, ctx) => {
  checkOneTarget(ap, ctx);
  const noRules = !ap.rules?.length;
  if (ap.action === 'DENY' && noRules) {
    issue(
      ctx,
      ['rules'],
      'a DENY policy without rules never matches anything; add rules, or one empty rule (rules: [{}]) to deny every request',
    );
  }
  if (ap.provider !== undefined && ap.action !== 'CUSTOM') {
    issue(
      ctx,
      ['provider'],
      `provider is only used with action: CUSTOM (this policy's action is ${ap.action ?? 'ALLOW, the default'}); remove provider or set action: CUSTOM`,
    );
  }
  if (ap.action !== 'CUSTOM') return;
  if (noRules) {
    issue(
      ctx,
      ['rules'],
      'a CUSTOM policy without rules never sends anything to its provider; add rules, or one empty rule (rules: [{}]) to check every request',
    );
  }
  if (!ap.provider?.name) {
    issue(ctx, ap.provider ? ['provider', 'name'] : ['provider'], PROVIDER_NAME_NEEDED);
  }
  ap.rules?.forEach((r, i) => {
    r.from?.forEach((f, j) => {
      for (const field of CUSTOM_UNSUPPORTED_SOURCE) {
        if (f.source?.[field] !== undefined) {
          issue(
            ctx,
            ['rules', i, 'from', j, 'source', field],
            `${field} is not supported with action CUSTOM (Istio rejects it too): choose the requests to send to the provider by ipBlocks, operations or request headers`,
          );
        }
      }
    });
    r.when?.forEach((c, j) => {
      if (customUnsupportedKey(c.key)) {
        issue(ctx, ['rules', i, 'when', j, 'key'], `${c.key} is not supported with action CUSTOM`);
      }
    });
  });
});

const _ap: z.ZodType<AuthorizationPolicySpec> = authorizationPolicySpec;
void _ap;

// ---- PeerAuthentication -----------------------------------------------------------------------------

const mtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'], {
  error: (iss) => `must be one of STRICT, PERMISSIVE, DISABLE, UNSET (got ${show(iss.input)})`,
});
const mtls = strict({ mode: mtlsMode.optional() });

const portLevelMtls = z.record(z.string(), mtls).superRefine((m, ctx) => {
  const ports = Object.keys(m);
  if (ports.length === 0) {
    issue(ctx, [], 'must list at least one port; leave portLevelMtls out if no port needs its own mode');
  }
  for (const p of ports) {
    if (!/^\d+$/.test(p)) issue(ctx, [p], `port keys must be numbers such as "8080" (got ${show(p)})`);
    else if (Number(p) < 1 || Number(p) > 65535)
      issue(ctx, [p], `port must be between 1 and 65535 (got ${p})`);
  }
});

export const peerAuthenticationSpec = strict({
  selector: workloadSelector.optional(),
  mtls: mtls.optional(),
  portLevelMtls: portLevelMtls.optional(),
}).superRefine((pa, ctx) => {
  if (pa.portLevelMtls !== undefined && Object.keys(pa.selector?.matchLabels ?? {}).length === 0) {
    issue(
      ctx,
      ['portLevelMtls'],
      'portLevelMtls needs a selector with matchLabels: port numbers are workload ports, so a namespace- or mesh-wide policy cannot set them',
    );
  }
});

const _pa: z.ZodType<PeerAuthenticationSpec> = peerAuthenticationSpec;
void _pa;

// ---- RequestAuthentication --------------------------------------------------------------------------

/** Istio's CRD rule (http or https) and security.ParseJwksURI (a host, a numeric port). */
const jwksUri = z.string().superRefine((s, ctx) => {
  const bad = (why: string) =>
    ctx.addIssue({
      code: 'custom',
      message: `${why}: use an http:// or https:// URL such as "https://example.com/.well-known/jwks.json" (got ${show(s)})`,
    });
  if (s.length > 2048) return bad('must be at most 2048 characters');
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return bad('invalid URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return bad(`unsupported scheme ${show(u.protocol.slice(0, -1))}`);
  if (!u.hostname) return bad('the URL has no host');
});

/** Inline JWKS: JSON with a "keys" list (or a single key), each a public key Node can load. */
export function jwksProblem(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `invalid JWKS: not JSON (${(e as Error).message})`;
  }
  const obj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(doc)) return 'invalid JWKS: must be a JSON object such as {"keys": [{"kty": "RSA", ...}]}';
  const keys = Array.isArray(doc.keys) ? (doc.keys as unknown[]) : 'kty' in doc ? [doc] : undefined;
  if (!keys)
    return 'invalid JWKS: must have a "keys" list, e.g. {"keys": [{"kty": "RSA", "n": "...", "e": "AQAB"}]}';
  if (keys.length === 0) return 'invalid JWKS: the "keys" list is empty';
  for (const [i, k] of keys.entries()) {
    if (!obj(k) || typeof k.kty !== 'string') return `invalid JWKS: key ${i} has no "kty"`;
    if (k.kty === 'oct') {
      if (typeof k.k !== 'string' || k.k === '') return `invalid JWKS: key ${i} (oct) has no "k"`;
      continue;
    }
    try {
      createPublicKey({ key: k as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch (e) {
      return `invalid JWKS: key ${i} (${k.kty}) cannot be loaded: ${(e as Error).message}`;
    }
  }
  return undefined;
}

const jwks = z.string().superRefine((s, ctx) => {
  const p = jwksProblem(s);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const HEADER_NAME = /^[-_A-Za-z0-9]+$/;

const jwtRule = strict({
  // Istio 1.27+ lets issuer be left out when jwksUri is set; Weft needs it to tell tokens apart.
  issuer: z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? 'a JWT rule needs an issuer: the "iss" claim of the tokens it accepts, e.g. "https://accounts.example.com"'
          : undefined,
    })
    .min(1, { error: 'must not be empty' }),
  audiences: strings.optional(),
  jwksUri: jwksUri.optional(),
  jwks_uri: jwksUri.optional(), // the old spelling, still in Istio's CRD; stored as jwksUri
  jwks: jwks.optional(),
  fromHeaders: z.array(strict({ name: nonEmptyString, prefix: z.string().optional() })).optional(),
  fromParams: strings.optional(),
  fromCookies: strings.optional(),
  outputPayloadToHeader: z.string().optional(),
  outputClaimToHeaders: z
    .array(
      strict({
        header: z
          .string()
          .min(1, { error: 'must not be empty' })
          .refine((h) => h === '' || HEADER_NAME.test(h), {
            error: (iss) => `must be a header name of letters, digits, "-" and "_" (got ${show(iss.input)})`,
          }),
        claim: nonEmptyString,
      }),
    )
    .optional(),
  forwardOriginalToken: z.boolean().optional(),
  timeout: duration.optional(),
  spaceDelimitedClaims: strings.optional(), // Istio 1.28
  presence: z // Istio 1.29: REQUIRED rejects requests without this token
    .enum(['OPTIONAL', 'REQUIRED'], {
      error: (iss) => `must be OPTIONAL or REQUIRED (got ${show(iss.input)})`,
    })
    .optional(),
})
  .superRefine((r, ctx) => {
    const set = (['jwksUri', 'jwks_uri', 'jwks'] as const).filter((k) => r[k] !== undefined);
    if (set.length > 1) {
      issue(
        ctx,
        [set[1] as string],
        `set only one of jwksUri and jwks (found ${set.join(' and ')}): keys are either fetched from a URL or given inline`,
      );
    }
  })
  .transform(({ jwks_uri, ...r }) => (jwks_uri === undefined ? r : { ...r, jwksUri: jwks_uri }));

export const requestAuthenticationSpec = strict({
  ...policyTargeting,
  jwtRules: z.array(jwtRule).max(4096, { error: 'must have at most 4096 items' }).optional(),
}).superRefine(checkOneTarget);

const _ra: z.ZodType<RequestAuthenticationSpec> = requestAuthenticationSpec;
void _ra;

export const peerAuthenticationResource = resource('PeerAuthentication', peerAuthenticationSpec);
export const authorizationPolicyResource = resource('AuthorizationPolicy', authorizationPolicySpec);
export const requestAuthenticationResource = resource('RequestAuthentication', requestAuthenticationSpec);
