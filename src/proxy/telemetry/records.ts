// Builds telemetry records from what the data path already knows about a finished request.
import type { RequestCtx } from '../http/context.js';
import type { RequestRecord } from './events.js';

function protocolOf(headers: RequestCtx['req']['headers']): 'http' | 'grpc' {
  const ct = headers['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc') ? 'grpc' : 'http';
}

/**
 * Local replies made before a cluster is picked (fault aborts, rate limits) still went to the route's
 * destination, and Istio reports it as such: the service of the route's clusters, when they all name
 * the same one (`outbound|<port>|<subset>|<host>`).
 */
function routeDestination(ctx: RequestCtx): { service: string; port: number } | undefined {
  const a = ctx.route?.route.action;
  if (a?.kind !== 'forward') return undefined;
  let found: { service: string; port: number } | undefined;
  for (const w of a.clusters) {
    const [dir, port, , host] = w.cluster.split('|');
    if (dir !== 'outbound' || !host || (found && found.service !== host)) return undefined;
    found = { service: host, port: Number(port) };
  }
  return found;
}

export function routedRecord(ctx: RequestCtx, listener: 'outbound' | 'gateway', now: number): RequestRecord {
  const c = ctx.cluster?.cluster;
  const ep = ctx.endpoint;
  return {
    reporter: 'source',
    listener,
    startTime: Date.now() - (now - ctx.start),
    durationMs: now - ctx.start,
    method: ctx.req.method ?? 'GET',
    path: ctx.path,
    authority: ctx.authority,
    protocol: protocolOf(ctx.req.headers),
    httpVersion: ctx.req.httpVersion,
    status: ctx.status ?? 0,
    flags: ctx.flags,
    ...(ctx.grpcStatus !== undefined ? { grpcStatus: ctx.grpcStatus } : {}),
    requestBytes: ctx.body?.size ?? 0,
    responseBytes: ctx.responseBytes,
    requestHeaders: ctx.req.headers,
    responseHeaders: ctx.res.getHeaders(),
    ...(ctx.route ? { route: ctx.route.route.name } : {}),
    ...(c ? { upstreamCluster: c.name } : {}),
    ...(ctx.upstreamHost ? { upstreamHost: ctx.upstreamHost } : {}),
    attempts: ctx.attempts,
    ...(c
      ? {
          destination: {
            service: c.service,
            port: c.port,
            ...(c.subset ? { subset: c.subset } : {}),
            ...(ep ? { identity: ep.identity, instance: ep.instance, labels: ep.labels } : {}),
          },
        }
      : ctx.route
        ? withDestination(routeDestination(ctx))
        : {}),
  };
}

function withDestination(
  d: { service: string; port: number } | undefined,
): Pick<RequestRecord, 'destination'> {
  return d ? { destination: d } : {};
}
