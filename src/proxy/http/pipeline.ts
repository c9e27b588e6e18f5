// The outbound request path, written once and in request order. Each filter is `(next, deps) =>
// handler` with one line saying why it is there; the last step sends the request upstream. Filters
// are composed once when a listener starts, never per request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Endpoint, OutboundTrafficPolicy } from '../../model/snapshot.js';
import type { RequestCtx } from './context.js';
import { addFlag } from './context.js';
import { RouteTable, stripPort } from './router.js';
import { localReply } from './local-reply.js';
import { lowerName } from '../upstream/llhttp.js';
import { applyHeaderEdits } from './header-edits.js';
import { limiter, RATE_LIMITED_BODY } from '../ratelimit/limiters.js';
import { cors } from './filters/cors.js';
import { fault } from './filters/fault.js';
import { redirect } from './filters/redirect.js';
import { requestEdits } from './filters/rewrite.js';
import { upstream } from './filters/upstream.js';
import { authorize } from './filters/authorize.js';
import type { SecurityGate } from '../security/gate.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { AttemptTarget } from '../upstream/attempt.js';
import { BLACKHOLE, type Passthrough } from '../upstream/passthrough.js';

export type Handler = (ctx: RequestCtx) => void;
export type Filter = (next: Handler, deps: PipelineDeps) => Handler;

export interface PipelineDeps {
  clusters: () => ReadonlyMap<string, ClusterRuntime>;
  /** How to reach an endpoint of a cluster: address, pool and mTLS settings; HTTP/2 when `h2`. The
   *  same object may be returned for every request to the endpoint: callers must not change it. */
  target: (cluster: ClusterRuntime, ep: Endpoint, h2: boolean) => AttemptTarget;
  onDone: (ctx: RequestCtx) => void; // access log, metrics
  scheme?: string; // what clients speak to this listener
  /** This proxy's peer metadata, added to requests to mesh peers. */
  peerMetadata?: () => string | undefined;
  /** Gateways: the security gate of the current snapshot (JWT, AuthorizationPolicy, path normalization). */
  gate?: () => SecurityGate | undefined;
  /** Replaces the upstream step (tests). */
  send?: Handler;
  /** Sidecar outbound: meshConfig.outboundTrafficPolicy for hosts outside the registry. Absent or
   *  undefined (gateways, older control planes): such a host is 404 NR. */
  outboundPolicy?: () => OutboundTrafficPolicy | undefined;
  /** ALLOW_ANY: where a host outside the registry is passed through to. */
  passthrough?: Passthrough;
}

/** Requests name their destination by Host, or by an absolute URL when the app uses us as HTTP proxy. */
const requestTarget: Filter = (next, deps) => (ctx) => {
  const url = ctx.req.url ?? '/';
  if (ctx.req.method === 'CONNECT') {
    // CONNECT names its destination in authority form: "service:port".
    ctx.authority = url.toLowerCase();
    ctx.path = '/';
  } else if (url.startsWith('http://') || url.startsWith('https://')) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return localReply(ctx, 400, 'malformed request target', 'DPE', deps.onDone);
    }
    ctx.authority = u.host.toLowerCase();
    ctx.path = `${u.pathname}${u.search}`;
  } else {
    const h = ctx.req.headers;
    const host = h[':authority'] ?? h.host;
    // A service's few host names, lower-cased once each (lowerName remembers them, bounded).
    ctx.authority = typeof host === 'string' ? lowerName(host) : '';
    ctx.path = url;
  }
  if (!ctx.authority) return localReply(ctx, 400, 'missing Host header', 'DPE', deps.onDone);
  const q = ctx.path.indexOf('?');
  ctx.pathOnly = q >= 0 ? ctx.path.slice(0, q) : ctx.path;
  ctx.query = q >= 0 ? ctx.path.slice(q + 1) : '';
  ctx.upstreamPath = ctx.path;
  next(ctx);
};

/**
 * A host that is neither a mesh Service nor a ServiceEntry, as meshConfig.outboundTrafficPolicy says:
 * REGISTRY_ONLY answers 502 NR (Istio's BlackHoleCluster), ALLOW_ANY passes the request through to the
 * host it names (Istio's PassthroughCluster), and without a policy (gateways) it is 404 NR.
 */
function unknownHost(ctx: RequestCtx, next: Handler, deps: PipelineDeps): void {
  const policy = deps.outboundPolicy?.();
  if (policy === 'REGISTRY_ONLY') {
    ctx.route = BLACKHOLE.route;
    ctx.cluster = BLACKHOLE.cluster;
    return localReply(
      ctx,
      502,
      `no route for host "${ctx.authority}": it is neither a mesh service nor a ServiceEntry, and outboundTrafficPolicy is REGISTRY_ONLY`,
      'NR',
      deps.onDone,
    );
  }
  if (policy !== 'ALLOW_ANY' || !deps.passthrough)
    return localReply(
      ctx,
      404,
      `no route for host "${ctx.authority}": it is not a mesh service`,
      'NR',
      deps.onDone,
    );
  const self = ctx.req.socket?.localPort;
  void deps.passthrough.target(ctx.authority, 80, self).then((t) => {
    if (ctx.res.destroyed || ctx.req.destroyed) {
      // The client left while the name was being resolved.
      ctx.status ??= 499;
      addFlag(ctx, 'DC');
      return deps.onDone(ctx);
    }
    if ('error' in t)
      return localReply(
        ctx,
        404,
        `no route for host "${ctx.authority}": it is not a mesh service or ServiceEntry, and ${t.error}`,
        'NR',
        deps.onDone,
      );
    ctx.route = t.route;
    ctx.cluster = t.cluster;
    try {
      next(ctx);
    } catch {
      ctx.res.destroy();
    }
  });
}

/** First matching route of the virtual host wins; no route is 404 with flag NR. */
const route: Filter = (next, deps) => (ctx) => {
  const vh = ctx.routes.findHost(ctx.authority);
  if (!vh) return unknownHost(ctx, next, deps);
  const r = RouteTable.findRoute(vh, {
    method: ctx.req.method ?? 'GET',
    path: ctx.pathOnly,
    query: ctx.query,
    scheme: ctx.scheme,
    authority: ctx.authority,
    headers: ctx.req.headers,
  });
  if (!r)
    return localReply(ctx, 404, `no route matched ${ctx.pathOnly} on ${vh.vhost.name}`, 'NR', deps.onDone);
  ctx.route = r;
  next(ctx);
};

/** Local rate limit on the route (RateLimit routes): 429 with flag RL when its bucket is empty. */
const rateLimit: Filter = (next, deps) => (ctx) => {
  const rl = ctx.route!.route.rateLimit;
  if (rl && !limiter(rl, ctx.route!.route.name).tryTake())
    return localReply(ctx, 429, RATE_LIMITED_BODY, 'RL', deps.onDone);
  next(ctx);
};

/** Direct responses are answered by the proxy itself. */
const direct: Filter = (next, deps) => (ctx) => {
  const a = ctx.route!.route.action;
  if (a.kind === 'direct') return localReply(ctx, a.status, a.body, '', deps.onDone);
  next(ctx);
};

/** Weighted destinations: pick a cluster by weight; unresolvable backends answer with their status. */
const pickCluster: Filter = (next, deps) => (ctx) => {
  const a = ctx.route!.route.action;
  if (a.kind !== 'forward') return;
  const w = pickWeighted(a.clusters, ctx.route!.totalWeight);
  if (!w) return localReply(ctx, 500, 'route has no backends', 'NC', deps.onDone);
  if (w.status !== undefined) return localReply(ctx, w.status, 'backend not found', 'NC', deps.onDone);
  // A passthrough request comes with its cluster (it is not one of the snapshot's).
  const cluster = ctx.cluster ?? deps.clusters().get(w.cluster);
  if (!cluster)
    return localReply(ctx, 503, `no cluster ${w.cluster}: unknown destination`, 'NC', deps.onDone);
  ctx.weighted = w;
  ctx.cluster = cluster;
  applyHeaderEdits(ctx.headers, w.requestHeaders); // per-destination edits come after the route's
  if (w.responseHeaders) ctx.responseEdits.push(w.responseHeaders);
  if (ctx.route!.route.responseHeaders) ctx.responseEdits.unshift(ctx.route!.route.responseHeaders);
  if (cluster.named) return namedHost(ctx, next, deps, cluster);
  next(ctx);
};

/**
 * A wildcard ServiceEntry without resolution: the request (or CONNECT tunnel) goes to the host it names,
 * resolved first; a name that does not resolve is Envoy's DNS resolution failure (503 DF).
 */
function namedHost(ctx: RequestCtx, next: Handler, deps: PipelineDeps, cluster: ClusterRuntime): void {
  const host = stripPort(ctx.authority).replace(/^\[|\]$/g, '');
  void cluster.forHost(host).then((c) => {
    if (ctx.res.destroyed || ctx.req.destroyed) {
      ctx.status ??= 499;
      addFlag(ctx, 'DC');
      return deps.onDone(ctx);
    }
    if (c instanceof Error) {
      const why = (c as NodeJS.ErrnoException).code ?? c.message;
      return localReply(ctx, 503, `dns resolution failure for ${host}: ${why}`, 'DF', deps.onDone);
    }
    ctx.cluster = c;
    try {
      next(ctx);
    } catch {
      ctx.res.destroy();
    }
  });
}

export function buildPipeline(
  deps: PipelineDeps,
): (req: IncomingMessage, res: ServerResponse, routes: RouteTable) => void {
  const filters: Filter[] = [
    requestTarget,
    ...(deps.gate ? [authorize] : []),
    route,
    rateLimit,
    cors,
    fault,
    direct,
    redirect,
    requestEdits,
    pickCluster,
  ];
  const last = deps.send ?? upstream(deps);
  const handler = filters.reduceRight<Handler>((next, f) => f(next, deps), last);
  const scheme = deps.scheme ?? 'http';
  // Every field is present from the start, the optional ones undefined: all requests then share one
  // hidden class and keep their fields in the object itself, where fields added later by the filters
  // would make V8 grow a separate property store and leave each ctx read site with several shapes.
  return (req, res, routes) =>
    handler({
      req,
      res,
      start: performance.now(),
      routes,
      scheme,
      authority: '',
      path: '',
      pathOnly: '',
      query: '',
      route: undefined,
      headers: {},
      upstreamPath: '',
      body: undefined,
      weighted: undefined,
      cluster: undefined,
      endpoint: undefined,
      responseEdits: [],
      status: undefined,
      flags: '',
      upstreamHost: undefined,
      attempts: 0,
      responseBytes: 0,
      grpcStatus: undefined,
      transportFailure: undefined,
      responseStart: undefined,
      upstreamLocalAddress: undefined,
      tunnelReceived: undefined,
      tunnelDownstream: undefined,
    });
}

function pickWeighted<T extends { weight: number }>(clusters: readonly T[], total: number): T | undefined {
  if (clusters.length === 1) return clusters[0];
  if (total <= 0) return undefined;
  let r = Math.random() * total;
  for (const c of clusters) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return clusters[clusters.length - 1];
}
