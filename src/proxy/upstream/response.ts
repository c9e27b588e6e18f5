// An upstream answer, whichever protocol carried it: status, headers, then the body written into the
// downstream response, with trailers (gRPC puts its status in trailers, so they must cross every hop).
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { ClientHttp2Stream, Http2ServerResponse, IncomingHttpHeaders as H2Headers } from 'node:http2';
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
// already closed when that first push(null) comes, so push is wrapped to look then (a shared function
// and two fields per stream, no closure).
const PUSH = Symbol('push');
const ENDED = Symbol('ended');
const CUT = Symbol('cut');
type Watched = ClientHttp2Stream & {
  [PUSH]?: ClientHttp2Stream['push'];
  [ENDED]?: boolean;
  [CUT]?: boolean;
};

function watchedPush(this: Watched, chunk: unknown, encoding?: BufferEncoding): boolean {
  if (chunk === null && !this[ENDED]) {
    this[ENDED] = true;
    this[CUT] = this.closed;
  }
  return this[PUSH]!.call(this, chunk, encoding);
}

/** Call right after opening the stream, so that fromH2 can tell a cut body from a complete one. */
export function watchEnd(stream: ClientHttp2Stream): void {
  const w = stream as Watched;
  w[PUSH] = stream.push;
  w.push = watchedPush;
}

export function fromH2(
  stream: ClientHttp2Stream,
  headers: H2Headers,
  flags: number,
  method: string | undefined,
): UpstreamResponse {
  let trailers: Trailers = {};
  stream.once('trailers', (t: H2Headers) => (trailers = stripPseudo(t)));
  return {
    upstreamLocal: accessLogWants.upstreamLocalAddress ? h2Local(stream) : undefined,
    status: Number(headers[':status'] ?? 502),
    headers: stripPseudo(headers) as IncomingHttpHeaders,
    // The END_STREAM flag of the response HEADERS frame (stream.endAfterHeaders is set only later).
    endedWithHeaders: (flags & 0x1) !== 0,
    pipeTo(sink, ev) {
      const status = Number(headers[':status']);
      const bodyless = method === 'HEAD' || status === 204 || status === 304;
      const declared = bodyless ? undefined : headers['content-length'];
      let received = 0;
      stream.on('data', (c: Buffer) => {
        received += c.length;
        ev.data?.(c.length);
      });
      stream.pipe(sink as unknown as NodeJS.WritableStream, { end: false });
      let over = false;
      const fail = () => {
        if (over) return;
        over = true;
        ev.error();
      };
      stream.once('end', () => {
        // Ending the downstream response after a cut body would pass it off as complete (watchEnd).
        // A body of declared length is complete when that many bytes came.
        const cut =
          declared !== undefined ? Number(declared) !== received : (stream as Watched)[CUT] === true;
        if (cut) return fail();
        over = true;
        // Trailers (gRPC's status) go on before the downstream response is ended.
        ev.trailers?.(trailers);
        sink.end();
        ev.end();
      });
      stream.on('error', fail);
      // Destroyed without an error (its session closed while the body was buffered): no 'end', no
      // 'error', only 'close'; left alone, the downstream response would wait forever.
      stream.once('close', fail);
    },
    discard: () => stream.resume(),
  };
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
