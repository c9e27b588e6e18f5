// Builds telemetry records from what the data path already knows about a finished request.
import type { RequestCtx } from '../http/context.js';
import type { RequestRecord, TcpLogFields, TcpRecord } from './events.js';

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
  // Built for every request once anything subscribes (metrics always do): plain assignments rather than
  // spreads of temporary objects. (A lazy getter for the response headers looked cheaper but an object
  // literal with an accessor costs V8 ~1 µs to create, more than the copy it saves.)
  const r: RequestRecord = {
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
    requestBytes: ctx.body?.size ?? 0,
    responseBytes: ctx.responseBytes,
    requestHeaders: ctx.req.headers,
    response: ctx.res,
    attempts: ctx.attempts,
  };
  if (ctx.grpcStatus !== undefined) r.grpcStatus = ctx.grpcStatus;
  // For access logs: references only (the formatter reads addresses and edited headers when asked).
  if (ctx.req.socket) r.downstream = ctx.req.socket;
  r.upstreamRequestHeaders = ctx.headers;
  if (ctx.route) r.route = ctx.route.route.name;
  if (c) r.upstreamCluster = c.name;
  if (ctx.upstreamHost) r.upstreamHost = ctx.upstreamHost;
  if (ctx.transportFailure) r.upstreamTransportFailureReason = ctx.transportFailure;
  if (c) {
    const d: NonNullable<RequestRecord['destination']> = { service: c.service, port: c.port };
    if (c.subset) d.subset = c.subset;
    if (ep) {
      d.identity = ep.identity;
      d.instance = ep.instance;
      d.labels = ep.labels;
    }
    r.destination = d;
  } else if (ctx.route) {
    const d = routeDestination(ctx);
    if (d) r.destination = d;
  }
  return r;
}

const NO_HEADERS = Object.freeze({});

/** An opaque TCP stream as access log formats and filters and metric tag expressions read it: no
 *  method, path, headers or status (RESPONSE_CODE prints 0, as Envoy's TCP proxy logs do; request
 *  attributes are CEL error values); bytes in the request direction received. Without its log fields
 *  (a stream that is not logged) only the connection's metric fields are known. */
export function tcpRequestRecord(t: TcpRecord): RequestRecord {
  const l: Partial<TcpLogFields> = t.log ?? {};
  const r: RequestRecord = {
    reporter: t.reporter,
    listener: l.listener ?? (t.reporter === 'source' ? 'outbound' : 'inbound'),
    startTime: l.startTime ?? 0,
    durationMs: l.durationMs ?? 0,
    method: '',
    path: '',
    authority: '',
    protocol: 'http',
    httpVersion: '',
    status: 0,
    flags: t.flags,
    requestBytes: t.receivedBytes,
    responseBytes: t.sentBytes,
    requestHeaders: NO_HEADERS,
    tcp: true,
  };
  if (l.downstream) r.downstream = l.downstream;
  if (l.upstreamHost !== undefined) r.upstreamHost = l.upstreamHost;
  if (l.upstreamCluster !== undefined) r.upstreamCluster = l.upstreamCluster;
  if (l.upstreamLocalAddress !== undefined) r.upstreamLocalAddress = l.upstreamLocalAddress;
  if (l.sni !== undefined) r.requestedServerName = l.sni;
  if (l.route !== undefined) r.route = l.route;
  if (l.upstreamTransportFailureReason !== undefined)
    r.upstreamTransportFailureReason = l.upstreamTransportFailureReason;
  if (l.terminationDetails !== undefined) r.connectionTerminationDetails = l.terminationDetails;
  if (t.destination) r.destination = t.destination;
  if (t.peerIdentity !== undefined) r.peerIdentity = t.peerIdentity;
  return r;
}
