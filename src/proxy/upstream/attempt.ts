// One attempt to send a request to one peer proxy over mTLS. It reports how the attempt ended
// (response headers, connect failure, reset, per-try timeout) and never touches the downstream
// response: retrying or answering is the caller's decision.
import https from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { ConnectionOptions } from 'node:tls';
import type { AttemptOutcome } from './retry.js';
import type { RequestBody } from '../http/body.js';

export interface AttemptTarget {
  host: string;
  port: number;
  agent: https.Agent;
  tls: Pick<ConnectionOptions, 'secureContext' | 'servername' | 'checkServerIdentity'>;
}

export interface AttemptRequest {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: RequestBody;
}

export type AttemptCallback = (outcome: AttemptOutcome, res?: IncomingMessage) => void;

const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_WEFT_PEER_IDENTITY',
  'ETIMEDOUT',
]);

export function sendAttempt(
  t: AttemptTarget,
  r: AttemptRequest,
  opts: { perTryTimeoutMs?: number; connectTimeoutMs?: number },
  cb: AttemptCallback,
): ClientRequest {
  let settled = false;
  const settle = (o: AttemptOutcome, res?: IncomingMessage) => {
    if (settled) return;
    settled = true;
    if (timer) clearTimeout(timer);
    cb(o, res);
  };
  const req = https.request({
    host: t.host,
    port: t.port,
    method: r.method,
    path: r.path,
    headers: r.headers,
    agent: t.agent,
    ...t.tls,
  });
  let timer: NodeJS.Timeout | undefined;
  if (opts.perTryTimeoutMs) {
    timer = setTimeout(() => {
      settle({ kind: 'timeout' });
      req.destroy();
    }, opts.perTryTimeoutMs);
  }
  let connected = false;
  req.on('socket', (s) => {
    const tlsSocket = s as import('node:tls').TLSSocket;
    // A reused keep-alive socket is already connected; a new one must finish its handshake in time.
    if (!tlsSocket.connecting && tlsSocket.encrypted && !tlsSocket.pending) connected = true;
    else {
      const ct = opts.connectTimeoutMs
        ? setTimeout(() => {
            if (!connected) {
              settle({ kind: 'connect-failure' });
              req.destroy();
            }
          }, opts.connectTimeoutMs)
        : undefined;
      s.once('secureConnect', () => {
        connected = true;
        if (ct) clearTimeout(ct);
      });
    }
  });
  req.on('response', (res) => {
    const grpc = res.headers['grpc-status'];
    settle(
      {
        kind: 'response',
        status: res.statusCode ?? 502,
        ...(grpc !== undefined ? { grpcStatus: Number(grpc) } : {}),
      },
      res,
    );
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    const code = err.code ?? '';
    const neverConnected = !connected && !req.reusedSocket;
    settle(
      neverConnected && (CONNECT_ERRORS.has(code) || code.startsWith('ERR_TLS') || code === 'ECONNRESET')
        ? { kind: 'connect-failure' }
        : { kind: 'reset' },
    );
  });
  r.body.sendTo(req);
  return req;
}
