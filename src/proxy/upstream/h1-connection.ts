// One keep-alive HTTP/1.1 connection to an upstream (plain TCP or TLS), carrying one request at a time
// (no pipelining). The answer is parsed by Node's llhttp reading the socket itself (llhttp.ts); this
// file frames requests, follows the answer's framing and decides whether the connection can carry
// another request.
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { HeaderNames, HTTPParser, newParser, type NativeParser, type ParserCallbacks } from './llhttp.js';
import { keepAlive } from '../transport/keepalive.js';
import type { TcpKeepalive } from '../../model/snapshot.js';

/** What a connection needs from the request it carries (h1-request.ts). */
export interface Exchange {
  readonly method: string;
  /** Request line and headers, framing included, ending with the blank line. */
  readonly head: string;
  /** The whole body, or a source that streams it (`pipe` is called once the head is written). */
  readonly body: Buffer | StreamedBody | undefined;
  /** Set once the caller gave up: a connection never starts it. */
  readonly cancelled: boolean;
  /** Written to `conn`. */
  started(conn: H1Connection): void;
  /** Response head (1xx skipped). */
  /** `lines`: the head's header lines as the parser gave them (name, value, ...). */
  headers(status: number, headers: Record<string, string | string[]>, lines: readonly string[]): void;
  /** A body chunk; false: stop reading until `conn.resume()`. */
  data(chunk: Buffer): boolean;
  complete(trailers: Record<string, string | string[]>): void;
  /** Failed; `started`: the request had been written (or was being written) to an open connection. */
  failed(err: NodeJS.ErrnoException, started: boolean): void;
}

export interface StreamedBody {
  /** Bytes it will send (content-length), or undefined to send it chunked. */
  readonly length: number | undefined;
  pipe(sink: Writable): void;
}

/** Where a connection reports its state: the pool (h1-pools.ts). */
export interface ConnectionOwner {
  /** Connected, or done with an exchange, and can take the next one. */
  free(conn: H1Connection): void;
  /** Closed (or failed to connect); `conn` must be forgotten. */
  gone(conn: H1Connection): void;
}

export interface ConnectOptions {
  host: string;
  port: number;
  tls?: tls.ConnectionOptions | undefined;
  timeoutMs: number;
  /** TLS session of an earlier connection to the same origin: a shorter handshake. */
  session?: Buffer | undefined;
  onSession?: ((s: Buffer) => void) | undefined;
  /** Requests after which the connection is closed (DestinationRule maxRequestsPerConnection). */
  maxRequests?: number | undefined;
  idleTimeoutMs: number;
  /** DestinationRule tcp.maxConnectionDuration: no request starts on it past this age. */
  maxAgeMs?: number | undefined;
  /** tcp.tcpKeepalive: SO_KEEPALIVE (transport/keepalive.ts). */
  keepalive?: TcpKeepalive | undefined;
}

const CONN = Symbol('conn');
type Parser = NativeParser & { [CONN]: H1Connection };

/** `Keep-Alive: timeout=N` from the server (seconds). */
const KEEP_ALIVE_TIMEOUT = /timeout=(\d+)/i;
/** Use a connection no later than this before the server said it would close it (undici's threshold). */
const KEEP_ALIVE_MARGIN_MS = 1000;

function closedError(): NodeJS.ErrnoException {
  return Object.assign(new Error('upstream closed the connection'), { code: 'UPSTREAM_CLOSED' });
}

export class H1Connection {
  readonly socket: net.Socket;
  private readonly parser: Parser;
  private ex: Exchange | undefined;
  /** Parser callbacks: header lines delivered before the head completed (more than 32), or trailers. */
  private lines: string[] | undefined;
  private informational = false;
  private responding = false;
  private keepAlive = true;
  private bodySent = true;
  private connected = false;
  private served = 0;
  private readTo = 0;
  private lastError: Error | undefined;
  /** The server's own idle limit (Keep-Alive: timeout), less a margin. */
  private hint: number | undefined;
  /** The last Keep-Alive header parsed for `hint`. */
  private keepAliveHeader: string | undefined = undefined;
  private readonly names = new HeaderNames();
  /** performance.now() after which this idle connection must not be reused. */
  expires = Infinity;
  /** performance.now() past which it takes no request (maxAgeMs after it was opened). */
  private readonly retiresAt: number;

  constructor(
    private readonly owner: ConnectionOwner,
    private readonly opts: ConnectOptions,
    first: Exchange,
  ) {
    this.ex = first;
    this.retiresAt = opts.maxAgeMs === undefined ? Infinity : performance.now() + opts.maxAgeMs;
    const timer = setTimeout(
      () => this.socket.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
      opts.timeoutMs,
    );
    if (opts.tls) {
      this.socket = tls.connect({
        ...opts.tls,
        host: opts.host,
        port: opts.port,
        ALPNProtocols: ['http/1.1'],
        ...(opts.session ? { session: opts.session } : {}),
      });
      if (opts.onSession) this.socket.on('session', opts.onSession);
      this.socket.once('secureConnect', () => this.ready(timer));
    } else {
      this.socket = net.connect({ host: opts.host, port: opts.port });
      this.socket.once('connect', () => this.ready(timer));
    }
    this.socket.setNoDelay(true);
    keepAlive(this.socket, opts.keepalive);
    this.socket.on('error', (err) => (this.lastError = err));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => {
      clearTimeout(timer);
      this.onClose();
    });
    const p = newParser(HTTPParser.RESPONSE, CALLBACKS) as Parser;
    p[CONN] = this;
    this.parser = p;
  }

  private ready(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.connected = true;
    // From here node feeds the socket's bytes to the parser directly; 'end' and 'close' still come.
    this.parser.consume((this.socket as unknown as { _handle: unknown })._handle);
    const ex = this.ex;
    this.ex = undefined;
    if (ex && !ex.cancelled) this.send(ex);
    else this.owner.free(this);
  }

  /** Is it still safe to send a request on this idle connection? */
  usable(now: number): boolean {
    return this.connected && !this.socket.destroyed && now < this.expires;
  }

  send(ex: Exchange): void {
    this.ex = ex;
    this.responding = false;
    this.informational = false;
    this.keepAlive = true;
    this.served++;
    ex.started(this);
    const s = this.socket;
    const body = ex.body;
    if (body === undefined) {
      this.bodySent = true;
      s.write(ex.head, 'latin1');
    } else if (Buffer.isBuffer(body)) {
      this.bodySent = true;
      s.cork();
      s.write(ex.head, 'latin1');
      s.write(body);
      s.uncork();
    } else {
      this.bodySent = false;
      s.write(ex.head, 'latin1');
      body.pipe(this.bodySink(ex, body.length));
    }
  }

  /** Writes the streamed body: as it comes (content-length known) or in chunks, then marks it sent. */
  private bodySink(ex: Exchange, length: number | undefined): Writable {
    const s = this.socket;
    let sent = 0;
    const live = () => this.ex === ex && !s.destroyed;
    const sink = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (!live()) return cb(closedError());
        sent += chunk.length;
        if (length === undefined) {
          s.cork();
          s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
          s.write(chunk);
          s.write('\r\n', 'latin1', cb);
          s.uncork();
        } else if (sent > length) {
          // Never send more than the head announced: the excess would be read as another request.
          cb(new Error(`request body longer than its content-length ${length}`));
          s.destroy();
        } else s.write(chunk, cb);
      },
      final: (cb) => {
        if (!live()) return cb();
        if (length !== undefined && sent !== length) {
          cb();
          s.destroy(new Error(`request body ended after ${sent} of ${length} bytes`));
          return;
        }
        if (length === undefined) s.write('0\r\n\r\n', 'latin1');
        this.bodySent = true;
        cb();
      },
    });
    // A body still arriving when the answer ended or the connection broke has nowhere to go: its
    // writes fail, and the source stops feeding it (RequestBody forgets a sink that errored).
    sink.on('error', () => {});
    return sink;
  }

  /** Read again after `Exchange.data` returned false. */
  resume(): void {
    if (this.readTo > 0 && !this.socket.destroyed) {
      this.readTo = 0;
      (this.socket as unknown as { _handle?: { readStart(): number } })._handle?.readStart();
    }
  }

  /** Abandon the exchange under way (cancelled): the connection cannot be reused mid-answer. */
  abort(): void {
    this.ex = undefined;
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Parser: response head. Returns 1 to tell llhttp the answer has no body (HEAD). */
  head(status: number, lines: string[], keepAlive: boolean): number {
    const ex = this.ex;
    if (!ex) {
      // An answer nobody asked for (or to a request given up on): the connection cannot be trusted.
      this.socket.destroy();
      return 0;
    }
    if (status < 200) {
      this.informational = true; // 100 Continue, 103 Early Hints: the real answer follows
      return 0;
    }
    this.responding = true;
    this.keepAlive = keepAlive;
    const headers: Record<string, string | string[]> = {};
    for (let i = 0; i < lines.length; i += 2) {
      const k = this.names.get(i >> 1, lines[i]!);
      const v = lines[i + 1]!;
      const had = headers[k];
      if (had === undefined) headers[k] = v;
      else if (typeof had === 'string') headers[k] = [had, v];
      else had.push(v);
    }
    const ka = headers['keep-alive'];
    if (typeof ka === 'string' && ka !== this.keepAliveHeader) {
      this.keepAliveHeader = ka; // a server sends the same one on every answer: parsed once
      const m = KEEP_ALIVE_TIMEOUT.exec(ka);
      if (m) this.hint = Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS;
    }
    ex.headers(status, headers, lines);
    return ex.method === 'HEAD' ? 1 : 0;
  }

  body(chunk: Buffer): void {
    const ex = this.ex;
    if (!ex || !this.responding) return;
    if (!ex.data(chunk) && this.readTo === 0 && !this.socket.destroyed) {
      this.readTo = 1;
      (this.socket as unknown as { _handle?: { readStop(): number } })._handle?.readStop();
    }
  }

  complete(trailerLines: string[] | undefined): void {
    if (this.informational) {
      this.informational = false;
      return;
    }
    const ex = this.ex;
    if (!ex) return;
    this.ex = undefined;
    let trailers: Record<string, string | string[]> = {};
    if (trailerLines) {
      trailers = {};
      for (let i = 0; i < trailerLines.length; i += 2)
        trailers[trailerLines[i]!.toLowerCase()] = trailerLines[i + 1]!;
    }
    const reuse =
      this.keepAlive &&
      this.bodySent &&
      (this.opts.maxRequests === undefined || this.served < this.opts.maxRequests) &&
      (this.retiresAt === Infinity || performance.now() < this.retiresAt);
    ex.complete(trailers);
    // Reading may have been stopped for this answer's body (a slow client): an idle connection must be
    // read, to notice the server closing it and for the next answer. ('drain' never comes for a
    // response that has been ended.)
    this.resume();
    if (!reuse) {
      this.socket.destroy();
      return;
    }
    const idle =
      this.hint !== undefined ? Math.min(this.hint, this.opts.idleTimeoutMs) : this.opts.idleTimeoutMs;
    this.expires = Math.min(performance.now() + idle, this.retiresAt);
    this.owner.free(this);
  }

  parseError(err: Error): void {
    this.lastError = err;
    this.socket.destroy();
  }

  private onEnd(): void {
    // An answer without length ends with the connection: llhttp completes it only when told.
    if (this.connected && this.ex) this.parser.finish();
  }

  private onClose(): void {
    const ex = this.ex;
    this.ex = undefined;
    try {
      if (this.connected) this.parser.unconsume();
    } catch {
      // the handle is gone already
    }
    this.parser.close();
    this.owner.gone(this);
    if (ex && !ex.cancelled) {
      const err = (this.lastError as NodeJS.ErrnoException | undefined) ?? closedError();
      ex.failed(err, this.connected);
    }
  }

  /** Lines the parser delivered before the head completed (or after it: trailers). */
  take(): string[] | undefined {
    const l = this.lines;
    this.lines = undefined;
    return l;
  }

  add(lines: string[]): void {
    this.lines = this.lines ? this.lines.concat(lines) : lines;
  }
}

// The parser's callbacks, shared by every connection (`this` is the parser).
function onHeaders(this: Parser, lines: string[]): void {
  this[CONN].add(lines);
}

function onHeadersComplete(
  this: Parser,
  _major: number,
  _minor: number,
  lines: string[] | undefined,
  _method: number,
  _url: string,
  status: number,
  _message: string,
  _upgrade: boolean,
  keepAlive: boolean,
): number {
  const c = this[CONN];
  return c.head(status, lines ?? c.take() ?? [], keepAlive);
}

function onBody(this: Parser, chunk: Buffer): void {
  this[CONN].body(chunk);
}

function onMessageComplete(this: Parser): void {
  const c = this[CONN];
  c.complete(c.take());
}

function onExecute(this: Parser, ret: unknown): void {
  if (ret instanceof Error) this[CONN].parseError(ret);
}

const CALLBACKS: ParserCallbacks = {
  headers: onHeaders,
  headersComplete: onHeadersComplete,
  body: onBody,
  messageComplete: onMessageComplete,
  execute: onExecute,
};
