// One attempt to send a request to one peer proxy over mTLS, as HTTP/1.1 (pooled keep-alive
// connections) or HTTP/2 (one multiplexed session per peer, for gRPC and HTTP/2 traffic). It reports
// how the attempt ended (response headers, connect failure, reset, per-try timeout) and never touches
// the downstream response: retrying or answering is the caller's decision.
import http2 from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';
import type { ConnectionOptions } from 'node:tls';
import type { AttemptOutcome } from './retry.js';
import type { RequestBody } from '../http/body.js';
import type { H2Sessions } from '../transport/h2-sessions.js';
import { fromH2, ownerOf, watchEnd, type UpstreamResponse } from './response.js';
import type { H1Origin, H1Pool, H1Pools } from './h1-pools.js';
import { h1InFlight, sendH1 as sendPooled, type H1Callbacks } from './h1-request.js';

export interface AttemptTarget extends H1Origin {
  /** HTTP/1.1 keep-alive pools to take the connection from. */
  pools: H1Pools;
  /** Plaintext: outside the mesh (ServiceEntry MESH_EXTERNAL), or a peer whose port takes no mTLS. */
  plain?: boolean;
  /** Mesh mTLS, or TLS the proxy originates toward a host outside the mesh (`rejectUnauthorized`
   *  false only for a DestinationRule's insecureSkipVerify). */
  tls: Pick<ConnectionOptions, 'secureContext' | 'servername' | 'checkServerIdentity' | 'rejectUnauthorized'>;
  /** Set for HTTP/2 upstreams (gRPC, HTTP/2 apps, or an HTTP/2 client). */
  h2?: H2Sessions;
  /** With `h2`: HTTP/1.1 on the pool while it carries fewer than H1_FIRST_LIMIT requests, the HTTP/2
   *  session beyond (WEFT_MESH_H2C_UPSTREAM=h1: plain HTTP from HTTP/2 clients). */
  h1First?: boolean;
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
  /** The downstream request's header lines as a strict parse gave them (validValue, llhttp.ts). */
  parsed?: readonly string[] | undefined;
}

export type AttemptCallback = (outcome: AttemptOutcome, res?: UpstreamResponse) => void;

/** Something to cancel the attempt with. */
export interface Cancellable {
  destroy(): void;
}

/**
 * With `h1First`, how many requests at once may go on one peer's HTTP/1.1 pool. HTTP/1.1 needs a
 * connection per request under way, and an HTTP/2 client's streams are unbounded: without a cap, under
 * load every slow answer opened another mTLS connection (thousands, each handshake costing both
 * proxies milliseconds of CPU) until nothing was answered. Past this many, the session takes the rest.
 */
export const H1_FIRST_LIMIT = 32;

/** Istio's default connect timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Envoy's %UPSTREAM_TRANSPORT_FAILURE_REASON% for a connection that could not be made. */
function transportFailure(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return 'delayed_connect_error:_Connection_refused';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'connection_timeout';
  if (/^ERR_(TLS|SSL)|^ERR_WEFT_PEER_IDENTITY$/.test(code)) return `TLS_error:_${code}`;
  return `connect_error:_${code || err.message.replace(/\s+/g, '_')}`;
}

export function sendAttempt(
  t: AttemptTarget,
  r: AttemptRequest,
  opts: { perTryTimeoutMs?: number; connectTimeoutMs?: number },
  cb: AttemptCallback,
): Cancellable {
  const a = new Attempt(t, cb);
  if (t.error) {
    const err = t.error as NodeJS.ErrnoException;
    process.nextTick(() => {
      t.onConnectError?.(err);
      a.settle({ kind: 'connect-failure' });
    });
    return { destroy: () => {} };
  }
  let handle: Cancellable;
  if (t.h2 && !t.h1First) handle = sendH2(t, r, opts, a);
  else {
    const pool = t.pools.get(t, opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    handle = t.h2 && h1InFlight(pool) >= H1_FIRST_LIMIT ? sendH2(t, r, opts, a) : sendH1(t, pool, r, a);
  }
  if (opts.perTryTimeoutMs) {
    a.timer = setTimeout(() => {
      a.settle({ kind: 'timeout' });
      handle.destroy();
    }, opts.perTryTimeoutMs);
  }
  return handle;
}

/**
 * One attempt's outcome, told once: the first of answer, failure or per-try timeout wins. Also the
 * HTTP/1.1 request's callbacks. One object with shared methods, where closures per attempt (the
 * settling, the two callbacks, their scope) and a spread per answer made ~0.3 KB of garbage.
 */
class Attempt implements H1Callbacks {
  private settled = false;
  timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly t: AttemptTarget,
    private readonly cb: AttemptCallback,
  ) {}

  settle(o: AttemptOutcome, res?: UpstreamResponse): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    this.cb(o, res);
  }

  onResponse(res: UpstreamResponse): void {
    this.settle(answered(res.status, res.headers['grpc-status']), res);
  }

  onError(err: NodeJS.ErrnoException, started: boolean): void {
    // Never written: the connection could not be made (refused, TLS verification, connect timeout).
    if (!started) this.t.onConnectError?.(err);
    this.settle(started ? RESET : { kind: 'connect-failure', reason: transportFailure(err) });
  }
}

/** An attempt answered with `status`; gRPC's status from the answer's headers when they carry one. */
function answered(status: number, grpcStatus: string | string[] | undefined): AttemptOutcome {
  const o: AttemptOutcome = { kind: 'response', status };
  if (grpcStatus !== undefined) o.grpcStatus = Number(grpcStatus);
  return o;
}

function sendH1(t: AttemptTarget, pool: H1Pool, r: AttemptRequest, a: Attempt): Cancellable {
  return sendPooled(
    pool,
    {
      method: r.method,
      path: r.path,
      headers: r.headers,
      body: r.body,
      paced: r.paced ?? true,
      parsed: r.parsed,
      servername: t.plain ? undefined : t.tls.servername,
    },
    a,
  );
}

function sendH2(
  t: AttemptTarget,
  r: AttemptRequest,
  opts: { connectTimeoutMs?: number },
  attempt: Attempt,
): Cancellable {
  const session = t.h2!.get(t, t.plain === true);
  // One loop rather than a rest pattern and a spread (two copies of the header object per call).
  const src = r.headers;
  const headers: http2.OutgoingHttpHeaders = {
    ':method': r.method,
    ':path': r.path,
    ':authority': String(src.host ?? ''),
    ':scheme': t.plain ? 'http' : 'https',
  };
  for (const k in src) if (k !== 'host') headers[k] = src[k];
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(headers, { endStream: false });
  } catch {
    attempt.settle({ kind: 'connect-failure' });
    return { destroy: () => {} };
  }
  t.h2!.opened(session, stream);
  // The attempt's state is one object, reached by the shared listeners below through the stream.
  const a = new H2Attempt(stream, session, r.method, attempt);
  watchEnd(stream, a);
  if (session.connecting && opts.connectTimeoutMs) {
    // A session still handshaking after the connect timeout is given up (and forgotten by the pool).
    const ct = setTimeout(() => {
      if (session.connecting) {
        attempt.settle({ kind: 'connect-failure' });
        session.destroy();
      }
    }, opts.connectTimeoutMs);
    session.once('connect', () => clearTimeout(ct));
    session.once('close', () => clearTimeout(ct));
  }
  stream.on('response', onH2Response);
  stream.on('error', onH2Error);
  stream.on('close', onH2Close);
  r.body.sendTo(stream, r.paced ?? true);
  return a;
}

// Shared: every stream emits 'close', also after its answer (when settling is a no-op).
const RESET: AttemptOutcome = { kind: 'reset' };

class H2Attempt implements Cancellable {
  constructor(
    readonly stream: http2.ClientHttp2Stream,
    readonly session: http2.ClientHttp2Session,
    readonly method: string,
    readonly attempt: Attempt,
  ) {}

  destroy(): void {
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}

function onH2Response(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders, flags: number): void {
  const a = ownerOf<H2Attempt>(this);
  a.attempt.settle(answered(Number(h[':status'] ?? 502), h['grpc-status']), fromH2(this, h, flags, a.method));
}

function onH2Error(this: http2.ClientHttp2Stream): void {
  const a = ownerOf<H2Attempt>(this);
  const connected = a.session.socket !== undefined && !a.session.connecting;
  a.attempt.settle(connected ? RESET : { kind: 'connect-failure' });
}

function onH2Close(this: http2.ClientHttp2Stream): void {
  // Closed without response headers: REFUSED_STREAM means the peer never processed it.
  const a = ownerOf<H2Attempt>(this);
  if (this.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) a.attempt.settle({ kind: 'connect-failure' });
  else a.attempt.settle(RESET);
}
