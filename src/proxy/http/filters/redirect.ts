// Redirects (VirtualService redirect, Gateway API RequestRedirect): answer with Location built from
// the request and the policy; the query string is kept unless the new path brings its own.
import type { Filter } from '../pipeline.js';
import { localReply } from '../local-reply.js';
import { stripPort } from '../router.js';
import { replacePrefix } from './rewrite.js';

const DEFAULT_PORT: Record<string, number> = { http: 80, https: 443 };

export const redirect: Filter = (next, deps) => (ctx) => {
  const a = ctx.route!.route.action;
  if (a.kind !== 'redirect') return next(ctx);
  const r = a.redirect;
  const scheme = r.scheme ?? ctx.scheme;
  const reqHost = stripPort(ctx.authority);
  const reqPort =
    ctx.authority.length > reqHost.length ? Number(ctx.authority.slice(reqHost.length + 1)) : undefined;
  const host = r.host ? stripPort(r.host) : reqHost;
  // An explicit port wins; a new host or scheme drops the request's port (Envoy's host_redirect and
  // scheme_redirect); otherwise the request's port stays.
  let port = r.port ?? (r.host || (r.scheme && r.scheme !== ctx.scheme) ? undefined : reqPort);
  if (port === DEFAULT_PORT[scheme]) port = undefined;
  let path = ctx.pathOnly;
  if (r.path !== undefined) path = r.path;
  else if (r.prefix) path = replacePrefix(ctx.pathOnly, r.prefix.matched, r.prefix.replacement);
  const query = path.includes('?') || !ctx.query ? '' : `?${ctx.query}`;
  const location = `${scheme}://${host}${port ? `:${port}` : ''}${path}${query}`;
  localReply(ctx, r.status, '', '', deps.onDone, [['location', location]]);
};
