// Telemetry as events: the data path publishes one record per finished request on a
// diagnostics_channel (as undici does); metrics, access logs and traces subscribe. The hot path does
// not know Prometheus, and builds a record only when someone listens.
import diagnostics_channel from 'node:diagnostics_channel';
import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
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
  /** The response headers as sent downstream (inbound records). */
  responseHeaders?: OutgoingHttpHeaders;
  /** Outbound and gateway records: the downstream response itself, whose headers are read (as
   *  `responseHeaders` are when those are absent) only when a format or filter asks for one; copying
   *  them into every record (getHeaders) cost ~0.6 µs a request. They no longer change: the record is
   *  made once the response has ended. */
  response?: { getHeader(name: string): OutgoingHttpHeader | undefined };
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
  /** An opaque TCP stream logged through the request formats (access logs only, see `tcpRequestRecord` in records.ts):
   *  HTTP-only operators print `-`, as Envoy's do for TCP. */
  tcp?: true;
  /** REQUESTED_SERVER_NAME when the downstream socket cannot say (TLS passthrough reads the SNI itself). */
  requestedServerName?: string;
  /** Envoy's CONNECTION_TERMINATION_DETAILS: why the proxy itself closed the connection (TCP streams). */
  connectionTerminationDetails?: string;
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
  /** A snapshot's TLS session (`socketAddresses`): a closed TLS socket no longer knows it. */
  readonly tls?: DownstreamTls | undefined;
}

/** What access logs print about a downstream TLS session (DOWNSTREAM_TLS_VERSION, DOWNSTREAM_TLS_CIPHER). */
export interface DownstreamTls {
  version?: string;
  cipher?: string;
}

/** A socket's addresses (and TLS session) read now: a TCP stream is logged once its sockets are closed,
 *  when a socket no longer knows its local address or TLS version. */
export function socketAddresses(s: DownstreamSocket): DownstreamSocket {
  const out = {
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    localAddress: s.localAddress,
    localPort: s.localPort,
  };
  const t = s as Partial<TLSSocket>;
  if (t.encrypted !== true || typeof t.getProtocol !== 'function') return out;
  const tls: DownstreamTls = {};
  const version = t.getProtocol();
  if (version) tls.version = version;
  const cipher = t.getCipher?.()?.name;
  if (cipher) tls.cipher = cipher;
  return { ...out, tls };
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
  /** CONNECTION_TERMINATION_DETAILS: why the proxy closed the connection (an authorization denial). */
  terminationDetails?: string;
}

export const tcpConnections = diagnostics_channel.channel('weft:tcp:connection');

export function publishTcp(build: () => TcpRecord): void {
  if (tcpConnections.hasSubscribers) tcpConnections.publish(build());
}

/**
 * Envoy's network RBAC filter's CONNECTION_TERMINATION_DETAILS for a denied connection:
 * `rbac_access_denied_matched_policy[ns[NS]-policy[NAME]-rule[N]]` (Istio's policy id) when a DENY rule
 * matched, `[none]` when no ALLOW policy did. The rule index is read from the decision (or its reason,
 * "denied by DENY policy ns/name rule N", where the decision carries only the policy).
 */
export function rbacTerminationDetails(d: { policy?: string; ruleIndex?: number; reason: string }): string {
  const rule = d.ruleIndex ?? /^denied by \w+ policy \S+ rule (\d+)/.exec(d.reason)?.[1];
  const slash = d.policy?.indexOf('/') ?? -1;
  if (!d.policy || slash < 0 || rule === undefined) return 'rbac_access_denied_matched_policy[none]';
  const id = `ns[${d.policy.slice(0, slash)}]-policy[${d.policy.slice(slash + 1)}]-rule[${rule}]`;
  return `rbac_access_denied_matched_policy[${id}]`;
}
