// One HTTP/1.1 request on a keep-alive pool (h1-pools.ts), with the answer handed over as an
// UpstreamResponse whose body is written straight into the downstream response, Buffer by Buffer, with
// backpressure: no intermediate Readable, no pipe().
import type { OutgoingHttpHeaders } from 'node:http';
import { PassThrough, type Writable } from 'node:stream';
import { accessLogWants, socketAddress } from '../telemetry/events.js';
import type { RequestBody } from '../http/body.js';
import type { BodySink, PipeEvents, Trailers, UpstreamResponse } from './response.js';
import type { H1Pool } from './h1-pools.js';
import type { Exchange, H1Connection, StreamedBody } from './h1-connection.js';
import { hasInvalidChar, isToken, validValue } from './llhttp.js';

export interface H1Callbacks {
  /** The connection is established and the request is being written. */
  onStart?: () => void;
  /** Response headers arrived (1xx informational answers are skipped). */
  onResponse: (res: UpstreamResponse) => void;
  /** The request failed before a response; `started` says whether it had been written. */
  onError: (err: NodeJS.ErrnoException, started: boolean) => void;
}

export interface H1Request {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: RequestBody | undefined;
  paced: boolean;
  /** The downstream request's header lines as a strict parse gave them (validValue, llhttp.ts). */
  parsed?: readonly string[] | undefined;
  /** Unused: a TLS pool sends the SNI of its origin (the mesh's SNI names the cluster, Istio's
   *  outbound_ form), whatever the Host header says. */
  servername?: string | undefined;
}

/** Methods whose request carries a body by definition: without one they say `content-length: 0`. */
const EXPECTS_BODY = new Set(['POST', 'PUT', 'PATCH']);

function invalid(what: string): NodeJS.ErrnoException {
  return Object.assign(new TypeError(`invalid request ${what}`), { code: 'ERR_INVALID_HTTP_TOKEN' });
}

/**
 * The request line and headers. Framing is ours: a `content-length` or `transfer-encoding` among the
 * headers is replaced by what this request really sends; `connection`, `expect`, `keep-alive` and
 * `upgrade` are hop-by-hop and never forwarded (Node answers `Expect: 100-continue` downstream). Throws
 * on a name or value that could split the head (header injection).
 */
export function requestHead(
  method: string,
  path: string,
  headers: OutgoingHttpHeaders,
  fallbackHost: string,
  bodyLength: number | undefined,
  chunked: boolean,
  parsed?: readonly string[],
): string {
  if (!isToken(method)) throw invalid('method');
  if (hasInvalidChar(path) || path.includes(' ')) throw invalid('path');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let host = false;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined) continue;
    const n = k.length;
    // Framing and hop-by-hop names, by length first: one comparison for most headers.
    if (
      (n === 14 && k === 'content-length') ||
      (n === 17 && k === 'transfer-encoding') ||
      (n === 10 && (k === 'connection' || k === 'keep-alive')) ||
      (n === 6 && k === 'expect') ||
      (n === 7 && k === 'upgrade')
    )
      continue;
    if (n === 4 && k === 'host') host = true;
    if (!isToken(k)) throw invalid(`header name "${k}"`);
    if (typeof v === 'string') {
      if (!validValue(v, parsed)) throw invalid(`value for header "${k}"`);
      head += `${k}: ${v}\r\n`;
    } else if (typeof v === 'number') head += `${k}: ${v}\r\n`;
    else
      for (const x of v) {
        if (hasInvalidChar(x)) throw invalid(`value for header "${k}"`);
        head += `${k}: ${x}\r\n`;
      }
  }
  if (!host) head += `host: ${fallbackHost}\r\n`;
  if (chunked) head += 'transfer-encoding: chunked\r\n';
  else if (bodyLength !== undefined) head += `content-length: ${bodyLength}\r\n`;
  return `${head}\r\n`;
}

/**
 * A request body that is still arriving. It is taken from the request at once (a body that outgrows the
 * retry buffer keeps no copy, so nothing may be missed while a connection is being opened) into a
 * PassThrough, which the connection drains once it is ready, with backpressure both ways.
 */
class Streamed implements StreamedBody {
  private readonly source = new PassThrough();

  constructor(
    b: RequestBody,
    paced: boolean,
    readonly length: number | undefined,
  ) {
    b.sendTo(this.source, paced);
  }

  pipe(sink: Writable): void {
    this.source.pipe(sink);
  }

  /** The attempt is over: the request stops feeding it (RequestBody forgets a closed sink). */
  drop(): void {
    this.source.destroy();
  }
}

/** The client's content-length, when it gave a single valid one. */
function declaredLength(h: OutgoingHttpHeaders): number | undefined {
  const v = h['content-length'];
  if (v === undefined || Array.isArray(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The request as a connection takes it, and the caller's view of it. */
class PooledExchange implements Exchange {
  readonly method: string;
  readonly head: string;
  readonly body: Buffer | StreamedBody | undefined;
  cancelled = false;
  private settled = false;
  private started_ = false;
  private conn: H1Connection | undefined;
  response: H1Response | undefined;

  constructor(
    private readonly pool: H1Pool,
    r: H1Request,
    private readonly cb: H1Callbacks,
  ) {
    this.method = r.method;
    const b = r.body;
    const host = pool.hostHeader;
    if (!b || (b.ended && b.size === 0)) {
      this.body = undefined;
      this.head = requestHead(
        r.method,
        r.path,
        r.headers,
        host,
        EXPECTS_BODY.has(r.method) ? 0 : undefined,
        false,
        r.parsed,
      );
    } else if (b.complete) {
      const all = b.buffered();
      this.body = all;
      this.head = requestHead(r.method, r.path, r.headers, host, all.length, false, r.parsed);
    } else {
      const length = declaredLength(r.headers);
      this.body = new Streamed(b, r.paced, length);
      this.head = requestHead(r.method, r.path, r.headers, host, length, length === undefined, r.parsed);
    }
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.pool.inFlight--;
  }

  started(conn: H1Connection): void {
    this.conn = conn;
    this.started_ = true;
    this.cb.onStart?.();
  }

  headers(status: number, headers: Record<string, string | string[]>, lines: readonly string[]): void {
    const c = this.conn!;
    this.response = new H1Response(
      status,
      headers,
      lines,
      () => c.resume(),
      accessLogWants.upstreamLocalAddress
        ? socketAddress(c.socket.localAddress, c.socket.localPort)
        : undefined,
    );
    this.cb.onResponse(this.response);
  }

  data(chunk: Buffer): boolean {
    return this.response!.data(chunk);
  }

  complete(trailers: Trailers): void {
    this.settle();
    if (this.body instanceof Streamed) this.body.drop(); // answered before the body was all sent
    this.response!.end(trailers);
  }

  failed(err: NodeJS.ErrnoException, started: boolean): void {
    this.settle();
    if (this.body instanceof Streamed) this.body.drop();
    if (this.response) this.response.fail();
    else if (!this.cancelled) this.cb.onError(err, started || this.started_);
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const live = !this.settled;
    this.settle();
    if (this.body instanceof Streamed) this.body.drop();
    this.response?.discard();
    // Mid-exchange the connection cannot carry another request (once the answer ended it may already
    // carry someone else's); one still waiting for a connection is skipped.
    if (live && this.conn) this.conn.abort();
  }
}

/** Requests the pool is carrying or queueing now. */
export function h1InFlight(pool: H1Pool): number {
  return pool.inFlight;
}

export function sendH1(pool: H1Pool, r: H1Request, cb: H1Callbacks): { destroy(): void } {
  let ex: PooledExchange;
  try {
    ex = new PooledExchange(pool, r, cb);
  } catch (err) {
    // Invalid header names or values: nothing was sent.
    process.nextTick(() => cb.onError(err as NodeJS.ErrnoException, false));
    return { destroy() {} };
  }
  pool.inFlight++;
  pool.dispatch(ex);
  return { destroy: () => ex.cancel() };
}

/** An HTTP/1.1 answer: body chunks are written to the sink as they come. */
class H1Response implements UpstreamResponse {
  readonly endedWithHeaders = false;
  private sink: BodySink | undefined;
  private ev: PipeEvents | undefined;
  private pending: Buffer[] | undefined;
  private trailers: Trailers | undefined;
  private failed = false;
  private discarded = false;
  /** Reading stopped: chunks came before anyone claimed the body, or the sink is full. */
  private held = false;
  private waitingDrain = false;

  constructor(
    readonly status: number,
    readonly headers: Record<string, string | string[] | undefined>,
    readonly parsed: readonly string[],
    private readonly resumeUpstream: () => void,
    readonly upstreamLocal: string | undefined,
  ) {}

  pipeTo(sink: BodySink, ev: PipeEvents): void {
    this.sink = sink;
    this.ev = ev;
    if (this.pending) {
      for (const c of this.pending) this.write(c);
      this.pending = undefined;
    }
    if (this.failed) ev.error();
    else if (this.trailers) this.finish(this.trailers);
    else this.release();
  }

  discard(): void {
    this.discarded = true;
    this.pending = undefined;
    this.release();
  }

  data(chunk: Buffer): boolean {
    if (this.discarded) return true;
    if (!this.sink) {
      // Not claimed yet (the caller decides between answering and retrying): hold the chunk and stop
      // reading until it is.
      (this.pending ??= []).push(chunk);
      this.held = true;
      return false;
    }
    return this.write(chunk);
  }

  private write(chunk: Buffer): boolean {
    this.ev!.data?.(chunk.length);
    if (this.sink!.write(chunk)) return true;
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      this.sink!.once('drain', () => {
        this.waitingDrain = false;
        if (!this.held) this.resumeUpstream();
      });
    }
    return false;
  }

  private release(): void {
    if (!this.held) return;
    this.held = false;
    if (!this.waitingDrain) this.resumeUpstream();
  }

  end(trailers: Trailers): void {
    if (this.discarded) return;
    if (!this.sink) this.trailers = trailers;
    else this.finish(trailers);
  }

  private finish(trailers: Trailers): void {
    this.ev!.trailers?.(trailers);
    this.sink!.end();
    this.ev!.end();
  }

  fail(): void {
    if (this.discarded) return;
    if (!this.sink) this.failed = true;
    else this.ev!.error();
  }
}
