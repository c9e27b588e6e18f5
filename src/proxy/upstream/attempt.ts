// One attempt to send a request to one peer proxy over mTLS, as HTTP/1.1 (pooled keep-alive
// connections) or HTTP/2 (one multiplexed session per peer, for gRPC and HTTP/2 traffic). It reports
// how the attempt ended (response headers, connect failure, reset, per-try timeout) and never touches
// the downstream response: retrying or answering is the caller's decision.
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { AttemptOutcome } from './retry.js';
import type { RequestBody } from '../http/body.js';
import type { H2Sessions } from '../transport/h2-sessions.js';
import { fromH1, fromH2, type UpstreamResponse } from './response.js';

export interface AttemptTarget {
  host: string;
  port: number;
  agent: https.Agent | http.Agent;
  /** Plaintext: outside the mesh (ServiceEntry MESH_EXTERNAL), or a peer whose port takes no mTLS. */
  plain?: boolean;
  /** Mesh mTLS, or TLS the proxy originates toward a host outside the mesh (`rejectUnauthorized`
   *  false only for a DestinationRule's insecureSkipVerify). */
  tls: Pick<ConnectionOptions, 'secureContext' | 'servername' | 'checkServerIdentity' | 'rejectUnauthorized'>;
  /** Set for HTTP/2 upstreams (gRPC, HTTP/2 apps, or an HTTP/2 client). */
  h2?: H2Sessions;
  /** The attempt cannot be made (TLS origination whose certificates cannot be loaded): it fails as a
   *  connect failure without opening a connection. */
  error?: Error;
  /** Told why a connection failed before it was established (TLS verification, DNS, refused). */
  onConnectError?: (err: NodeJS.ErrnoException) => void;
}

export interface AttemptRequest {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders; // includes `host`
  body: RequestBody;
  /** false for mirrors: a slow mirror must never slow the client down */
  paced?: boolean;
}

export type AttemptCallback = (outcome: AttemptOutcome, res?: UpstreamResponse) => void;

/** Something to cancel the attempt with. */
export interface Cancellable {
  destroy(): void;
}

const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_WEFT_PEER_IDENTITY',
  'ERR_WEFT_TLS_ORIGINATION',
  'ETIMEDOUT',
]);

/** TLS handshake and certificate verification failures (OpenSSL's X509_V_ERR_* names as Node reports
 *  them): the connection never carried the request, so these are connect failures (Envoy's UF). */
const TLS_FAILURE =
  /^(ERR_TLS|ERR_SSL|UNABLE_TO_|CERT_|CRL_|DEPTH_ZERO_|SELF_SIGNED_|INVALID_CA|PATH_LENGTH|INVALID_PURPOSE|HOSTNAME_MISMATCH|ERROR_IN_)/;

function grpcOf(h: Record<string, unknown>): { grpcStatus?: number } {
  const g = h['grpc-status'];
  return g !== undefined ? { grpcStatus: Number(g) } : {};
}

export function sendAttempt(
  t: AttemptTarget,
  r: AttemptRequest,
  opts: { perTryTimeoutMs?: number; connectTimeoutMs?: number },
  cb: AttemptCallback,
): Cancellable {
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const settle = (o: AttemptOutcome, res?: UpstreamResponse) => {
    if (settled) return;
    settled = true;
    if (timer) clearTimeout(timer);
    cb(o, res);
  };
  if (t.error) {
    const err = t.error as NodeJS.ErrnoException;
    process.nextTick(() => {
      t.onConnectError?.(err);
      settle({ kind: 'connect-failure' });
    });
    return { destroy: () => {} };
  }
  const handle = t.h2 ? sendH2(t, r, opts, settle) : sendH1(t, r, opts, settle);
  if (opts.perTryTimeoutMs) {
    timer = setTimeout(() => {
      settle({ kind: 'timeout' });
      handle.destroy();
    }, opts.perTryTimeoutMs);
  }
  return handle;
}

function sendH1(
  t: AttemptTarget,
  r: AttemptRequest,
  opts: { connectTimeoutMs?: number },
  settle: (o: AttemptOutcome, res?: UpstreamResponse) => void,
): Cancellable {
  const req = t.plain
    ? http.request({
        host: t.host,
        port: t.port,
        method: r.method,
        path: r.path,
        headers: r.headers,
        agent: t.agent,
      })
    : https.request({
        host: t.host,
        port: t.port,
        method: r.method,
        path: r.path,
        headers: r.headers,
        agent: t.agent as https.Agent,
        ...t.tls,
      });
  let connected = false;
  req.on('socket', (s) => {
    const tlsSocket = s as TLSSocket;
    // A reused keep-alive socket is already connected; a new one must finish its handshake in time.
    if (!tlsSocket.connecting && (t.plain || (tlsSocket.encrypted && !tlsSocket.pending))) connected = true;
    else {
      const ct = opts.connectTimeoutMs
        ? setTimeout(() => {
            if (!connected) {
              settle({ kind: 'connect-failure' });
              req.destroy();
            }
          }, opts.connectTimeoutMs)
        : undefined;
      s.once(t.plain ? 'connect' : 'secureConnect', () => {
        connected = true;
        if (ct) clearTimeout(ct);
      });
      // A socket that fails (refused, TLS verification) or closes first no longer needs the timer.
      if (ct) s.once('close', () => clearTimeout(ct));
    }
  });
  req.on('response', (res) => {
    settle({ kind: 'response', status: res.statusCode ?? 502, ...grpcOf(res.headers) }, fromH1(res));
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    const code = err.code ?? '';
    const neverConnected = !connected && !req.reusedSocket;
    const connectFailure =
      neverConnected && (CONNECT_ERRORS.has(code) || TLS_FAILURE.test(code) || code === 'ECONNRESET');
    if (connectFailure) t.onConnectError?.(err);
    settle(connectFailure ? { kind: 'connect-failure' } : { kind: 'reset' });
  });
  r.body.sendTo(req, r.paced ?? true);
  return req;
}

function sendH2(
  t: AttemptTarget,
  r: AttemptRequest,
  opts: { connectTimeoutMs?: number },
  settle: (o: AttemptOutcome, res?: UpstreamResponse) => void,
): Cancellable {
  const session = t.h2!.get(t.plain ? { host: t.host, port: t.port } : t);
  const { host, ...rest } = r.headers;
  const headers: http2.OutgoingHttpHeaders = {
    ...rest,
    ':method': r.method,
    ':path': r.path,
    ':authority': String(host ?? ''),
    ':scheme': t.plain ? 'http' : 'https',
  };
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(headers, { endStream: false });
  } catch {
    settle({ kind: 'connect-failure' });
    return { destroy: () => {} };
  }
  const connected = () => session.socket !== undefined && !session.connecting;
  if (session.connecting && opts.connectTimeoutMs) {
    // A session still handshaking after the connect timeout is given up (and forgotten by the pool).
    const ct = setTimeout(() => {
      if (session.connecting) {
        settle({ kind: 'connect-failure' });
        session.destroy();
      }
    }, opts.connectTimeoutMs);
    session.once('connect', () => clearTimeout(ct));
    session.once('close', () => clearTimeout(ct));
  }
  stream.on('response', (h, flags) => {
    settle({ kind: 'response', status: Number(h[':status'] ?? 502), ...grpcOf(h) }, fromH2(stream, h, flags));
  });
  stream.on('error', () => settle(connected() ? { kind: 'reset' } : { kind: 'connect-failure' }));
  stream.on('close', () => {
    // Closed without response headers: REFUSED_STREAM means the peer never processed it.
    if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) settle({ kind: 'connect-failure' });
    else settle({ kind: 'reset' });
  });
  r.body.sendTo(stream, r.paced ?? true);
  return { destroy: () => stream.close(http2.constants.NGHTTP2_CANCEL) };
}
