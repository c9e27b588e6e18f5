// Sends one request upstream and streams the answer back. Failures map to Envoy's status codes,
// bodies and response flags, so a user reading a 503 can tell why: UF (connect failure), UC (upstream
// connection closed), UT (timeout), DC (downstream went away).
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { endToEnd } from './headers.js';

export interface ForwardTarget {
  secure: boolean;
  host: string;
  port: number;
  agent: http.Agent;
  /** TLS only: the mesh client context, the SNI naming the service port, and the peer identity check. */
  tls?: Pick<import('node:tls').ConnectionOptions, 'secureContext' | 'servername' | 'checkServerIdentity'>;
}

export interface ForwardOptions {
  path: string;
  headers?: OutgoingHttpHeaders; // defaults to the request's end-to-end headers
  timeoutMs?: number;
}

export type ForwardResult = {
  status: number;
  flags: string;
  upstreamHost: string;
  requestBytes: number;
  responseBytes: number;
  grpcStatus?: number;
};

export function sendLocalReply(
  res: ServerResponse,
  status: number,
  body: string,
  flags = '',
  extraHeaders: Array<[string, string]> = [],
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(body),
  };
  if (flags) headers['x-weft-response-flags'] = flags;
  for (const [k, v] of extraHeaders) headers[k] = v;
  res.writeHead(status, headers);
  res.end(body);
}

export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
  opts: ForwardOptions,
  done: (r: ForwardResult) => void,
): void {
  const upstreamHost = `${target.host}:${target.port}`;
  let finished = false;
  let requestBytes = 0;
  let responseBytes = 0;
  let grpcStatus: number | undefined;
  const finish = (status: number, flags: string) => {
    if (finished) return;
    finished = true;
    done({
      status,
      flags,
      upstreamHost,
      requestBytes,
      responseBytes,
      ...(grpcStatus !== undefined ? { grpcStatus } : {}),
    });
  };
  const options: https.RequestOptions = {
    host: target.host,
    port: target.port,
    method: req.method,
    path: opts.path,
    headers: opts.headers ?? endToEnd(req.headers),
    agent: target.agent,
    ...target.tls,
  };
  const upReq = (target.secure ? https : http).request(options);
  let timer: NodeJS.Timeout | undefined;
  if (opts.timeoutMs && opts.timeoutMs > 0) {
    timer = setTimeout(() => {
      upReq.destroy(new Error('timeout'));
      sendLocalReply(res, 504, 'upstream request timeout', 'UT');
      finish(504, 'UT');
    }, opts.timeoutMs);
  }
  upReq.on('response', (up) => {
    if (timer) clearTimeout(timer);
    res.writeHead(up.statusCode ?? 502, up.statusMessage, endToEnd(up.headers));
    if (up.headers['grpc-status'] !== undefined) grpcStatus = Number(up.headers['grpc-status']);
    up.on('data', (c: Buffer) => (responseBytes += c.length));
    up.pipe(res);
    up.on('end', () => finish(up.statusCode ?? 502, ''));
    up.on('error', () => {
      res.destroy();
      finish(up.statusCode ?? 502, 'UC');
    });
  });
  upReq.on('error', (err: NodeJS.ErrnoException) => {
    if (timer) clearTimeout(timer);
    if (finished) return;
    const connectFailure =
      !upReq.reusedSocket &&
      (err.code === 'ECONNREFUSED' ||
        err.code?.startsWith('ERR_TLS') ||
        err.code === 'ERR_WEFT_PEER_IDENTITY' ||
        err.code === 'ECONNRESET');
    const flags = connectFailure ? 'UF' : 'UC';
    const reason = connectFailure ? 'connection failure' : 'connection termination';
    sendLocalReply(
      res,
      503,
      `upstream connect error or disconnect/reset before headers. reset reason: ${reason}${err.code ? ` (${err.code})` : ''}`,
      flags,
    );
    finish(503, flags);
  });
  res.on('close', () => {
    if (!res.writableFinished) {
      upReq.destroy();
      finish(499, 'DC');
    }
  });
  req.on('data', (c: Buffer) => (requestBytes += c.length));
  req.pipe(upReq);
}
