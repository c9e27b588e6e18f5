// Request edits on the way upstream: x-request-id, the trace context (this proxy's CLIENT span becomes
// the upstream's parent), the route's header edits, then path and authority rewrites (VirtualService
// rewrite / Gateway API URLRewrite).
import type { Filter } from '../pipeline.js';
import { endToEnd } from '../headers.js';
import { applyHeaderEdits } from '../header-edits.js';
import { requestId } from '../request-id.js';
import { startClientSpan } from '../../telemetry/tracing.js';
import { takeCheckHost } from '../../security/authz/check-host.js';

/** Replace the matched prefix; with a "/" replacement keep exactly one slash (Gateway API semantics). */
export function replacePrefix(path: string, matched: string, replacement: string): string {
  const m = matched.endsWith('/') && matched.length > 1 ? matched.slice(0, -1) : matched;
  if (!path.startsWith(m)) return path;
  let rest = path.slice(m.length);
  if (replacement.endsWith('/') && rest.startsWith('/')) rest = rest.slice(1);
  const out = replacement + rest;
  return out === '' ? '/' : out;
}

export const requestEdits: Filter = (next) => (ctx) => {
  const h = endToEnd(ctx.req.headers);
  // An ext-authz check this proxy sends itself keeps the original request's Host (security/authz/check-host.ts).
  h.host = takeCheckHost(h) ?? ctx.authority;
  if (!h['x-request-id']) h['x-request-id'] = requestId();
  startClientSpan(ctx.req, h);
  h['x-forwarded-proto'] ??= ctx.scheme;
  const route = ctx.route!;
  applyHeaderEdits(h, route.route.requestHeaders);
  const a = route.route.action;
  if (a.kind === 'forward' && a.rewrite) {
    const rw = a.rewrite;
    let path = ctx.pathOnly;
    if (rw.fullPath !== undefined) path = rw.fullPath;
    else if (rw.prefix) path = replacePrefix(path, rw.prefix.matched, rw.prefix.replacement);
    else if (rw.regex && route.rewriteRegex) path = path.replace(route.rewriteRegex, rw.regex.substitution);
    ctx.upstreamPath = ctx.query ? `${path}?${ctx.query}` : path;
    if (rw.authority) h.host = rw.authority;
  }
  ctx.headers = h;
  next(ctx);
};
