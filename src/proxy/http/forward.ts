// Sends one request to the local app and streams the answer back: HTTP/1.1 over a keep-alive pool, or
// HTTP/2 cleartext (h2c) when the service port speaks gRPC or HTTP/2. Failures map to Envoy's status
// codes, bodies and response flags, so a user reading a 503 can tell why: UF (connect failure), UC
// (connection closed), UT (timeout), DC (downstream went away).
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { parsedLines } from '../http1/request.js';
import { answerParsed } from '../http1/response.js';
import { endToEnd } from './headers.js';
import type { H2Sessions } from '../transport/h2-sessions.js';
import { abortResponse, fromH2, ownerOf, watchEnd, type UpstreamResponse } from '../upstream/response.js';
import type { H1Pools } from '../upstream/h1-pools.js';
import { sendH1 } from '../upstream/h1-request.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../upstream/attempt.js';
import { RequestBody } from './body.js';
import { respondHeadersOnly } from './trailers-only.js';

export interface ForwardTarget {
  host: string;
  port: number;
  /** The app is spoken to in plaintext (also makes the target its own H1 pool origin). */
  plain?: true;
  /** HTTP/1.1 keep-alive pools to the app. */
  pools: H1Pools;
  /** h2c to the app when set. */
  h2?: H2Sessions;
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
  /** Why the connection to the app failed (access logs' UPSTREAM_TRANSPORT_FAILURE_REASON). */
  transportFailure?: string;
  /** performance.now() when the request's last byte came, 0 when it had no body (it ended with its
   *  headers); unset while it had not ended (REQUEST_DURATION). */
  requestEnd?: number;
  /** performance.now() when the app's response began (RESPONSE_DURATION). */
  responseStart?: number;
  /** UPSTREAM_LOCAL_ADDRESS, while an access log prints it. */
  upstreamLocal?: string;
};

type Res = ServerResponse | http2.Http2ServerResponse;

export function sendLocalReply(
  res: Res,
  status: number,
  body: string,
  flags = '',
  extraHeaders: Array<[string, string]> = [],
): void {
  if (res.headersSent) {
    abortResponse(res);
    return;
  }
  if (body === '' && extraHeaders.some(([k]) => k === 'grpc-status')) {
    // A gRPC status from the proxy itself (fault abort): trailers-only on HTTP/2.
    const h: Record<string, string> = flags ? { 'x-weft-response-flags': flags } : {};
    for (const [k, v] of extraHeaders) h[k] = v;
    if (respondHeadersOnly(res, status, h)) return;
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
  req: IncomingMessage | http2.Http2ServerRequest,
  res: Res,
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
    if (timer) clearTimeout(timer);
    const r: ForwardResult = { status, flags, upstreamHost, requestBytes, responseBytes };
    if (grpcStatus !== undefined) r.grpcStatus = grpcStatus;
    if (transportFailure !== undefined) r.transportFailure = transportFailure;
    if (body.ended) r.requestEnd = body.endedAt ?? 0;
    if (responseStart !== undefined) r.responseStart = responseStart;
    if (upstreamLocal !== undefined) r.upstreamLocal = upstreamLocal;
    done(r);
  };
  let responseStart: number | undefined;
  let upstreamLocal: string | undefined;
  let transportFailure: string | undefined;
  const fail = (connectFailure: boolean, code?: string) => {
    if (finished) return;
    if (connectFailure && code) transportFailure = `connect_error:_${code}`;
    const flags = connectFailure ? 'UF' : 'UC';
    const reason = connectFailure ? 'connection failure' : 'connection termination';
    sendLocalReply(
      res,
      503,
      `upstream connect error or disconnect/reset before headers. reset reason: ${reason}${code ? ` (${code})` : ''}`,
      flags,
    );
    finish(503, flags);
  };
  const onResponse = (up: UpstreamResponse) => {
    if (finished) return void up.discard();
    if (timer) clearTimeout(timer);
    responseStart = performance.now();
    upstreamLocal = up.upstreamLocal;
    if (up.headers['grpc-status'] !== undefined) grpcStatus = Number(up.headers['grpc-status']);
    if (up.endedWithHeaders && respondHeadersOnly(res, up.status, endToEnd(up.headers))) {
      up.discard();
      return finish(up.status, '');
    }
    answerParsed(res, up.parsed);
    res.writeHead(up.status, endToEnd(up.headers));
    up.pipeTo(res, {
      data: (n) => (responseBytes += n),
      trailers: (t) => {
        if (t['grpc-status'] !== undefined) grpcStatus = Number(t['grpc-status']);
        if (Object.keys(t).length) res.addTrailers(t as Record<string, string>);
      },
      end: () => finish(up.status, ''),
      error: () => {
        abortResponse(res);
        finish(up.status, 'UC');
      },
    });
  };
  const headers = opts.headers ?? endToEnd(req.headers);
  // Streamed to the app as it comes (nothing kept); it also notes when the request ended.
  const body = RequestBody.start(req, 0);
  let cancel: () => void;
  if (target.h2) {
    const session = target.h2.get(target);
    // One loop rather than a rest pattern and a spread (two copies of the header object per call).
    const h2Headers: http2.OutgoingHttpHeaders = {
      ':method': req.method,
      ':path': opts.path,
      ':authority': String(headers.host ?? upstreamHost),
      ':scheme': 'http',
    };
    for (const k in headers) if (k !== 'host') h2Headers[k] = headers[k];
    const stream = session.request(h2Headers);
    const call: H2Forward = { session, method: req.method, onResponse, fail };
    watchEnd(stream, call);
    stream.on('response', onH2Response);
    stream.on('error', onH2Error);
    stream.on('close', onH2Close);
    body.sendTo(stream);
    cancel = () => stream.close(http2.constants.NGHTTP2_CANCEL);
  } else {
    const pool = target.pools.get(
      target.plain ? target : { host: target.host, port: target.port, plain: true },
      DEFAULT_CONNECT_TIMEOUT_MS,
    );
    const upReq = sendH1(
      pool,
      {
        method: req.method ?? 'GET',
        path: opts.path,
        headers,
        body,
        paced: true,
        parsed: parsedLines(req),
      },
      {
        onResponse,
        // Refused before the request was written: the app is not listening (yet).
        onError: (err, started) => fail(!started, err.code),
      },
    );
    cancel = () => upReq.destroy();
  }
  req.on('data', (c: Buffer) => (requestBytes += c.length));
  let timer: NodeJS.Timeout | undefined;
  if (opts.timeoutMs && opts.timeoutMs > 0) {
    timer = setTimeout(() => {
      cancel();
      sendLocalReply(res, 504, 'upstream request timeout', 'UT');
      finish(504, 'UT');
    }, opts.timeoutMs);
  }
  res.on('close', () => {
    if (!res.writableFinished) {
      cancel();
      finish(499, 'DC');
    }
  });
}

// The h2 branch's per-stream state, reached by shared listeners (no closures per stream).
interface H2Forward {
  session: http2.ClientHttp2Session;
  method: string | undefined;
  onResponse: (up: UpstreamResponse) => void;
  fail: (connectFailure: boolean, code?: string) => void;
}

function onH2Response(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders, flags: number): void {
  const c = ownerOf<H2Forward>(this);
  c.onResponse(fromH2(this, h, flags, c.method));
}

function onH2Error(this: http2.ClientHttp2Stream, e: NodeJS.ErrnoException): void {
  const c = ownerOf<H2Forward>(this);
  c.fail(c.session.connecting || !c.session.socket, e.code);
}

function onH2Close(this: http2.ClientHttp2Stream): void {
  ownerOf<H2Forward>(this).fail(false);
}
