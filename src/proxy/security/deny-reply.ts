// Answers a request the security gate refused, the way Envoy does: a plain-text body and status for
// HTTP (403 "RBAC: access denied", 401 "Jwt is expired", 400 for unsafe paths), and for gRPC a
// trailers-only response whose grpc-status is the HTTP status mapped per gRPC's spec (403 →
// PERMISSION_DENIED, 401 → UNAUTHENTICATED), so a gRPC client sees the right code.
import type http from 'node:http';
import type http2 from 'node:http2';
import { sendLocalReply } from '../http/forward.js';
import { respondHeadersOnly } from '../http/trailers-only.js';

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

const GRPC_FROM_HTTP: Record<number, number> = {
  400: 13,
  401: 16,
  403: 7,
  404: 12,
  429: 14,
  502: 14,
  503: 14,
  504: 14,
};

export function denyReply(
  req: Req,
  res: Res,
  d: { status: number; body: string; flags: string; headers: Array<[string, string]> },
): void {
  // Part of the body was read for an ext-authz check: read the rest, or the client's keep-alive
  // connection stalls behind it (a request nobody read from is drained by Node itself).
  if (req.readableDidRead && !req.readableEnded) req.resume();
  const grpc = String(req.headers['content-type'] ?? '').startsWith('application/grpc');
  if (grpc) {
    const h: Record<string, string> = {
      'content-type': 'application/grpc',
      'grpc-status': String(GRPC_FROM_HTTP[d.status] ?? 2),
      'grpc-message': d.body.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => encodeURIComponent(c)),
    };
    if (d.flags) h['x-weft-response-flags'] = d.flags;
    for (const [k, v] of d.headers) h[k] = v;
    if (respondHeadersOnly(res, 200, h)) return;
  }
  sendLocalReply(res, d.status, d.body, d.flags, d.headers);
}
