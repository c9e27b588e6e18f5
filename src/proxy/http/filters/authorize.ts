// Gateways enforce the AuthorizationPolicies and RequestAuthentications that select them (Istio's
// ingress gateway does, before routing): the same security gate as a sidecar's inbound side, run on the
// request as the edge received it. The normalized path is what routing and the upstream see.
import type { Filter } from '../pipeline.js';
import { localReply } from '../local-reply.js';
import type { GateOutcome } from '../../security/gate-types.js';
import { addFlag, type RequestCtx } from '../context.js';
import { peekBody } from '../body.js';

const stripMapped = (ip: string | undefined) => (ip?.startsWith('::ffff:') ? ip.slice(7) : (ip ?? ''));

export const authorize: Filter = (next, deps) => (ctx) => {
  const gate = deps.gate?.();
  if (!gate) return next(ctx);
  const s = ctx.req.socket;
  const peer = stripMapped(s.remoteAddress);
  // The edge trusts no X-Forwarded-For from clients (numTrustedProxies 0): the TCP peer is the client,
  // and it is appended for the services behind, as Envoy does with use_remote_address.
  const xff = ctx.req.headers['x-forwarded-for'];
  ctx.req.headers['x-forwarded-for'] = xff ? `${String(xff)}, ${peer}` : peer;
  ctx.req.headers['x-forwarded-proto'] = ctx.scheme; // what the edge saw, not what the client claims
  const outcome = gate.checkHttp({
    method: ctx.req.method ?? 'GET',
    target: ctx.path,
    host: ctx.authority,
    headers: ctx.req.headers,
    peer: '',
    sourceIp: peer,
    remoteIp: peer,
    destinationIp: stripMapped(s.localAddress),
    destinationPort: s.localPort ?? 0,
    sni: '',
    // For ext-authz providers with includeRequestBodyInCheck; the bytes read are put back for the
    // upstream. Not for tunnels (CONNECT, upgrades), whose bytes are no body: Envoy buffers none.
    readBody:
      ctx.req.method === 'CONNECT' || ctx.req.headers.upgrade
        ? undefined
        : (max: number) => peekBody(ctx.req, max),
  });
  const go = (o: GateOutcome) => {
    if (!o.ok) {
      // A body read for the check: read the rest, so the client's keep-alive connection is not stalled.
      if (ctx.req.readableDidRead && !ctx.req.readableEnded) ctx.req.resume();
      return localReply(ctx, o.status, o.body, o.flags, deps.onDone, o.headers);
    }
    // Read from for the check, the body no longer drains by itself when nothing sends it on (no route,
    // a direct response, a fault): read what is left once answered, as Node does for an untouched one.
    if (ctx.req.readableDidRead) ctx.res.once('finish', () => drainUnsent(ctx));
    const h = ctx.req.headers;
    for (const name of o.removeHeaders) delete h[name];
    for (const [k, v] of o.setHeaders) h[k] = v;
    setTarget(ctx, o.target);
    next(ctx);
  };
  if ('then' in outcome)
    outcome.then(go, () => {
      if (!ctx.req.destroyed || ctx.req.readableEnded)
        return localReply(ctx, 500, 'authorization check failed', 'UAEX', deps.onDone);
      // The client left while its body was read for the check (Envoy's DC).
      ctx.status = 499;
      addFlag(ctx, 'DC');
      deps.onDone(ctx);
    });
  else go(outcome);
};

function drainUnsent(ctx: RequestCtx): void {
  if (!ctx.req.readableEnded && ctx.req.listenerCount('data') === 0) ctx.req.resume();
}

function setTarget(ctx: RequestCtx, target: string): void {
  if (target === ctx.path) return;
  const q = target.indexOf('?');
  ctx.path = target;
  ctx.pathOnly = q >= 0 ? target.slice(0, q) : target;
  ctx.query = q >= 0 ? target.slice(q + 1) : '';
  ctx.upstreamPath = target;
}
