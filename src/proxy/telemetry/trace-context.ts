// Trace context propagation, as Envoy does it for Istio. A request may bring a context in W3C Trace
// Context (`traceparent`, `tracestate`) or B3 (the `x-b3-*` headers, or the single `b3` header); the
// proxy continues it, or starts a trace when none (or only a malformed one) comes in, and makes the
// sampling decision there. The span this proxy creates is written back into the request it sends on, in
// both formats, so the next hop (an app that copies the headers, then its sidecar) continues from it.
//
// Precedence when several formats arrive: traceparent, then B3 multi, then b3 single; a malformed header
// counts as absent (the W3C and B3 specs both say so). IDs are normalized to 128-bit lower-case hex: a
// 64-bit B3 trace ID is left-padded with zeros, as Zipkin and the W3C spec do.
//
// Sampling, as Envoy decides: an incoming decision (sampled flag, B3 debug flag) is respected; otherwise
// `x-client-trace-id` forces the trace; otherwise the configured percentage picks (0.01% steps).
import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** What a request brought, when anything usable. */
export interface IncomingContext {
  /** Absent when only a sampling decision came in (`b3: 0`, or `x-b3-sampled` without IDs). */
  traceId?: string;
  /** The caller's span: the parent of the span this proxy creates. */
  spanId?: string;
  /** Undefined: no decision came in. */
  sampled?: boolean;
  /** B3 debug (`x-b3-flags: 1`, `b3: …-d`): sampled, and passed on as debug. */
  debug?: boolean;
  tracestate?: string;
}

/** The span one proxy creates for one request: a CLIENT span (outbound, gateway) or a SERVER span (inbound). */
export interface SpanStart {
  kind: 'client' | 'server';
  traceId: string;
  spanId: string;
  parentId?: string;
  sampled: boolean;
  debug?: boolean;
  /** Sampled because the client sent x-client-trace-id. */
  forced?: boolean;
  tracestate?: string;
  /** The x-request-id the request carries upstream (Envoy's `guid:x-request-id` tag). */
  requestId?: string;
  /** The downstream peer's address (Envoy's `peer.address` tag). */
  peerAddress?: string;
  /** Inbound: `inbound|<port>||`, the cluster Istio names the local app by. */
  upstreamCluster?: string;
}

const ZERO16 = '0000000000000000';
const ZERO32 = ZERO16 + ZERO16;

function one(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  // Repeated headers: Node joins most with ", "; an array (set-cookie-like) takes the first.
  return (Array.isArray(v) ? v[0] : v)?.trim();
}

/** True when s[from, to) is lower-case hex, the only case both specs allow on the wire from us. */
function lowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** True when s[from, to) is all '0': an invalid ID in both formats. (Comparing a substring with a
 *  constant string is a call into V8's runtime; this is not.) */
function zeros(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * W3C traceparent: `00-<trace-id>-<parent-id>-<flags>`; higher versions may append fields.
 *
 * Read by character codes rather than with a regular expression: every inbound request of a traced mesh
 * carries one, and in the proxies the regex (four capture groups, and V8's backtracking stack) and the
 * `parseInt` of the flags cost about 1 µs a request, a quarter of the inbound span start (perf, 2026-12-07).
 */
export function parseTraceparent(value: string | undefined): IncomingContext | undefined {
  if (!value || value.length < 55) return undefined;
  if (value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45)
    return undefined; // '-'
  if (
    !lowerHex(value, 0, 2) ||
    !lowerHex(value, 3, 35) ||
    !lowerHex(value, 36, 52) ||
    !lowerHex(value, 53, 55)
  )
    return undefined;
  const v0 = value.charCodeAt(0);
  const v1 = value.charCodeAt(1);
  if (v0 === 102 && v1 === 102) return undefined; // version ff is invalid
  if (value.length > 55) {
    // Version 00 has exactly these fields; a later one may append `-<more>` (on one line).
    if ((v0 === 48 && v1 === 48) || value.charCodeAt(55) !== 45 || /[\n\r\u2028\u2029]/.test(value))
      return undefined;
  }
  if (zeros(value, 3, 35) || zeros(value, 36, 52)) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  // Sampled is bit 0 of the flags: the low bit of their second hex digit.
  const f = value.charCodeAt(54);
  return { traceId, spanId, sampled: ((f <= 57 ? f - 48 : f - 87) & 1) === 1 };
}

function b3TraceId(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const id = v.toLowerCase();
  if (id.length === 32 && lowerHex(id, 0, 32)) return id === ZERO32 ? undefined : id;
  if (id.length === 16 && lowerHex(id, 0, 16)) return id === ZERO16 ? undefined : ZERO16 + id;
  return undefined;
}

function b3SpanId(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const id = v.toLowerCase();
  return id.length === 16 && lowerHex(id, 0, 16) && id !== ZERO16 ? id : undefined;
}

/** x-b3-sampled: "1"/"0" (and the older "true"/"false"); anything else is no decision. */
function b3Sampled(v: string | undefined): boolean | undefined {
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  return undefined;
}

/** B3 multi-header: x-b3-traceid and x-b3-spanid together, or only a sampling decision. */
export function parseB3Multi(h: IncomingHttpHeaders): IncomingContext | undefined {
  const rawTrace = one(h['x-b3-traceid']);
  const rawSpan = one(h['x-b3-spanid']);
  const sampled = b3Sampled(one(h['x-b3-sampled']));
  const debug = one(h['x-b3-flags']) === '1';
  const decision: IncomingContext = {};
  if (debug) {
    decision.debug = true;
    decision.sampled = true;
  } else if (sampled !== undefined) decision.sampled = sampled;
  if (rawTrace === undefined && rawSpan === undefined)
    return decision.sampled !== undefined ? decision : undefined;
  const traceId = b3TraceId(rawTrace);
  const spanId = b3SpanId(rawSpan);
  if (!traceId || !spanId) return undefined; // malformed: as if absent
  return { traceId, spanId, ...decision };
}

/** B3 single header: `{trace}-{span}[-{sampling}[-{parent}]]`, or just the sampling state. */
export function parseB3Single(value: string | undefined): IncomingContext | undefined {
  if (!value) return undefined;
  if (value === '0') return { sampled: false };
  if (value === '1') return { sampled: true };
  if (value === 'd') return { sampled: true, debug: true };
  const parts = value.split('-');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const traceId = b3TraceId(parts[0]);
  const spanId = b3SpanId(parts[1]);
  if (!traceId || !spanId) return undefined;
  const out: IncomingContext = { traceId, spanId };
  const state = parts[2];
  if (state !== undefined) {
    if (state === 'd') {
      out.sampled = true;
      out.debug = true;
    } else if (state === '1' || state === '0') out.sampled = state === '1';
    else return undefined;
  }
  if (parts[3] !== undefined && !b3SpanId(parts[3])) return undefined;
  return out;
}

/** The context a request brought, in order of precedence; undefined when none (or none well-formed). */
export function extractContext(h: IncomingHttpHeaders): IncomingContext | undefined {
  const tp = parseTraceparent(one(h.traceparent));
  if (tp) {
    const ts = h.tracestate;
    const state = Array.isArray(ts) ? ts.join(',') : ts?.trim();
    if (state) tp.tracestate = state;
    return tp;
  }
  return parseB3Multi(h) ?? parseB3Single(one(h.b3));
}

// IDs: 8 random bytes per span, 16 per new trace, from a pooled buffer filled by the CSPRNG and turned
// into hex once per fill (one randomFillSync and one toString per 512 span IDs); each ID is then a
// substring. (A Buffer#toString per ID was ~0.4 µs a request in the proxies: a call into C++ each time.)
const pool = Buffer.allocUnsafe(4096);
let hex = '';
let hexOffset = 0;

function randomHex(bytes: number): string {
  const chars = 2 * bytes;
  for (;;) {
    if (hexOffset + chars > hex.length) {
      randomFillSync(pool);
      hex = pool.toString('hex');
      hexOffset = 0;
    }
    const from = hexOffset;
    hexOffset += chars;
    if (!zeros(hex, from, hexOffset)) return hex.slice(from, hexOffset); // all-zero IDs are invalid
  }
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

/** True for this percentage (0..100, 0.01% steps as Istio documents). */
export function sampleAt(percentage: number, random: () => number = Math.random): boolean {
  if (percentage >= 100) return true;
  if (!(percentage > 0)) return false;
  return random() * 10_000 < Math.round(percentage * 100);
}

/** Continue the request's context (or start a trace) with a new span of this proxy. */
export function startSpan(
  h: IncomingHttpHeaders,
  kind: SpanStart['kind'],
  samplingPercentage: number,
  random: () => number = Math.random,
): SpanStart {
  const incoming = extractContext(h);
  let sampled: boolean;
  let forced = false;
  if (incoming?.sampled !== undefined) sampled = incoming.sampled;
  else if (one(h['x-client-trace-id'])) sampled = forced = true;
  else sampled = sampleAt(samplingPercentage, random);
  const s: SpanStart = {
    kind,
    traceId: incoming?.traceId ?? newTraceId(),
    spanId: newSpanId(),
    sampled,
  };
  if (incoming?.traceId && incoming.spanId) s.parentId = incoming.spanId;
  if (incoming?.debug) s.debug = true;
  if (forced) s.forced = true;
  if (incoming?.tracestate && incoming.traceId) s.tracestate = incoming.tracestate;
  return s;
}

/**
 * Write the span as the parent of the next hop: traceparent (and tracestate as it came), the B3
 * multi-headers, and the b3 single header when the request used it. Stale headers of an older context
 * are replaced or removed so every format says the same thing.
 */
export function injectContext(h: OutgoingHttpHeaders, s: SpanStart): void {
  h.traceparent = `00-${s.traceId}-${s.spanId}-${s.sampled ? '01' : '00'}`;
  if (s.tracestate) h.tracestate = s.tracestate;
  else if ('tracestate' in h) delete h.tracestate; // (a delete is a runtime call even when absent)
  h['x-b3-traceid'] = s.traceId;
  h['x-b3-spanid'] = s.spanId;
  if (s.parentId) h['x-b3-parentspanid'] = s.parentId;
  else if ('x-b3-parentspanid' in h) delete h['x-b3-parentspanid'];
  if (s.debug) {
    h['x-b3-flags'] = '1'; // debug implies sampled; B3 says not to send both
    if ('x-b3-sampled' in h) delete h['x-b3-sampled'];
  } else {
    h['x-b3-sampled'] = s.sampled ? '1' : '0';
    if ('x-b3-flags' in h) delete h['x-b3-flags'];
  }
  if (h.b3 !== undefined) {
    const state = s.debug ? 'd' : s.sampled ? '1' : '0';
    h.b3 = `${s.traceId}-${s.spanId}-${state}${s.parentId ? `-${s.parentId}` : ''}`;
  }
}

// The span of an outbound or gateway request, between the filter that writes the upstream headers
// (http/filters/rewrite.ts) and the record published when the request ends (which carries the same
// request-headers object): kept on that object under a symbol, so it goes away with the request.
// Symbol keys are invisible to Object.keys, for-in and JSON, and Node never sends them as headers.
// (A WeakMap cost ~0.7 µs per request in GC work; the symbol property ~0.1 µs.)
const SPAN = Symbol('weft.span');

export function bindSpan(requestHeaders: IncomingHttpHeaders, s: SpanStart): void {
  (requestHeaders as { [SPAN]?: SpanStart })[SPAN] = s;
}

export function boundSpan(requestHeaders: IncomingHttpHeaders): SpanStart | undefined {
  return (requestHeaders as { [SPAN]?: SpanStart })[SPAN];
}
