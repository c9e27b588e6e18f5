// Builds telemetry records from what the data path already knows about a finished request.
import type { RequestCtx } from '../http/context.js';
import type { RequestRecord } from './events.js';

function protocolOf(headers: RequestCtx['req']['headers']): 'http' | 'grpc' {
  const ct = headers['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc') ? 'grpc' : 'http';
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
      : {}),
  };
}
