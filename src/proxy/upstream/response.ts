// An upstream answer, whichever protocol carried it: status, headers, then the body written into the
// downstream response, with trailers (gRPC puts its status in trailers, so they must cross every hop).
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { ClientHttp2Stream, Http2ServerResponse, IncomingHttpHeaders as H2Headers } from 'node:http2';
import { Readable } from 'node:stream';
import { accessLogWants, socketAddress } from '../telemetry/events.js';

export type Trailers = Record<string, string | string[] | undefined>;

/** Where a body goes: the downstream response (HTTP/1.1 or HTTP/2 compatibility API). */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): unknown;
  once(event: 'drain', cb: () => void): unknown;
  readonly writableNeedDrain: boolean;
}

export interface PipeEvents {
  /** Bytes of body passed on. */
  data?: (bytes: number) => void;
  /** The trailers (empty when none), just before the sink is ended. */
  trailers?: (t: Trailers) => void;
  /** The whole body was passed on and the sink ended. */
  end: () => void;
  /** The upstream failed mid-body; the sink was not ended. */
  error: () => void;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** HTTP/2: the upstream ended the stream with its headers (a gRPC trailers-only answer). */
  endedWithHeaders: boolean;
  /** HTTP/1.1: the header lines as the strict parse gave them, for answerParsed (http1/response.ts). */
  readonly parsed?: readonly string[] | undefined;
  /** The proxy's end of the connection that carried it (`ip:port`, Envoy's UPSTREAM_LOCAL_ADDRESS);
   *  read only while an access log prints it (accessLogWants), else undefined. */
  readonly upstreamLocal?: string | undefined;
  /** Stream the body into `sink` (once), with backpressure. */
  pipeTo(sink: BodySink, ev: PipeEvents): void;
  /** Read and drop the body (a retried attempt, a mirror, an answer that came too late). */
  discard(): void;
}

// How an HTTP/2 answer's readable side ended. Node ends it with push(null) for a real END_STREAM, but
// also, without an error, when the peer resets the stream with NO_ERROR (what a destroyed
// Http2ServerResponse sends) or the session goes away mid-body. Only in those cases is the stream
// already closed when that first push(null) comes, so push is wrapped to look then.
//
// Per stream this costs no closure: watchEnd gives the stream its fields all at once, right after it is
// opened (the same shape for every stream), and the listeners below are shared functions that find
// their state through those fields.
const END = Symbol('end'); // 0: open, 1: ended (END_STREAM), 2: cut
const RESP = Symbol('resp'); // the H2Response, once there is one
const OWNER = Symbol('owner'); // the caller's per-stream state (watchEnd's second argument)
type Watched = ClientHttp2Stream & {
  [END]: number;
  [RESP]: H2Response | undefined;
  [OWNER]: unknown;
};

// Readable.prototype.push (ClientHttp2Stream does not override it).
const readablePush = Readable.prototype.push;

function watchedPush(this: Watched, chunk: unknown, encoding?: BufferEncoding): boolean {
  if (chunk === null && this[END] === 0) this[END] = this.closed ? 2 : 1;
  return readablePush.call(this, chunk, encoding);
}

/** Call right after opening the stream, so that fromH2 can tell a cut body from a complete one.
 *  `owner` is kept on the stream for the caller's listeners (ownerOf), so they need no closures. */
export function watchEnd(stream: ClientHttp2Stream, owner?: unknown): void {
  const w = stream as Watched;
  w[END] = 0;
  w[RESP] = undefined;
  w[OWNER] = owner;
  w.push = watchedPush;
}

/** What watchEnd was given for this stream. */
export function ownerOf<T>(stream: ClientHttp2Stream): T {
  return (stream as Watched)[OWNER] as T;
}

function onTrailers(this: Watched, t: H2Headers): void {
  this[RESP]!.trailers = stripPseudo(t);
}
function onData(this: Watched, c: Buffer): void {
  this[RESP]!.data(c);
}
function onEnd(this: Watched): void {
  this[RESP]!.end();
}
function onFail(this: Watched): void {
  this[RESP]!.fail();
}

class H2Response implements UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly endedWithHeaders: boolean;
  readonly upstreamLocal: string | undefined;
  trailers: Trailers = EMPTY;
  private sink: BodySink | undefined = undefined;
  private ev: PipeEvents | undefined = undefined;
  private declared: string | undefined = undefined;
  private received = 0;
  private over = false;
  private waitingDrain = false;

  constructor(
    private readonly stream: Watched,
    private readonly raw: H2Headers,
    flags: number,
    private readonly method: string | undefined,
  ) {
    this.upstreamLocal = accessLogWants.upstreamLocalAddress ? h2Local(stream) : undefined;
    this.status = Number(raw[':status'] ?? 502);
    this.headers = stripPseudo(raw) as IncomingHttpHeaders;
    // The END_STREAM flag of the response HEADERS frame (stream.endAfterHeaders is set only later).
    this.endedWithHeaders = (flags & 0x1) !== 0;
  }

  pipeTo(sink: BodySink, ev: PipeEvents): void {
    const stream = this.stream;
    const status = Number(this.raw[':status']);
    const bodyless = this.method === 'HEAD' || status === 204 || status === 304;
    this.declared = bodyless ? undefined : (this.raw['content-length'] as string | undefined);
    this.sink = sink;
    this.ev = ev;
    // Written by hand rather than with stream.pipe(), which adds some ten closures and listeners on
    // both sides per stream: data goes to the sink, and reading stops while the sink is full.
    stream.on('data', onData);
    if (sink.writableNeedDrain) this.waitDrain();
    stream.on('end', onEnd);
    stream.on('error', onFail);
    // Destroyed without an error (its session closed while the body was buffered): no 'end', no
    // 'error', only 'close'; left alone, the downstream response would wait forever.
    stream.on('close', onFail);
  }

  discard(): void {
    this.stream.resume();
  }

  data(c: Buffer): void {
    this.received += c.length;
    this.ev!.data?.(c.length);
    if (!this.sink!.write(c)) this.waitDrain();
  }

  private waitDrain(): void {
    if (this.waitingDrain) return;
    this.waitingDrain = true;
    this.stream.pause();
    this.sink!.once('drain', () => {
      this.waitingDrain = false;
      this.stream.resume();
    });
  }

  end(): void {
    // Ending the downstream response after a cut body would pass it off as complete (watchEnd).
    // A body of declared length is complete when that many bytes came.
    const cut =
      this.declared !== undefined ? Number(this.declared) !== this.received : this.stream[END] === 2;
    if (cut) return this.fail();
    this.over = true;
    // Trailers (gRPC's status) go on before the downstream response is ended.
    this.ev!.trailers?.(this.trailers);
    this.sink!.end();
    this.ev!.end();
  }

  fail(): void {
    if (this.over) return;
    this.over = true;
    this.ev!.error();
  }
}

const EMPTY: Trailers = Object.freeze({}) as Trailers;

export function fromH2(
  stream: ClientHttp2Stream,
  headers: H2Headers,
  flags: number,
  method: string | undefined,
): UpstreamResponse {
  const w = stream as Watched;
  const res = new H2Response(w, headers, flags, method);
  w[RESP] = res;
  stream.on('trailers', onTrailers);
  return res;
}

/** Trailers passed on to the downstream response before it ends (none: nothing added); returns the
 *  gRPC status among them, if any. */
export function passTrailers(res: ServerResponse | Http2ServerResponse, t: Trailers): number | undefined {
  if (Object.keys(t).length) res.addTrailers(t as Record<string, string>);
  const g = t['grpc-status'];
  return g === undefined ? undefined : Number(g);
}

/**
 * Abandon a response whose head was sent: HTTP/1.1 closes the connection; HTTP/2 resets the stream
 * with INTERNAL_ERROR, since destroy() there sends RST_STREAM(NO_ERROR), which clients (Node's
 * among them) take for the end of a complete body.
 */
export function abortResponse(res: ServerResponse | Http2ServerResponse): void {
  const stream = (res as Partial<Http2ServerResponse>).stream;
  if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}

function h2Local(stream: ClientHttp2Stream): string | undefined {
  try {
    const s = stream.session?.socket; // a proxy that throws once the session is gone
    return s ? socketAddress(s.localAddress, s.localPort) : undefined;
  } catch {
    return undefined;
  }
}

function stripPseudo(h: H2Headers): Trailers {
  const out: Trailers = {};
  for (const k in h) if (k.charCodeAt(0) !== 58) out[k] = h[k];
  return out;
}
