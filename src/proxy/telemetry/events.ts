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
  /** Envoy's UPSTREAM_LOCAL_ADDRESS, when known. */
  upstreamLocalAddress?: string;
}

/** What access logs read from a downstream socket (net.Socket, tls.TLSSocket, an HTTP/2 socket proxy). */
export interface DownstreamSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
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
}

export const tcpConnections = diagnostics_channel.channel('weft:tcp:connection');

export function publishTcp(build: () => TcpRecord): void {
  if (tcpConnections.hasSubscribers) tcpConnections.publish(build());
}
