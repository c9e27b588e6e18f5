// Header handling shared by every listener: hop-by-hop headers never cross a proxy (RFC 9110 §7.6.1).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Copies end-to-end headers, dropping hop-by-hop ones, any named in `Connection`, and `omit` (left out
 *  here rather than deleted from the copy, which would turn it into a slow dictionary-mode object). */
export function endToEnd(h: IncomingHttpHeaders, omit?: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const conn = h.connection;
  const extra = conn ? connectionNames(conn) : undefined;
  for (const k in h) {
    if (k.charCodeAt(0) === 58) continue; // HTTP/2 pseudo-headers (":path"...) are rebuilt per hop
    if (HOP_BY_HOP.has(k)) {
      // gRPC needs `te: trailers` end to end; it is the one TE value HTTP/2 allows.
      if (k === 'te' && h.te === 'trailers') out.te = 'trailers';
      continue;
    }
    if (k === omit || (extra && extra.includes(k))) continue;
    out[k] = h[k];
  }
  return out;
}

const CLOSE: readonly string[] = Object.freeze(['close']);

/** The names a Connection header lists, lower-cased. Its usual values (every keep-alive response
 *  carries one) are answered without splitting a string per message. */
function connectionNames(conn: string): readonly string[] | undefined {
  // keep-alive is hop-by-hop anyway: naming it drops nothing more.
  if (conn === 'keep-alive' || conn === 'Keep-Alive') return undefined;
  if (conn === 'close') return CLOSE;
  return conn
    .toLowerCase()
    .split(',')
    .map((s) => s.trim());
}
