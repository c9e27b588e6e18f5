// What an access log entry says about a finished request, read from its RequestRecord: shared by the
// format operators (format.ts) and the filter attributes (filter.ts). Everything here runs per logged
// request, so it only reads what the record already holds; `undefined` means "not known" (`-` in text,
// `null` in JSON, as Envoy prints it).
import type { TLSSocket } from 'node:tls';
import { socketAddress, type RequestRecord } from '../events.js';

/** Envoy's response flags in the order Envoy prints them (ResponseFlagUtils, CORE_RESPONSE_FLAGS). */
export const ENVOY_FLAGS = [
  'LH',
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'NR',
  'DI',
  'FI',
  'RL',
  'UAEX',
  'RLSE',
  'DC',
  'URX',
  'SI',
  'IH',
  'DPE',
  'UMSDR',
  'RFCF',
  'NFCF',
  'DT',
  'UPE',
  'NC',
  'OM',
  'DF',
  'DO',
  'DR',
] as const;
const FLAG_RANK = new Map<string, number>(ENVOY_FLAGS.map((f, i) => [f, i]));

/** Envoy's short form: `-` when none, else comma-separated in Envoy's order (Weft's own, e.g. RBAC, last). */
export function responseFlags(r: RequestRecord): string {
  const f = r.flags;
  if (f === '') return '-';
  if (f.indexOf(',') < 0) return f;
  const rank = (x: string) => FLAG_RANK.get(x) ?? ENVOY_FLAGS.length;
  return f
    .split(',')
    .sort((a, b) => rank(a) - rank(b))
    .join(',');
}

/** Envoy's `response.flags` attribute: the flags as a bit vector (bit i = ENVOY_FLAGS[i]). */
export function responseFlagBits(r: RequestRecord): number {
  if (r.flags === '') return 0;
  let bits = 0;
  for (const f of r.flags.split(',')) {
    const i = FLAG_RANK.get(f);
    if (i !== undefined) bits += 2 ** i;
  }
  return bits;
}

/**
 * Envoy's RESPONSE_CODE_DETAILS, derived from the flags and status (the data path records flags, not
 * Envoy's detail strings): `via_upstream` for an answer from the app, else the detail Envoy gives the
 * local reply that flag stands for.
 */
export function responseCodeDetails(r: RequestRecord): string | undefined {
  if (r.tcp) return undefined;
  const f = r.flags;
  if (f === '' || f === 'DI' || f === 'URX') {
    if (r.status === 0) return undefined;
    return r.upstreamHost !== undefined
      ? 'via_upstream'
      : r.status >= 300 && r.status < 400
        ? 'direct_response'
        : undefined;
  }
  const has = (x: string) => f === x || f.split(',').includes(x);
  if (has('DC')) return 'downstream_remote_disconnect';
  if (has('NR')) return 'route_not_found';
  if (has('UH')) return 'no_healthy_upstream';
  if (has('UO')) return 'upstream_reset_before_response_started{overflow}';
  if (has('UF')) return 'upstream_reset_before_response_started{remote_connection_failure}';
  if (has('UC')) return 'upstream_reset_before_response_started{connection_termination}';
  if (has('UT')) return 'upstream_response_timeout';
  if (has('FI')) return 'fault_filter_abort';
  if (has('RL')) return 'local_rate_limited';
  if (has('UAEX')) return r.status >= 500 ? 'ext_authz_error' : 'ext_authz_denied';
  if (has('RBAC')) return 'rbac_access_denied_matched_policy[none]';
  return r.upstreamHost !== undefined ? 'via_upstream' : undefined;
}

/** Envoy's PROTOCOL: HTTP/1.0, HTTP/1.1, HTTP/2. */
export function protocol(r: RequestRecord): string | undefined {
  if (r.tcp) return undefined;
  const v = r.httpVersion;
  return v === '1.1' ? 'HTTP/1.1' : v === '2.0' ? 'HTTP/2' : `HTTP/${v}`;
}

const hostPort = socketAddress;

function stripMapped(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

// A closed socket may throw from its getters (the HTTP/2 socket proxy after the session ended).
export function downstreamRemote(r: RequestRecord): string | undefined {
  try {
    const s = r.downstream;
    return s ? hostPort(s.remoteAddress, s.remotePort) : undefined;
  } catch {
    return undefined;
  }
}

export function downstreamRemoteIp(r: RequestRecord): string | undefined {
  try {
    return stripMapped(r.downstream?.remoteAddress);
  } catch {
    return undefined;
  }
}

export function downstreamRemotePort(r: RequestRecord): number | undefined {
  try {
    return r.downstream?.remotePort;
  } catch {
    return undefined;
  }
}

export function downstreamLocal(r: RequestRecord): string | undefined {
  try {
    const s = r.downstream;
    return s ? hostPort(s.localAddress, s.localPort) : undefined;
  } catch {
    return undefined;
  }
}

export function downstreamLocalPort(r: RequestRecord): number | undefined {
  try {
    return r.downstream?.localPort;
  } catch {
    return undefined;
  }
}

function tlsSocket(r: RequestRecord): TLSSocket | undefined {
  const s = r.downstream as TLSSocket | undefined;
  try {
    return s && s.encrypted === true ? s : undefined;
  } catch {
    return undefined;
  }
}

/** SNI the downstream sent (REQUESTED_SERVER_NAME). */
export function requestedServerName(r: RequestRecord): string | undefined {
  if (r.requestedServerName !== undefined) return r.requestedServerName || undefined;
  try {
    const s = tlsSocket(r);
    const n = s?.servername;
    return typeof n === 'string' && n !== '' ? n : undefined;
  } catch {
    return undefined;
  }
}

/** TLSv1.2, TLSv1.3 (DOWNSTREAM_TLS_VERSION): from a TCP stream's snapshot, else the live socket. */
export function downstreamTlsVersion(r: RequestRecord): string | undefined {
  try {
    return r.downstream?.tls?.version ?? tlsSocket(r)?.getProtocol() ?? undefined;
  } catch {
    return undefined;
  }
}

/** The cipher suite's OpenSSL name, e.g. TLS_AES_128_GCM_SHA256 (DOWNSTREAM_TLS_CIPHER). */
export function downstreamTlsCipher(r: RequestRecord): string | undefined {
  try {
    return r.downstream?.tls?.cipher ?? tlsSocket(r)?.getCipher()?.name ?? undefined;
  } catch {
    return undefined;
  }
}

/** The caller's verified SPIFFE ID (inbound), DOWNSTREAM_PEER_URI_SAN. */
export function downstreamPeerUriSan(r: RequestRecord): string | undefined {
  return r.peerIdentity || undefined;
}

/** Envoy's cluster name: `outbound|port|subset|host`, or `inbound|port||` for the local app. */
export function upstreamCluster(r: RequestRecord): string | undefined {
  if (r.upstreamCluster !== undefined) return r.upstreamCluster;
  // Inbound: Istio names the local app's cluster by the service port's target (equal to the service
  // port in most meshes; the record carries the service port).
  if (r.reporter === 'destination' && r.upstreamHost !== undefined && r.destination)
    return `inbound|${r.destination.port}||`;
  return undefined;
}

/** The route name; the inbound side's is Istio's `default`. */
export function routeName(r: RequestRecord): string | undefined {
  if (r.route) return r.route;
  return r.tcp
    ? undefined
    : r.reporter === 'destination' && r.upstreamHost !== undefined
      ? 'default'
      : undefined;
}

/** A request header (lower-case name) as the upstream got it, else as the downstream sent it. */
export function requestHeader(r: RequestRecord, name: string): string | undefined {
  const up = r.upstreamRequestHeaders?.[name];
  const v = up !== undefined ? up : r.requestHeaders[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : String(v);
}

/** A response header (lower-case name) as sent downstream. */
export function responseHeader(r: RequestRecord, name: string): string | undefined {
  const v = r.responseHeaders !== undefined ? r.responseHeaders[name] : r.response?.getHeader(name);
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : String(v);
}

/** Pseudo-headers Envoy keeps in its header map, answered from the record. */
export function pseudoHeader(r: RequestRecord, name: string): string | undefined {
  switch (name) {
    case ':method':
      return r.method;
    case ':path':
      return r.path;
    case ':authority':
      return r.authority || requestHeader(r, 'host');
    case ':scheme':
      if (r.tcp) return undefined;
      return requestedServerName(r) !== undefined ? 'https' : 'http';
    default:
      return undefined;
  }
}

const GRPC_CAMEL = [
  'Ok',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

export function grpcStatusName(
  code: number,
  style: 'CAMEL_STRING' | 'SNAKE_STRING' | 'NUMBER',
): string | number {
  if (style === 'NUMBER') return code;
  const camel = GRPC_CAMEL[code];
  if (camel === undefined) return code;
  if (style === 'CAMEL_STRING') return camel;
  return camel === 'Canceled' ? 'CANCELLED' : camel.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}
