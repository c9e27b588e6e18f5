// The outbound request path, written once and in request order. Each filter is `(next) => handler`
// with one line saying why it is there; the last one sends the request upstream. Filters are composed
// once when the proxy starts, never per request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RequestCtx } from './context.js';
import { RouteTable } from './router.js';
import { sendLocalReply } from './forward.js';

export type Handler = (ctx: RequestCtx) => void;
export type Filter = (next: Handler) => Handler;

export interface PipelineDeps {
  clusters: () => ReadonlyMap<string, import('../upstream/cluster.js').ClusterRuntime>;
  send: Handler; // the upstream call (mTLS to a peer proxy)
  onDone: (ctx: RequestCtx) => void; // access log, metrics
}

function localReply(ctx: RequestCtx, status: number, body: string, flags: string, onDone: Handler): void {
  ctx.status = status;
  ctx.flags = flags;
  sendLocalReply(ctx.res, status, body, flags);
  onDone(ctx);
}

export function buildPipeline(
  deps: PipelineDeps,
): (req: IncomingMessage, res: ServerResponse, routes: RouteTable) => void {
  const { onDone } = deps;
  const filters: Filter[] = [
    // Requests name their destination by Host, or by an absolute URL when the app uses us as HTTP proxy.
    (next) => (ctx) => {
      const url = ctx.req.url ?? '/';
      if (url.startsWith('http://')) {
        const u = new URL(url);
        ctx.authority = u.host.toLowerCase();
        ctx.path = `${u.pathname}${u.search}`;
      } else {
        ctx.authority = (ctx.req.headers.host ?? '').toLowerCase();
        ctx.path = url;
      }
      if (!ctx.authority) return localReply(ctx, 400, 'missing Host header', 'DPE', onDone);
      next(ctx);
    },
    // First matching route of the virtual host wins; no host or no route is 404 with flag NR.
    (next) => (ctx) => {
      const vh = ctx.routes.findHost(ctx.authority);
      if (!vh)
        return localReply(
          ctx,
          404,
          `no route for host "${ctx.authority}": it is not a mesh service`,
          'NR',
          onDone,
        );
      const q = ctx.path.indexOf('?');
      const route = RouteTable.findRoute(vh, {
        method: ctx.req.method ?? 'GET',
        path: q >= 0 ? ctx.path.slice(0, q) : ctx.path,
        authority: ctx.authority,
        headers: ctx.req.headers,
      });
      if (!route)
        return localReply(ctx, 404, `no route matched ${ctx.path} on ${vh.vhost.name}`, 'NR', onDone);
      ctx.route = route;
      next(ctx);
    },
    // Direct responses are answered by the proxy itself.
    (next) => (ctx) => {
      const action = ctx.route!.action;
      if (action.kind === 'direct') return localReply(ctx, action.status, action.body, '', onDone);
      next(ctx);
    },
    // Weighted destinations: pick a cluster by weight, then a healthy endpoint by the cluster's balancer.
    (next) => (ctx) => {
      const action = ctx.route!.action;
      if (action.kind !== 'forward') return;
      const name = pickWeighted(action.clusters);
      const cluster = name ? deps.clusters().get(name) : undefined;
      if (!cluster)
        return localReply(ctx, 503, `no cluster ${name ?? ''}: unknown destination`, 'NC', onDone);
      ctx.cluster = cluster;
      const ep = cluster.pick();
      if (!ep) return localReply(ctx, 503, 'no healthy upstream', 'UH', onDone);
      ctx.endpoint = ep;
      next(ctx);
    },
  ];
  const handler = filters.reduceRight<Handler>((next, f) => f(next), deps.send);
  return (req, res, routes) =>
    handler({ req, res, routes, start: performance.now(), authority: '', path: '', flags: '' });
}

function pickWeighted(clusters: ReadonlyArray<{ cluster: string; weight: number }>): string | undefined {
  if (clusters.length === 1) return clusters[0]!.cluster;
  let total = 0;
  for (const c of clusters) total += c.weight;
  let r = Math.random() * total;
  for (const c of clusters) {
    r -= c.weight;
    if (r < 0) return c.cluster;
  }
  return clusters[clusters.length - 1]?.cluster;
}
