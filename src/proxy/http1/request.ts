// A request as the HTTP/1.1 server (server.ts) hands it to the pipeline: the fields and the part of the
// Readable surface the proxy uses of node:http's IncomingMessage (url, method, headers, httpVersion,
// socket; 'data'/'end'/'readable', pause/resume/read/unshift for the body), without a stream per request.
//
// Most requests have no body: they are created ended (readableEnded, complete) and never schedule an
// event. A body is passed on as it arrives: 'data' at once while flowing, kept while paused, and the
// connection stops reading while more than HIGH_WATER bytes wait (the client is slowed down, TCP's way).
import { EventEmitter } from 'node:events';
import { ShapedEventEmitter } from '../../lib/shaped-emitter.js';
import type { IncomingHttpHeaders } from 'node:http';
import type net from 'node:net';

/** What a request asks of its connection. */
export interface BodySource {
  /** Stop (true) or restart (false) reading the socket for this request's body. */
  hold(request: H1Request, held: boolean): void;
}

/** Bytes kept for a paused reader before the connection stops reading (IncomingMessage's default). */
const HIGH_WATER = 16 * 1024;

const NONE: Buffer[] = [];

// EventEmitter's own listener type.
type Listener = Parameters<EventEmitter['on']>[1];

export class H1Request extends ShapedEventEmitter {
  readonly method: string;
  url: string;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: net.Socket;
  /** An Upgrade or CONNECT request: the connection becomes a tunnel (server.ts). */
  readonly upgrade: boolean;
  /** The header lines as the parser gave them (name, value, ...): see parsedLines. */
  readonly lines: readonly string[];
  /** The whole body came from the client. */
  complete: boolean;
  /** 'end' was emitted, or there was no body to read. */
  readableEnded: boolean;
  readableDidRead = false;
  destroyed = false;
  aborted = false;

  private chunks: Buffer[] = NONE;
  private length = 0;
  /** null: no reader yet; true: 'data' listeners get chunks as they come; false: paused or 'readable' mode. */
  private flowing: boolean | null = null;
  private held = false;
  private dumped = false;
  private flushQueued = false;

  constructor(
    private readonly source: BodySource,
    socket: net.Socket,
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    lines: readonly string[],
    major: number,
    minor: number,
    hasBody: boolean,
    upgrade: boolean,
  ) {
    super();
    this.lines = lines;
    this.socket = socket;
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.httpVersionMajor = major;
    this.httpVersionMinor = minor;
    this.httpVersion = major === 1 && minor === 1 ? '1.1' : `${major}.${minor}`;
    this.upgrade = upgrade;
    this.complete = !hasBody;
    this.readableEnded = !hasBody;
  }

  get readableLength(): number {
    return this.length;
  }

  override on(event: string | symbol, fn: Listener): this {
    super.on(event, fn);
    if (event === 'data') {
      // As Readable: a 'data' listener starts the flow unless the reader paused it.
      if (this.flowing !== false) this.resume();
    } else if (event === 'readable') {
      this.flowing = false;
      if (this.length > 0 || (this.complete && !this.readableEnded)) this.queueFlush();
    }
    return this;
  }

  override addListener(event: string | symbol, fn: Listener): this {
    return this.on(event, fn);
  }

  override off(event: string | symbol, fn: Listener): this {
    super.off(event, fn);
    // The last 'readable' reader gone: a later 'data' listener starts the flow again.
    if (event === 'readable' && this.listenerCount('readable') === 0 && this.flowing === false)
      this.flowing = null;
    return this;
  }

  override removeListener(event: string | symbol, fn: Listener): this {
    return this.off(event, fn);
  }

  resume(): this {
    if (this.readableEnded) return this;
    this.flowing = true;
    if (this.length > 0 || this.complete) this.queueFlush();
    else this.hold(false);
    return this;
  }

  pause(): this {
    if (!this.readableEnded) this.flowing = false;
    return this;
  }

  isPaused(): boolean {
    return this.flowing === false;
  }

  /** `n` bytes (all that is kept when absent or more), or null when nothing is kept. */
  read(n?: number): Buffer | null {
    if (this.length === 0) return null;
    this.readableDidRead = true;
    let out: Buffer;
    if (n === undefined || n >= this.length) {
      out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
      this.chunks = [];
      this.length = 0;
    } else {
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
      out = all.subarray(0, n);
      this.chunks = [all.subarray(n)];
      this.length -= n;
    }
    if (this.length < HIGH_WATER) this.hold(false);
    return out;
  }

  unshift(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.chunks === NONE) this.chunks = [];
    this.chunks.unshift(chunk);
    this.length += chunk.length;
  }

  /** Abandons the request; an unfinished body takes the connection with it (as IncomingMessage). */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (!this.complete) {
      this.aborted = true;
      this.socket.destroy(err);
    }
    if (err) process.nextTick(emitError, this, err);
    process.nextTick(emitClose, this);
    return this;
  }

  // ---- from the connection ----

  /** A body chunk from the parser. */
  push(chunk: Buffer): void {
    if (this.dumped || this.destroyed) return;
    if (this.flowing === true && this.length === 0) {
      this.readableDidRead = true;
      this.emit('data', chunk);
      return;
    }
    if (this.chunks === NONE) this.chunks = [];
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.length >= HIGH_WATER) this.hold(true);
    if (this.flowing !== true && this.listenerCount('readable') > 0) this.queueFlush();
  }

  /** The body's last byte came. */
  pushEnd(): void {
    this.complete = true;
    if (this.readableEnded) return;
    if (this.dumped) {
      this.readableEnded = true;
      return;
    }
    if (this.flowing === true || this.listenerCount('readable') > 0) this.queueFlush();
  }

  /** Nobody will read the rest of the body (the response is complete): drop it, so the connection
   *  can read the next request (IncomingMessage's _dump). */
  dump(): void {
    if (this.readableEnded) return;
    this.dumped = true;
    this.chunks = NONE;
    this.length = 0;
    if (this.complete) this.readableEnded = true;
    this.hold(false);
  }

  /** The connection closed before the whole body came. */
  abort(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (!this.complete) {
      this.aborted = true;
      this.emit('aborted');
    }
    process.nextTick(emitClose, this);
  }

  private hold(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    this.source.hold(this, held);
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(flush, this);
  }

  /** Delivers what is kept: as 'data' while flowing, else one 'readable'; then 'end' once all is read. */
  flush(): void {
    this.flushQueued = false;
    if (this.destroyed || this.dumped) return;
    if (this.flowing === true) {
      while (this.flowing === true && this.length > 0) {
        const c = this.chunks.shift()!;
        this.length -= c.length;
        this.readableDidRead = true;
        this.emit('data', c);
      }
      if (this.length < HIGH_WATER) this.hold(false);
    } else if (this.listenerCount('readable') > 0 && (this.length > 0 || this.complete)) {
      this.emit('readable');
    }
    // A reader that took everything of a complete body sees its end next (as with Readable).
    if (this.complete && this.length === 0 && !this.readableEnded && !this.dumped) {
      this.readableEnded = true;
      this.emit('end');
    }
  }
}

function flush(r: H1Request): void {
  r.flush();
}

function emitClose(r: H1Request): void {
  r.emit('close');
}

function emitError(r: H1Request, err: Error): void {
  if (r.listenerCount('error') > 0) r.emit('error', err);
}

/** A request's header lines as the HTTP/1.1 server's strict parse gave them, for validValue (llhttp.ts);
 *  undefined for any other request (HTTP/2, node:http's). */
export function parsedLines(req: unknown): readonly string[] | undefined {
  return req instanceof H1Request ? req.lines : undefined;
}
