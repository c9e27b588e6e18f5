// An upstream answer, whichever protocol carried it: status, headers, then the body written into the
// downstream response, with trailers (gRPC puts its status in trailers, so they must cross every hop).
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientHttp2Stream, IncomingHttpHeaders as H2Headers } from 'node:http2';
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

export function fromH2(stream: ClientHttp2Stream, headers: H2Headers, flags: number): UpstreamResponse {
  let trailers: Trailers = {};
  stream.once('trailers', (t: H2Headers) => (trailers = stripPseudo(t)));
  return {
    upstreamLocal: accessLogWants.upstreamLocalAddress ? h2Local(stream) : undefined,
    status: Number(headers[':status'] ?? 502),
    headers: stripPseudo(headers) as IncomingHttpHeaders,
    // The END_STREAM flag of the response HEADERS frame (stream.endAfterHeaders is set only later).
    endedWithHeaders: (flags & 0x1) !== 0,
    pipeTo(sink, ev) {
      if (ev.data) stream.on('data', (c: Buffer) => ev.data!(c.length));
      // 'trailers' arrives before the stream's 'end'; prepend so the trailers are added before the
      // downstream response is ended by pipe().
      if (ev.trailers) stream.prependOnceListener('end', () => ev.trailers!(trailers));
      stream.pipe(sink as unknown as NodeJS.WritableStream);
      stream.on('end', ev.end);
      stream.on('error', ev.error);
    },
    discard: () => stream.resume(),
  };
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
