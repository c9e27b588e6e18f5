// Telemetry as events: the data path publishes one record per finished request on a
// diagnostics_channel (as undici does); metrics, access logs and traces subscribe. The hot path does
// not know Prometheus, and builds a record only when someone listens.
import diagnostics_channel from 'node:diagnostics_channel';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { SpanStart } from './trace-context.js';

export interface RequestRecord {
  /** Istio's reporter: the client side (outbound, gateway) or the server side (inbound). */
  reporter: 'source' | 'destination';
  listener: 'outbound' | 'inbound' | 'gateway';
  startTime: number; // epoch ms
  durationMs: number;
  method: string;
  path: string;
  authority: string;
  protocol: 'http' | 'grpc'; // Istio's request_protocol
  httpVersion: string;
  status: number; // 0 when no response was sent (client went away)
  flags: string; // Envoy response flags, comma-separated, '' when none
  grpcStatus?: number;
  requestBytes: number;
  responseBytes: number;
  requestHeaders: IncomingHttpHeaders;
  responseHeaders?: OutgoingHttpHeaders;
  route?: string;
  upstreamCluster?: string;
  upstreamHost?: string;
  attempts?: number;
  /** Source reporter: the service and endpoint it sent to (identity as the peer's certificate said). */
  destination?: {
    service: string;
    port: number;
    subset?: string;
    identity?: string;
    instance?: string;
    labels?: Record<string, string>;
  };
  /** Destination reporter: the caller's SPIFFE ID from its client certificate. */
  peerIdentity?: string;
  /** Destination reporter: what the caller's sidecar said about its workload (peer metadata exchange). */
  peerMetadata?: { workload: string; app?: string; version?: string };
  /** The span this proxy created for the request, when tracing is on for its side. (Outbound and gateway
   *  records find theirs by `requestHeaders`: see trace-context.ts `bindSpan`.) */
  trace?: SpanStart;
  // For access logs (telemetry/access-log/): references, not copies, so that building a record stays
  // cheap; the formatter reads them only when its format asks for them.
  /** The downstream connection (addresses, SNI, TLS version). May already be closed: then unknown. */
  downstream?: DownstreamSocket;
  /** Outbound and gateway: the headers sent upstream, after route edits (x-request-id the proxy added). */
  upstreamRequestHeaders?: OutgoingHttpHeaders;
  /** Envoy's UPSTREAM_TRANSPORT_FAILURE_REASON, when a connection to the upstream failed and why is known. */
  upstreamTransportFailureReason?: string;
  /** Envoy's UPSTREAM_LOCAL_ADDRESS (`ip:port` of the proxy's end of the upstream connection): set
   *  only while an access log asks for it (`accessLogWants`). */
  upstreamLocalAddress?: string;
  /** Envoy's REQUEST_DURATION: ms from the start until the last request byte came from downstream
   *  (unset while the request body had not ended). */
  requestDurationMs?: number;
  /** Envoy's RESPONSE_DURATION: ms from the start until the upstream's response began (unset when
   *  none came); RESPONSE_TX_DURATION is `durationMs` minus this. */
  responseDurationMs?: number;
  /** An opaque TCP stream logged through the request formats (access logs only, see `tcpLogRecord`):
   *  HTTP-only operators print `-`, as Envoy's do for TCP. */
  tcp?: true;
  /** REQUESTED_SERVER_NAME when the downstream socket cannot say (TLS passthrough reads the SNI itself). */
  requestedServerName?: string;
}

/** Whether an installed access log asks for values the data path records only on demand. Set by the
 *  access logs when a snapshot's formats are installed; read by the data path per request. */
export const accessLogWants = { upstreamLocalAddress: false };

/** `ip:port` (IPv6 in brackets, IPv4-mapped addresses as IPv4), as Envoy prints socket addresses. */
export function socketAddress(ip: string | undefined, port: number | undefined): string | undefined {
  if (!ip) return undefined;
  const a = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (port === undefined) return a;
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

/** What access logs read from a downstream socket (net.Socket, tls.TLSSocket, an HTTP/2 socket proxy). */
export interface DownstreamSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

/** A socket's addresses read now: a TCP stream is logged once its sockets are closed, when a socket no
 *  longer knows its local address. */
export function socketAddresses(s: DownstreamSocket): DownstreamSocket {
  return {
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    localAddress: s.localAddress,
    localPort: s.localPort,
  };
}

export const httpRequests = diagnostics_channel.channel('weft:http:request');

/** Publish a record, building it only when there are subscribers. */
export function publishRequest(build: () => RequestRecord): void {
  if (httpRequests.hasSubscribers) httpRequests.publish(build());
}

/** One opened or closed opaque TCP stream (CONNECT tunnels out, weft-tcp in), for Istio's TCP metrics. */
export interface TcpRecord {
  reporter: 'source' | 'destination';
  event: 'open' | 'close';
  /** At close, as Istio counts them: sent = the response direction (server to client), received = the
   *  request direction (client to server), whichever side reports. */
  sentBytes: number;
  receivedBytes: number;
  flags: string;
  destination?: RequestRecord['destination'];
  peerIdentity?: string;
  /** For access logs, on `close` (a stream without it is not logged: an HTTP CONNECT tunnel is logged
   *  as its HTTP request instead, as Envoy's HTTP connection manager does). */
  log?: TcpLogFields;
}

/** What an access log line of a TCP stream says beyond the metrics' fields. */
export interface TcpLogFields {
  listener: RequestRecord['listener'];
  startTime: number; // epoch ms
  durationMs: number;
  downstream?: DownstreamSocket;
  upstreamHost?: string;
  upstreamCluster?: string;
  upstreamLocalAddress?: string;
  /** The SNI of a passthrough connection (its TLS is not terminated, so the socket does not know it). */
  sni?: string;
  route?: string;
  upstreamTransportFailureReason?: string;
}

export const tcpConnections = diagnostics_channel.channel('weft:tcp:connection');

export function publishTcp(build: () => TcpRecord): void {
  if (tcpConnections.hasSubscribers) tcpConnections.publish(build());
}
