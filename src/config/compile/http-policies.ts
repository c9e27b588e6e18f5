// Istio's per-route policies (retries, fault, CORS, header edits, rewrite, redirect) in snapshot form.
// Defaults follow Istio: every route retries twice on connect-failure, refused-stream, unavailable,
// cancelled and 503 unless its VirtualService says otherwise.
import type {
  CorsPolicy,
  FaultPolicy,
  HeaderMutation,
  RedirectPolicy,
  RetryPolicy,
  RewritePolicy,
  StringMatcher,
} from '../../model/snapshot.js';
import type { HeaderOperations, HTTPRoute, StringMatch } from '../types.js';
import { parseDuration } from '../duration.js';

export const GRPC_STATUS: Record<string, number> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

const BACKOFF = { backoffBaseMs: 25, backoffMaxMs: 250 }; // Envoy: base 25 ms, max 10 × base

export const ISTIO_DEFAULT_RETRY: RetryPolicy = {
  attempts: 2,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
  retriableStatusCodes: [503],
  nonIdempotent: false,
  ...BACKOFF,
};

export function retryPolicy(rule: HTTPRoute, nonIdempotent: boolean): RetryPolicy | undefined {
  const r = rule.retries;
  if (!r) return { ...ISTIO_DEFAULT_RETRY, nonIdempotent };
  if (!r.attempts) return undefined; // attempts: 0 disables retries
  const tokens = (r.retryOn ?? ISTIO_DEFAULT_RETRY.retryOn.join(','))
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const codes = tokens.filter((t) => /^\d{3}$/.test(t)).map(Number);
  const retryOn = tokens.filter((t) => !/^\d{3}$/.test(t));
  if (codes.length && !retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
  return {
    attempts: r.attempts,
    ...(r.perTryTimeout ? { perTryTimeoutMs: parseDuration(r.perTryTimeout) } : {}),
    retryOn,
    retriableStatusCodes: codes.length ? codes : retryOn.includes('retriable-status-codes') ? [503] : [],
    nonIdempotent,
    ...BACKOFF,
  };
}

export function faultPolicy(rule: HTTPRoute): FaultPolicy | undefined {
  const f = rule.fault;
  if (!f) return undefined;
  const out: FaultPolicy = {};
  if (f.delay?.fixedDelay) {
    out.delay = {
      fixedDelayMs: parseDuration(f.delay.fixedDelay),
      percentage: f.delay.percentage?.value ?? f.delay.percent ?? 100,
    };
  }
  if (f.abort && (f.abort.httpStatus !== undefined || f.abort.grpcStatus !== undefined)) {
    out.abort = {
      ...(f.abort.httpStatus !== undefined ? { httpStatus: f.abort.httpStatus } : {}),
      ...(f.abort.grpcStatus !== undefined
        ? { grpcStatus: GRPC_STATUS[f.abort.grpcStatus.toUpperCase()] ?? 2 }
        : {}),
      percentage: f.abort.percentage?.value ?? 100,
    };
  }
  return out.delay || out.abort ? out : undefined;
}

export function headerMutation(ops: HeaderOperations | undefined): HeaderMutation | undefined {
  if (!ops) return undefined;
  const out: HeaderMutation = {};
  if (ops.set && Object.keys(ops.set).length)
    out.set = Object.entries(ops.set).map(([k, v]) => [k.toLowerCase(), v]);
  if (ops.add && Object.keys(ops.add).length)
    out.add = Object.entries(ops.add).map(([k, v]) => [k.toLowerCase(), v]);
  if (ops.remove?.length) out.remove = ops.remove.map((h) => h.toLowerCase());
  return out.set || out.add || out.remove ? out : undefined;
}

export function stringMatcher(m: StringMatch | undefined, forHeader = false): StringMatcher | undefined {
  if (!m) return undefined;
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { regex: m.regex };
  return forHeader ? { present: true } : undefined;
}

export function corsPolicy(rule: HTTPRoute): CorsPolicy | undefined {
  const c = rule.corsPolicy;
  if (!c) return undefined;
  const origins = [
    ...(c.allowOrigins ?? []).map((m) => stringMatcher(m)).filter((m): m is StringMatcher => !!m),
    ...(c.allowOrigin ?? []).map((o) => (o === '*' ? { prefix: '' } : { exact: o })),
  ];
  return {
    allowOrigins: origins,
    allowMethods: c.allowMethods ?? [],
    allowHeaders: c.allowHeaders ?? [],
    exposeHeaders: c.exposeHeaders ?? [],
    ...(c.maxAge ? { maxAgeSeconds: Math.round(parseDuration(c.maxAge) / 1000) } : {}),
    ...(c.allowCredentials !== undefined ? { allowCredentials: c.allowCredentials } : {}),
  };
}

/** What the matching clause consumed of the path, for prefix rewrites: its prefix, exact path, or "/". */
export function matchedPrefix(uri: StringMatch | undefined): { matched: string; exact: boolean } | undefined {
  if (!uri) return { matched: '/', exact: false };
  if (uri.prefix !== undefined) return { matched: uri.prefix, exact: false };
  if (uri.exact !== undefined) return { matched: uri.exact, exact: true };
  return undefined; // regex: the rewrite replaces the whole path
}

export function rewritePolicy(rule: HTTPRoute, uri: StringMatch | undefined): RewritePolicy | undefined {
  const rw = rule.rewrite;
  if (!rw) return undefined;
  const out: RewritePolicy = {};
  if (rw.uri !== undefined) {
    const m = matchedPrefix(uri);
    if (m && !m.exact) out.prefix = { matched: m.matched, replacement: rw.uri };
    else out.fullPath = rw.uri;
  }
  if (rw.uriRegexRewrite) {
    // RE2 substitutions use \1; JavaScript's replace uses $1.
    out.regex = {
      pattern: rw.uriRegexRewrite.match,
      substitution: rw.uriRegexRewrite.rewrite.replace(/\\(\d)/g, '$$$1'),
    };
  }
  if (rw.authority) out.authority = rw.authority;
  return out;
}

export function redirectPolicy(rule: HTTPRoute): RedirectPolicy | undefined {
  const r = rule.redirect;
  if (!r) return undefined;
  return {
    ...(r.scheme ? { scheme: r.scheme } : {}),
    ...(r.authority ? { host: r.authority } : {}),
    ...(r.port ? { port: r.port } : {}),
    ...(r.uri !== undefined ? { path: r.uri } : {}),
    status: r.redirectCode ?? 301,
  };
}
