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
import {
  abortResponse,
  fromH2,
  ownerOf,
  passTrailers,
  watchEnd,
  type PipeEvents,
  type Trailers,
  type UpstreamResponse,
} from '../upstream/response.js';
import type { H1Pools } from '../upstream/h1-pools.js';
import { sendH1, type H1Callbacks } from '../upstream/h1-request.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../upstream/attempt.js';
import { RequestBody } from './body.js';
import { respondHeadersOnly } from './trailers-only.js';

export interface ForwardTarget {
  host: string;
  port: number;
  /** `host:port`, as records give the upstream host: made with the target, not per request. */
  address: string;
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
  const upstreamHost = target.address;
  const headers = opts.headers ?? endToEnd(req.headers);
  // Streamed to the app as it comes (nothing kept); it also counts the bytes and notes when it ended.
  const body = RequestBody.start(req, 0);
  const f = new Forwarding(res, req.method, upstreamHost, body, done);
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
    f.session = session;
    f.stream = stream;
    watchEnd(stream, f);
    stream.on('response', onH2Response);
    stream.on('error', onH2Error);
    stream.on('close', onH2Close);
    body.sendTo(stream);
  } else {
    const pool = target.pools.get(
      target.plain ? target : { host: target.host, port: target.port, plain: true },
      DEFAULT_CONNECT_TIMEOUT_MS,
    );
    f.upReq = sendH1(
      pool,
      {
        method: req.method ?? 'GET',
        path: opts.path,
        headers,
        body,
        paced: true,
        parsed: parsedLines(req),
      },
      f,
    );
  }
  if (opts.timeoutMs && opts.timeoutMs > 0) f.timer = setTimeout(() => f.timedOut(), opts.timeoutMs);
  res.on('close', () => f.closed());
}

/**
 * One request on its way to the app and its answer on the way back: the H1 request's callbacks, the
 * h2 stream's owner (H2Forward), and the answer's PipeEvents. One object per request with shared
 * methods, where a closure per event made ~0.7 KB of garbage per request in the inbound sidecar.
 */
class Forwarding implements H1Callbacks, H2Forward, PipeEvents {
  finished = false;
  timer: NodeJS.Timeout | undefined = undefined;
  // The way the request went: an h2 stream (and its session), or an HTTP/1.1 exchange.
  session: http2.ClientHttp2Session | undefined = undefined;
  stream: http2.ClientHttp2Stream | undefined = undefined;
  upReq: { destroy(): void } | undefined = undefined;
  private responseBytes = 0;
  private grpcStatus: number | undefined = undefined;
  private responseStart: number | undefined = undefined;
  private upstreamLocal: string | undefined = undefined;
  private transportFailure: string | undefined = undefined;
  /** The app's status, once it answered. */
  private status = 0;

  constructor(
    private readonly res: Res,
    readonly method: string | undefined,
    private readonly upstreamHost: string,
    private readonly body: RequestBody,
    private readonly done: (r: ForwardResult) => void,
  ) {}

  private finish(status: number, flags: string): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    const body = this.body;
    const r: ForwardResult = {
      status,
      flags,
      upstreamHost: this.upstreamHost,
      requestBytes: body.size,
      responseBytes: this.responseBytes,
    };
    if (this.grpcStatus !== undefined) r.grpcStatus = this.grpcStatus;
    if (this.transportFailure !== undefined) r.transportFailure = this.transportFailure;
    if (body.ended) r.requestEnd = body.endedAt ?? 0;
    if (this.responseStart !== undefined) r.responseStart = this.responseStart;
    if (this.upstreamLocal !== undefined) r.upstreamLocal = this.upstreamLocal;
    this.done(r);
  }

  private cancel(): void {
    if (this.stream) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    else this.upReq?.destroy();
  }

  fail(connectFailure: boolean, code?: string): void {
    if (this.finished) return;
    if (connectFailure && code) this.transportFailure = `connect_error:_${code}`;
    const flags = connectFailure ? 'UF' : 'UC';
    const reason = connectFailure ? 'connection failure' : 'connection termination';
    sendLocalReply(
      this.res,
      503,
      `upstream connect error or disconnect/reset before headers. reset reason: ${reason}${code ? ` (${code})` : ''}`,
      flags,
    );
    this.finish(503, flags);
  }

  // ---- H1Callbacks (the h2 branch's shared listeners call onResponse and fail too) ----

  onResponse(up: UpstreamResponse): void {
    if (this.finished) return void up.discard();
    if (this.timer) clearTimeout(this.timer);
    const res = this.res;
    this.responseStart = performance.now();
    this.upstreamLocal = up.upstreamLocal;
    this.status = up.status;
    if (up.headers['grpc-status'] !== undefined) this.grpcStatus = Number(up.headers['grpc-status']);
    if (up.endedWithHeaders && respondHeadersOnly(res, up.status, endToEnd(up.headers))) {
      up.discard();
      return this.finish(up.status, '');
    }
    answerParsed(res, up.parsed);
    res.writeHead(up.status, endToEnd(up.headers));
    up.pipeTo(res, this);
  }

  /** Refused before the request was written: the app is not listening (yet). */
  onError(err: NodeJS.ErrnoException, started: boolean): void {
    this.fail(!started, err.code);
  }

  // ---- PipeEvents: how the answer's body went ----

  data(n: number): void {
    this.responseBytes += n;
  }

  trailers(t: Trailers): void {
    const g = passTrailers(this.res, t);
    if (g !== undefined) this.grpcStatus = g;
  }

  end(): void {
    this.finish(this.status, '');
  }

  error(): void {
    abortResponse(this.res);
    this.finish(this.status, 'UC');
  }

  // ---- the request's end ----

  timedOut(): void {
    this.cancel();
    sendLocalReply(this.res, 504, 'upstream request timeout', 'UT');
    this.finish(504, 'UT');
  }

  /** The client's response closed: a DC unless it had been answered whole. */
  closed(): void {
    if (this.res.writableFinished) return;
    this.cancel();
    this.finish(499, 'DC');
  }
}

// The h2 branch's per-stream state, reached by shared listeners (no closures per stream).
interface H2Forward {
  session: http2.ClientHttp2Session | undefined;
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
  c.fail(c.session!.connecting || !c.session!.socket, e.code);
}

function onH2Close(this: http2.ClientHttp2Stream): void {
  ownerOf<H2Forward>(this).fail(false);
}
