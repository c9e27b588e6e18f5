// One HTTP/1.1 request on an undici pool (h1-pools.ts), with the answer handed over as an
// UpstreamResponse whose body is written straight into the downstream response, Buffer by Buffer, with
// backpressure: no intermediate Readable, no pipe().
import diagnostics_channel from 'node:diagnostics_channel';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { accessLogWants, socketAddress } from '../telemetry/events.js';
import type { Dispatcher } from 'undici';
import { parseHeaders } from './undici-core.js';
import type { RequestBody } from '../http/body.js';
import type { BodySink, PipeEvents, Trailers, UpstreamResponse } from './response.js';

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
  /** TLS pools: the SNI to send. undici otherwise takes it from the Host header (and drops the
   *  connection whenever that changes); the mesh's SNI names the cluster (Istio's outbound_ form). */
  servername?: string | undefined;
}

/** Request headers undici sends itself or refuses; Node answers `Expect: 100-continue` downstream. */
function sendable(h: OutgoingHttpHeaders): OutgoingHttpHeaders {
  if (h.expect === undefined && h.connection === undefined) return h;
  const { expect: _e, connection: _c, ...rest } = h;
  return rest;
}

/** The request body as undici takes it: nothing, the whole kept body, or a stream fed as it arrives. */
function bodyOf(b: RequestBody | undefined, paced: boolean): Buffer | PassThrough | null {
  if (!b || (b.ended && b.size === 0)) return null;
  if (b.complete) return b.buffered();
  const s = new PassThrough();
  b.sendTo(s, paced);
  return s;
}

// UPSTREAM_LOCAL_ADDRESS: undici tells a handler nothing about the connection it was given, but it
// publishes `undici:client:sendHeaders` ({request, headers, socket}) right after calling the handler's
// onConnect, in the same synchronous call (client-h1.js, writeH1). While an access log prints the
// address, onConnect marks its handler as the one the next published socket belongs to. Otherwise
// nothing subscribes, and undici publishes nothing.
type Handler = Dispatcher.DispatchHandler & { socket?: Socket };
const SEND_HEADERS = 'undici:client:sendHeaders';
let awaitingSocket: Handler | undefined;
let watching = false;
const onSendHeaders = (m: unknown) => {
  if (awaitingSocket) awaitingSocket.socket = (m as { socket?: Socket }).socket;
  awaitingSocket = undefined;
};

function watchSockets(on: boolean): void {
  watching = on;
  if (on) diagnostics_channel.subscribe(SEND_HEADERS, onSendHeaders);
  else diagnostics_channel.unsubscribe(SEND_HEADERS, onSendHeaders);
  awaitingSocket = undefined;
}

function localOf(h: Handler): string | undefined {
  const s = h.socket;
  return s ? socketAddress(s.localAddress, s.localPort) : undefined;
}

// Requests under way per pool, from dispatch until the answer's last byte, a failure or a cancel: it
// tells how many connections the pool needs now (pipelining is off), without walking its clients.
const inFlight = new WeakMap<Dispatcher, { n: number }>();

/** Requests the pool is carrying or queueing now. */
export function h1InFlight(pool: Dispatcher): number {
  return inFlight.get(pool)?.n ?? 0;
}

export function sendH1(pool: Dispatcher, r: H1Request, cb: H1Callbacks): { destroy(): void } {
  let abort: ((err?: Error) => void) | undefined;
  let cancelled = false;
  let started = false;
  let response: H1Response | undefined;
  let count: { n: number } | undefined = inFlight.get(pool);
  if (!count) inFlight.set(pool, (count = { n: 0 }));
  count.n++;
  const settled = () => {
    if (count) count.n--;
    count = undefined;
  };
  if (accessLogWants.upstreamLocalAddress !== watching) watchSockets(!watching);
  const handler: Handler = {
    onConnect(a) {
      abort = a;
      // Cancelled while queued or connecting: drop it as soon as undici hands it to a connection.
      if (cancelled) return a(new Error('cancelled'));
      started = true;
      cb.onStart?.();
      if (watching) awaitingSocket = handler; // last: the next socket published is this request's
    },
    onHeaders(status, raw, resume) {
      if (status < 200) return true;
      response = new H1Response(
        status,
        parseHeaders(raw as unknown as Buffer[]),
        resume,
        watching ? localOf(handler) : undefined,
      );
      cb.onResponse(response);
      return true;
    },
    onData(chunk) {
      return response!.data(chunk);
    },
    onComplete(trailers) {
      settled();
      response!.end(trailers ? parseHeaders(trailers as unknown as Buffer[]) : {});
    },
    onError(err) {
      settled();
      if (response) response.fail();
      else if (!cancelled) cb.onError(err as NodeJS.ErrnoException, started);
    },
  };
  try {
    pool.dispatch(
      {
        path: r.path,
        method: r.method,
        headers: sendable(r.headers) as Record<string, string>,
        body: bodyOf(r.body, r.paced),
        ...(r.servername ? { servername: r.servername } : {}),
      } as Dispatcher.DispatchOptions,
      handler,
    );
  } catch (err) {
    // Invalid header names or values: nothing was sent.
    settled();
    process.nextTick(() => cb.onError(err as NodeJS.ErrnoException, false));
  }
  return {
    destroy() {
      if (cancelled) return;
      cancelled = true;
      settled();
      abort?.(new Error('cancelled'));
      response?.discard();
    },
  };
}

/** An HTTP/1.1 answer from undici: body chunks are written to the sink as they come. */
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
