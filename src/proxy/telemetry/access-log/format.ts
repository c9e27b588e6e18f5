// Envoy access log formats, compiled once per snapshot into an array of pieces: literal text and
// operators (`%START_TIME%`, `%REQ(X?Y):Z%`, `%RESPONSE_FLAGS%`, …) bound to a getter on the request
// record. Per request the text formatter walks the pieces and concatenates; nothing is parsed then.
// Semantics follow Envoy's substitution formatter: a value that is not known prints `-` in text and
// `null` in JSON; `:N` truncates; in JSON a value that is exactly one operator keeps its type (numbers
// stay numbers), anything else is a string.
import { isoTime as formatIso } from '../../../lib/time.js';
import os from 'node:os';
import type { RequestRecord } from '../events.js';
import * as v from './values.js';

/** Istio's default text format (EnvoyTextLogFormat), which is Envoy's default plus a few fields. */
export const ISTIO_DEFAULT_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ' +
  '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% ' +
  '%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% ' +
  '%REQUESTED_SERVER_NAME% %ROUTE_NAME%';

/** Istio's default JSON labels (EnvoyJSONLogFormatIstio); keys are written sorted, as istiod's Struct. */
export const ISTIO_DEFAULT_JSON_LABELS: Readonly<Record<string, string>> = {
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
};

/** A format string that does not compile; `operator` names the offending command when there is one. */
export class FormatError extends Error {
  constructor(
    message: string,
    readonly operator?: string,
  ) {
    super(message);
  }
}

type Value = string | number | undefined;
type Getter = (r: RequestRecord) => Value;

/** Literal text, or an operator's getter with an optional maximum length. */
export interface Piece {
  text?: string;
  get?: Getter;
  max?: number;
}

// ---- START_TIME's strftime subset --------------------------------------------------------------------

const pad = (n: number, w: number) => String(n).padStart(w, '0');
type TimePart = string | ((d: Date, ms: number) => string);

/** Envoy's START_TIME format: strftime plus %f / %Nf (fractional seconds, N digits, default 9). */
function compileTime(fmt: string): (ms: number) => string {
  const parts: TimePart[] = [];
  let lit = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== '%' || i === fmt.length - 1) {
      lit += c;
      continue;
    }
    let n = fmt[++i]!;
    let digits = 9;
    if (n >= '1' && n <= '9' && fmt[i + 1] === 'f') {
      digits = Number(n);
      n = fmt[++i]!;
    } else if (n === 'E' && /^[1-9]S$/.test(fmt.slice(i + 1, i + 3))) {
      // %E3S: seconds with 3 fractional digits (Envoy's spelling in its default format)
      const d = Number(fmt[i + 1]);
      i += 2;
      if (lit) parts.push(lit);
      lit = '';
      parts.push((t, ms) => `${pad(t.getUTCSeconds(), 2)}.${fraction(ms, d)}`);
      continue;
    }
    let p: TimePart | undefined;
    switch (n) {
      case 'Y':
        p = (t) => String(t.getUTCFullYear());
        break;
      case 'm':
        p = (t) => pad(t.getUTCMonth() + 1, 2);
        break;
      case 'd':
        p = (t) => pad(t.getUTCDate(), 2);
        break;
      case 'H':
        p = (t) => pad(t.getUTCHours(), 2);
        break;
      case 'M':
        p = (t) => pad(t.getUTCMinutes(), 2);
        break;
      case 'S':
        p = (t) => pad(t.getUTCSeconds(), 2);
        break;
      case 'j': {
        p = (t) => pad(Math.floor((t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, 3);
        break;
      }
      case 's':
        p = (_t, ms) => String(Math.floor(ms / 1000));
        break;
      case 'f':
        p = (_t, ms) => fraction(ms, digits);
        break;
      case 'z':
        p = '+0000';
        break;
      case 'Z':
        p = 'UTC';
        break;
      case 'T':
        p = (t) => `${pad(t.getUTCHours(), 2)}:${pad(t.getUTCMinutes(), 2)}:${pad(t.getUTCSeconds(), 2)}`;
        break;
      case 'F':
        p = (t) => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1, 2)}-${pad(t.getUTCDate(), 2)}`;
        break;
      case '%':
        p = '%';
        break;
      default:
        throw new FormatError(
          `START_TIME: unsupported time specifier %${n} in ${JSON.stringify(fmt)}`,
          'START_TIME',
        );
    }
    if (typeof p === 'string') lit += p;
    else {
      if (lit) parts.push(lit);
      lit = '';
      parts.push(p);
    }
  }
  if (lit) parts.push(lit);
  return (ms) => {
    const d = new Date(ms);
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(d, ms);
    return out;
  };
}

function fraction(ms: number, digits: number): string {
  const frac = pad(Math.floor(ms % 1000), 3) + '000000';
  return frac.slice(0, digits);
}

// Envoy's default START_TIME: 2026-11-22T05:46:22.123Z. Formatting a date costs ~1.5 µs, most of a
// line's cost: the part up to the second is kept and only the milliseconds are appended per request.
let isoSecond = NaN;
let isoPrefix = '';
export function isoTime(r: RequestRecord): string {
  const ms = Math.floor(r.startTime);
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = formatIso(sec * 1000).slice(0, 20); // "2026-11-22T05:46:22."
  }
  const f = ms - sec * 1000;
  return isoPrefix + (f < 10 ? '00' : f < 100 ? '0' : '') + f + 'Z';
}

// ---- Operators ---------------------------------------------------------------------------------------

const known = (x: string | undefined): Value => (x === undefined || x === '' ? undefined : x);

/** Operators without an argument. */
const SIMPLE: Record<string, Getter> = {
  RESPONSE_CODE: (r) => r.status,
  RESPONSE_FLAGS: v.responseFlags,
  RESPONSE_CODE_DETAILS: v.responseCodeDetails,
  CONNECTION_TERMINATION_DETAILS: (r) => r.connectionTerminationDetails,
  DURATION: (r) => Math.floor(r.durationMs),
  // Unknown (as Envoy's, and always for TCP) until the request ended / the upstream answered.
  REQUEST_DURATION: (r) => (r.requestDurationMs === undefined ? undefined : Math.floor(r.requestDurationMs)),
  RESPONSE_DURATION: (r) =>
    r.responseDurationMs === undefined ? undefined : Math.floor(r.responseDurationMs),
  RESPONSE_TX_DURATION: (r) =>
    r.responseDurationMs === undefined
      ? undefined
      : Math.floor(Math.max(0, r.durationMs - r.responseDurationMs)),
  BYTES_RECEIVED: (r) => r.requestBytes,
  BYTES_SENT: (r) => r.responseBytes,
  PROTOCOL: v.protocol,
  UPSTREAM_PROTOCOL: v.protocol,
  UPSTREAM_HOST: (r) => r.upstreamHost,
  UPSTREAM_REMOTE_ADDRESS: (r) => r.upstreamHost,
  UPSTREAM_CLUSTER: v.upstreamCluster,
  UPSTREAM_LOCAL_ADDRESS: (r) => r.upstreamLocalAddress,
  UPSTREAM_TRANSPORT_FAILURE_REASON: (r) => known(r.upstreamTransportFailureReason),
  UPSTREAM_PEER_URI_SAN: (r) => (r.reporter === 'source' ? r.destination?.identity : undefined),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: (r) => r.attempts ?? (r.upstreamHost !== undefined ? 1 : 0),
  DOWNSTREAM_LOCAL_ADDRESS: v.downstreamLocal,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (r) => {
    const a = v.downstreamLocal(r);
    return a === undefined ? undefined : a.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  },
  DOWNSTREAM_LOCAL_PORT: v.downstreamLocalPort,
  DOWNSTREAM_REMOTE_ADDRESS: v.downstreamRemote,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: v.downstreamRemoteIp,
  DOWNSTREAM_REMOTE_PORT: v.downstreamRemotePort,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: v.downstreamRemote,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: v.downstreamRemoteIp,
  DOWNSTREAM_PEER_URI_SAN: v.downstreamPeerUriSan,
  DOWNSTREAM_TLS_VERSION: v.downstreamTlsVersion,
  DOWNSTREAM_TLS_CIPHER: v.downstreamTlsCipher,
  REQUESTED_SERVER_NAME: v.requestedServerName,
  ROUTE_NAME: v.routeName,
  GRPC_STATUS_NUMBER: (r) => r.grpcStatus,
};

const REMOVED_HINT: Record<string, string> = {
  UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: 'UPSTREAM_LOCAL_ADDRESS',
};

function headerGetter(kind: 'REQ' | 'RESP' | 'TRAILER', arg: string, op: string): Getter {
  const names = arg.split('?');
  if (names.length > 2 || names.some((n) => n === '')) {
    throw new FormatError(`${op}: expected ${kind}(HEADER) or ${kind}(HEADER?ALTERNATIVE)`, kind);
  }
  const one = (name: string): Getter => {
    const h = name.toLowerCase();
    if (kind === 'REQ') {
      if (h.startsWith(':')) return (r) => known(v.pseudoHeader(r, h));
      return (r) => v.requestHeader(r, h);
    }
    if (kind === 'RESP') {
      if (h === ':status') return (r) => (r.status ? String(r.status) : undefined);
      return (r) => v.responseHeader(r, h);
    }
    // Response trailers: the record keeps the gRPC status they carried.
    if (h === 'grpc-status') return (r) => (r.grpcStatus === undefined ? undefined : String(r.grpcStatus));
    return () => undefined;
  };
  const first = one(names[0]!);
  if (names.length === 1) return first;
  const second = one(names[1]!);
  return (r) => {
    const x = first(r);
    return x !== undefined ? x : second(r);
  };
}

function operator(name: string, arg: string | undefined, source: string): Getter {
  const op = source;
  if (name === 'REQ' || name === 'RESP' || name === 'TRAILER') {
    if (arg === undefined)
      throw new FormatError(`${op}: ${name} needs a header name, e.g. %${name}(X-REQUEST-ID)%`, name);
    return headerGetter(name, arg, op);
  }
  if (name === 'START_TIME') {
    if (arg === undefined || arg === '') return isoTime;
    const fmt = compileTime(arg);
    return (r) => fmt(r.startTime);
  }
  if (name === 'GRPC_STATUS') {
    const style = (arg ?? 'CAMEL_STRING') as 'CAMEL_STRING' | 'SNAKE_STRING' | 'NUMBER';
    if (!['CAMEL_STRING', 'SNAKE_STRING', 'NUMBER'].includes(style)) {
      throw new FormatError(`${op}: GRPC_STATUS takes CAMEL_STRING, SNAKE_STRING or NUMBER`, name);
    }
    return (r) => (r.grpcStatus === undefined ? undefined : v.grpcStatusName(r.grpcStatus, style));
  }
  if (name === 'HOSTNAME') {
    const h = os.hostname();
    return () => h;
  }
  if (name === 'ENVIRONMENT') {
    if (!arg) throw new FormatError(`${op}: ENVIRONMENT needs a variable name`, name);
    const value = process.env[arg];
    return () => value;
  }
  const simple = SIMPLE[name];
  if (simple) {
    if (arg !== undefined) throw new FormatError(`${op}: ${name} takes no argument`, name);
    return simple;
  }
  const hint = REMOVED_HINT[name];
  throw new FormatError(
    `unknown access log operator %${name}%${hint ? ` (did you mean %${hint}%?)` : ''}`,
    name,
  );
}

const COMMAND = /^%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/;

/** Parses an Envoy format string into pieces; throws FormatError naming the first bad operator. */
export function parseFormat(format: string): Piece[] {
  const pieces: Piece[] = [];
  let lit = '';
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (format[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    const m = COMMAND.exec(format.slice(i));
    if (!m) {
      const word = /^%([A-Za-z0-9_]*)/.exec(format.slice(i))?.[1] ?? '';
      throw new FormatError(
        word
          ? `malformed access log operator at position ${i}: %${word}... (expected %COMMAND%, %COMMAND(ARG)% or %COMMAND(ARG):MAX%)`
          : `a lone % at position ${i}: write %% for a literal percent sign`,
        word || undefined,
      );
    }
    if (lit) pieces.push({ text: lit });
    lit = '';
    const [all, name, arg, max] = m;
    const piece: Piece = { get: operator(name!, arg, all) };
    if (max !== undefined) piece.max = Number(max);
    pieces.push(piece);
    i += all.length;
  }
  if (lit) pieces.push({ text: lit });
  return pieces;
}

function cut(s: string, max: number | undefined): string {
  return max !== undefined && s.length > max ? s.slice(0, max) : s;
}

/** A compiled text format: one line per record (trailing newlines of the format are the sink's job). */
export interface FormatOptions {
  /** Envoy's omit_empty_values: unknown values print '' in text and leave their key out in JSON. */
  omitEmptyValues?: boolean;
}

export function compileText(format: string, o: FormatOptions = {}): (r: RequestRecord) => string {
  const empty = o.omitEmptyValues ? '' : '-';
  const pieces = parseFormat(format.replace(/\n+$/, ''));
  const n = pieces.length;
  return (r) => {
    let out = '';
    for (let i = 0; i < n; i++) {
      const p = pieces[i]!;
      if (p.text !== undefined) {
        out += p.text;
        continue;
      }
      const x = p.get!(r);
      out += x === undefined ? empty : p.max !== undefined ? cut(String(x), p.max) : x;
    }
    return out;
  };
}

type JsonField = {
  key: string;
  literal?: unknown;
  pieces?: Piece[];
  nested?: (r: RequestRecord) => string;
};

/** JSON string literal; most values need no escaping, which a scan finds faster than JSON.stringify. */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/**
 * A compiled JSON format (Istio's `labels`): one object per record, keys sorted. A value that is one
 * operator keeps its type (`null` when unknown); other strings are text formats; non-strings are kept.
 */
export function compileJson(
  labels: Readonly<Record<string, unknown>>,
  o: FormatOptions = {},
): (r: RequestRecord) => string {
  const omit = o.omitEmptyValues === true;
  const fields: JsonField[] = [];
  for (const key of Object.keys(labels).sort()) {
    const value = labels[key];
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      // A nested object (Envoy's json_format nests): its own formatter, embedded.
      let nested: (r: RequestRecord) => string;
      try {
        nested = compileJson(value as Record<string, unknown>, o);
      } catch (e) {
        if (e instanceof FormatError) throw new FormatError(`${key}.${e.message}`, e.operator);
        throw e;
      }
      fields.push({ key: JSON.stringify(key), nested });
      continue;
    }
    if (typeof value !== 'string') {
      fields.push({ key: JSON.stringify(key), literal: JSON.stringify(value ?? null) });
      continue;
    }
    let pieces: Piece[];
    try {
      pieces = parseFormat(value);
    } catch (e) {
      if (e instanceof FormatError) throw new FormatError(`${key}: ${e.message}`, e.operator);
      throw e;
    }
    fields.push({ key: JSON.stringify(key), pieces });
  }
  return (r) => {
    let out = '{';
    let sep = '';
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const ps = f.pieces;
      let value: string;
      if (f.nested !== undefined) {
        value = f.nested(r);
      } else if (ps === undefined) {
        value = f.literal as string;
      } else if (ps.length === 1 && ps[0]!.get) {
        const p = ps[0]!;
        const x = p.get!(r);
        if (x === undefined) {
          if (omit) continue;
          value = 'null';
        } else if (typeof x === 'number' && p.max === undefined) value = String(x);
        else value = jsonString(cut(String(x), p.max));
      } else {
        let s = '';
        for (const p of ps) {
          if (p.text !== undefined) s += p.text;
          else {
            const x = p.get!(r);
            s += x === undefined ? (omit ? '' : '-') : cut(String(x), p.max);
          }
        }
        value = jsonString(s);
      }
      out += sep + f.key + ':' + value;
      sep = ',';
    }
    return out + '}';
  };
}

/** Checks a format without keeping it (config validation): the error message, or undefined when fine. */
export function formatProblem(format: string | Readonly<Record<string, unknown>>): string | undefined {
  try {
    if (typeof format === 'string') compileText(format);
    else compileJson(format);
    return undefined;
  } catch (e) {
    if (e instanceof FormatError) return e.message;
    throw e;
  }
}

// ---- Weft's compact line -----------------------------------------------------------------------------

const EXTRAS: Record<string, Piece> = {
  '{LISTENER}': { get: (r) => r.listener },
  '{VERSION}': { get: (r) => `HTTP/${r.httpVersion}` },
  '{DESTINATION}': {
    get: (r) => (r.destination ? `${r.destination.service}:${r.destination.port}` : undefined),
  },
  // What Weft's TCP line always said about a connection its policy refused.
  '{OUTCOME}': {
    get: (r) =>
      r.flags === '' ? '-' : r.flags.split(',').includes('RBAC') ? 'denied RBAC' : v.responseFlags(r),
  },
};

function withExtras(format: string): Piece[] {
  const out: Piece[] = [];
  format.split(/(\{[A-Z]+\})/).forEach((part) => {
    const extra = EXTRAS[part];
    if (extra) out.push(extra);
    else if (part) out.push(...parseFormat(part));
  });
  return out;
}

/**
 * Weft's own line, written when no access log is configured at all (what Weft always printed; tests and
 * users grep it): outbound and gateway
 * `[START] outbound "GET /path HTTP/1.1" 200 - 3 "authority" "upstream host" cluster route`,
 * inbound `[START] inbound "GET /path HTTP/1.1" 200 - 3 "peer SPIFFE ID" "SNI" "authority"`.
 */
export const WEFT_ROUTED_FORMAT =
  '[%START_TIME%] {LISTENER} "%REQ(:METHOD)% %REQ(:PATH)% {VERSION}" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%DURATION% "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %ROUTE_NAME%';
export const WEFT_INBOUND_FORMAT =
  '[%START_TIME%] {LISTENER} "%REQ(:METHOD)% %REQ(:PATH)% {VERSION}" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%DURATION% "%DOWNSTREAM_PEER_URI_SAN%" "%REQUESTED_SERVER_NAME%" "%REQ(:AUTHORITY)%"';

/** Weft's line for an opaque TCP stream (gateway TLS passthrough and TCP routes; inbound weft-tcp):
 *  `[START] gateway tcp "SNI" FLAGS DURATION "upstream host" cluster route received=N sent=M`,
 *  `[START] inbound tcp service:port "peer SPIFFE ID" FLAGS DURATION received=N sent=M`. */
export const WEFT_TCP_CLIENT_FORMAT =
  '[%START_TIME%] {LISTENER} tcp "%REQUESTED_SERVER_NAME%" {OUTCOME} %DURATION% "%UPSTREAM_HOST%" ' +
  '%UPSTREAM_CLUSTER% %ROUTE_NAME% received=%BYTES_RECEIVED% sent=%BYTES_SENT%';
export const WEFT_TCP_SERVER_FORMAT =
  '[%START_TIME%] {LISTENER} tcp {DESTINATION} "%DOWNSTREAM_PEER_URI_SAN%" {OUTCOME} %DURATION% ' +
  'received=%BYTES_RECEIVED% sent=%BYTES_SENT%';

export function compileWeftLine(side: 'client' | 'server', tcp = false): (r: RequestRecord) => string {
  const pieces = withExtras(
    tcp
      ? side === 'client'
        ? WEFT_TCP_CLIENT_FORMAT
        : WEFT_TCP_SERVER_FORMAT
      : side === 'client'
        ? WEFT_ROUTED_FORMAT
        : WEFT_INBOUND_FORMAT,
  );
  return (r) => {
    let out = '';
    for (const p of pieces) {
      if (p.text !== undefined) out += p.text;
      else {
        const x = p.get!(r);
        out += x === undefined ? '-' : x;
      }
    }
    return out;
  };
}

/** MeshConfig accessLogFormat with accessLogEncoding JSON: a JSON object of labels, else undefined. */
export function jsonLabels(format: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(format);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
