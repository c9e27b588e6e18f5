// CORS (VirtualService corsPolicy): answers preflight requests itself and adds the allow headers to
// responses for allowed origins, like Envoy's CORS filter. Disallowed origins get no CORS headers.
import type { Filter } from '../pipeline.js';
import { localReply } from '../local-reply.js';

export const cors: Filter = (next, deps) => (ctx) => {
  const policy = ctx.route!.route.cors;
  const origin = ctx.req.headers.origin;
  if (!policy || !origin || !ctx.route!.corsOrigin!(origin)) return next(ctx);
  const preflight =
    ctx.req.method === 'OPTIONS' && ctx.req.headers['access-control-request-method'] !== undefined;
  const headers: Array<[string, string]> = [['access-control-allow-origin', origin]];
  if (policy.allowCredentials) headers.push(['access-control-allow-credentials', 'true']);
  if (preflight) {
    if (policy.allowMethods.length)
      headers.push(['access-control-allow-methods', policy.allowMethods.join(',')]);
    if (policy.allowHeaders.length)
      headers.push(['access-control-allow-headers', policy.allowHeaders.join(',')]);
    if (policy.maxAgeSeconds !== undefined)
      headers.push(['access-control-max-age', String(policy.maxAgeSeconds)]);
    return localReply(ctx, 200, '', '', deps.onDone, headers);
  }
  if (policy.exposeHeaders.length)
    headers.push(['access-control-expose-headers', policy.exposeHeaders.join(',')]);
  ctx.responseEdits.push({ set: headers });
  next(ctx);
};
