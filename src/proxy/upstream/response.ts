// An upstream answer, whichever protocol carried it: status, headers, the body stream and trailers
// (gRPC puts its status in trailers, so they must cross every hop).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ClientHttp2Stream, IncomingHttpHeaders as H2Headers } from 'node:http2';
import type { Readable } from 'node:stream';

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  /** HTTP/2: the upstream ended the stream with its headers (a gRPC trailers-only answer). */
  endedWithHeaders: boolean;
  /** Calls back once with the trailers (empty when none) just before the body ends. */
  onTrailers(cb: (t: Record<string, string | string[] | undefined>) => void): void;
}

export function fromH1(res: IncomingMessage): UpstreamResponse {
  return {
    status: res.statusCode ?? 502,
    headers: res.headers,
    body: res,
    endedWithHeaders: false,
    onTrailers: (cb) => res.once('end', () => cb(res.trailers)),
  };
}

export function fromH2(stream: ClientHttp2Stream, headers: H2Headers, flags: number): UpstreamResponse {
  let trailers: Record<string, string | string[] | undefined> = {};
  stream.once('trailers', (t: H2Headers) => (trailers = stripPseudo(t)));
  return {
    status: Number(headers[':status'] ?? 502),
    headers: stripPseudo(headers) as IncomingHttpHeaders,
    body: stream,
    // The END_STREAM flag of the response HEADERS frame (stream.endAfterHeaders is set only later).
    endedWithHeaders: (flags & 0x1) !== 0,
    // 'trailers' arrives before the stream's 'end'; prepend so the trailers are added before the
    // downstream response is ended by pipe().
    onTrailers: (cb) => stream.prependOnceListener('end', () => cb(trailers)),
  };
}

function stripPseudo(h: H2Headers): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const k in h) if (k.charCodeAt(0) !== 58) out[k] = h[k];
  return out;
}
