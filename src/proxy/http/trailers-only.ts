// gRPC "trailers-only" responses: one HEADERS frame carrying grpc-status with END_STREAM set, and no
// DATA. grpc-js reads a status only from a frame that ends the stream, so an answer like that (an
// error before any message, a fault abort) must cross an HTTP/2 hop in the same shape; the
// compatibility API's writeHead()+end() would add an empty DATA frame and the status would be lost.
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';

export function isH2(res: ServerResponse | Http2ServerResponse): res is Http2ServerResponse {
  return 'stream' in res && (res as Http2ServerResponse).stream !== undefined;
}

/** Answer with headers only, ending the stream, when the downstream speaks HTTP/2. */
export function respondHeadersOnly(
  res: ServerResponse | Http2ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
): boolean {
  if (!isH2(res) || res.headersSent || res.stream.destroyed) return false;
  const out: OutgoingHttpHeaders = { ':status': status };
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && k !== 'content-length') out[k] = v;
  res.stream.respond(out, { endStream: true });
  return true;
}
