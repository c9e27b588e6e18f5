// The response side of the HTTP/1.1 server (server.ts): the part of node:http's ServerResponse the proxy
// uses (writeHead, setHeader and friends, write/end with backpressure, addTrailers, 'drain' and 'close'),
// written straight to the socket. The head goes out with the first body bytes in one buffer, so a small
// answer is one write syscall; node:http builds the same bytes through OutgoingMessage's stream state.
//
// Framing: the answer's own content-length when it has one; otherwise chunked for HTTP/1.1 clients, or
// the end of the connection for HTTP/1.0 ones. HEAD answers and 1xx/204/304 carry no body.
import { httpDate as formatHttpDate } from '../../lib/time.js';
import { ShapedEventEmitter } from '../../lib/shaped-emitter.js';
import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http';
import type net from 'node:net';
import { hasInvalidChar, isToken, validValue } from '../upstream/llhttp.js';
import type { H1Request } from './request.js';

/** What a response asks of its connection. */
export interface ResponseSink {
  /** Is this the response now being written (earlier pipelined ones are finished)? */
  isCurrent(res: H1Response): boolean;
  /** The response wrote its last byte; `close`: the connection ends after it. */
  finished(res: H1Response, close: boolean): void;
}

const CRLF = '\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
/** Body chunks up to this size are copied next to the head (one write); larger ones go by writev. */
const COPY_LIMIT = 16 * 1024;
/** Bytes a pipelined answer may hold before its turn until its writer is asked to wait. */
const HOLD_LIMIT = 64 * 1024;

/** `Date` header value, made once a second (as node:http does). */
let dateValue = '';
let dateUntil = 0;
function httpDate(): string {
  const now = Date.now();
  if (now >= dateUntil) {
    dateValue = formatHttpDate(now);
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateValue;
}

function invalid(code: string, message: string): TypeError {
  return Object.assign(new TypeError(message), { code });
}

export class H1Response extends ShapedEventEmitter {
  statusCode = 200;
  statusMessage: string | undefined = undefined;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  readonly req: H1Request;
  readonly socket: net.Socket;

  private headers: OutgoingHttpHeaders | undefined = undefined;
  /** The upstream answer's header lines as a strict parse gave them (validValue, llhttp.ts). */
  private parsed: readonly string[] | undefined = undefined;
  private trailers: OutgoingHttpHeaders | undefined = undefined;
  private head: string | undefined = undefined;
  private chunked = false;
  private bodyless: boolean;
  private closeAfter: boolean;
  /** Output held while an earlier pipelined response is still being written, and its size. */
  private pending: Buffer[] | undefined = undefined;
  private pendingBytes = 0;
  private needDrain = false;
  private closed = false;

  /** See answerParsed. */
  useParsed(lines: readonly string[]): void {
    this.parsed = lines;
  }

  constructor(
    private readonly sink: ResponseSink,
    req: H1Request,
    keepAlive: boolean,
  ) {
    super();
    this.req = req;
    this.socket = req.socket;
    this.bodyless = req.method === 'HEAD';
    this.closeAfter = !keepAlive;
  }

  get writableNeedDrain(): boolean {
    return this.needDrain;
  }

  get finished(): boolean {
    return this.writableEnded;
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    if (this.headersSent) throw invalid('ERR_HTTP_HEADERS_SENT', 'Cannot set headers after they are sent');
    if (typeof value === 'string') line(name, value, undefined);
    else if (typeof value !== 'number') for (const v of value) line(name, v, undefined);
    (this.headers ??= {})[name.toLowerCase()] = value as OutgoingHttpHeaders[string];
    return this;
  }

  getHeader(name: string): OutgoingHttpHeaders[string] {
    return this.headers?.[name.toLowerCase()];
  }

  getHeaders(): OutgoingHttpHeaders {
    return this.headers ?? {};
  }

  getHeaderNames(): string[] {
    return this.headers ? Object.keys(this.headers) : [];
  }

  hasHeader(name: string): boolean {
    return this.headers?.[name.toLowerCase()] !== undefined;
  }

  removeHeader(name: string): void {
    if (this.headersSent) throw invalid('ERR_HTTP_HEADERS_SENT', 'Cannot remove headers after they are sent');
    if (this.headers) delete this.headers[name.toLowerCase()];
  }

  writeHead(status: number, reason?: string | OutgoingHttpHeaders, headers?: OutgoingHttpHeaders): this {
    if (this.headersSent) throw invalid('ERR_HTTP_HEADERS_SENT', 'Cannot write headers after they are sent');
    if (typeof reason === 'string') {
      if (hasInvalidChar(reason)) throw invalid('ERR_INVALID_CHAR', 'Invalid character in statusMessage');
      this.statusMessage = reason;
    } else headers = reason;
    if (!(status >= 100 && status <= 999))
      throw invalid('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${status}`);
    let h = this.headers;
    if (headers) {
      if (h === undefined) h = headers;
      else {
        h = { ...h };
        for (const k in headers) h[k.toLowerCase()] = headers[k];
      }
    }
    // Nothing is kept from a head that failed (an invalid header): the caller may answer otherwise.
    this.head = this.buildHead(status, h);
    this.statusCode = status;
    this.headers = h;
    this.headersSent = true;
    return this;
  }

  /** Written with the response's last chunk (chunked framing only; dropped otherwise, as node:http does). */
  addTrailers(t: OutgoingHttpHeaders): void {
    this.trailers = this.trailers ? Object.assign(this.trailers, t) : { ...t };
  }

  write(chunk: Buffer | string, encoding?: BufferEncoding | (() => void), cb?: () => void): boolean {
    if (typeof encoding === 'function') cb = encoding;
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const buf =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
        : chunk;
    if (buf.length === 0 || this.bodyless) return true;
    const ok = this.chunked
      ? this.send(`${buf.length.toString(16)}\r\n`, buf, CRLF)
      : this.send(undefined, buf);
    if (cb) process.nextTick(cb);
    return ok;
  }

  end(
    chunk?: Buffer | string | (() => void),
    encoding?: BufferEncoding | (() => void),
    cb?: () => void,
  ): this {
    if (typeof chunk === 'function') cb = chunk;
    else if (typeof encoding === 'function') cb = encoding;
    if (this.writableEnded || this.destroyed) return this;
    if (chunk !== undefined && typeof chunk !== 'function') {
      const buf =
        typeof chunk === 'string'
          ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
          : chunk;
      // A body given whole to end() without a content-length gets one rather than chunked framing.
      if (
        !this.headersSent &&
        !this.bodyless &&
        this.headers?.['content-length'] === undefined &&
        this.headers?.['transfer-encoding'] === undefined
      )
        (this.headers ??= {})['content-length'] = buf.length;
      if (buf.length > 0) this.write(buf);
    }
    if (!this.headersSent) {
      if (
        !this.bodyless &&
        this.headers?.['content-length'] === undefined &&
        this.headers?.['transfer-encoding'] === undefined &&
        bodyAllowed(this.statusCode)
      )
        (this.headers ??= {})['content-length'] = 0;
      this.writeHead(this.statusCode);
    }
    this.writableEnded = true;
    if (this.chunked) this.send(undefined, undefined, this.trailers ? lastChunk(this.trailers) : LAST_CHUNK);
    else if (this.head !== undefined) this.send(undefined, undefined); // a head with no body bytes
    this.writableFinished = true;
    if (this.sink.isCurrent(this)) this.sink.finished(this, this.closeAfter);
    if (cb) process.nextTick(cb);
    return this;
  }

  /** Closes the connection: a response cut short must not pass for a complete one. */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.socket.destroy(err);
    return this;
  }

  writeContinue(): void {
    this.send('HTTP/1.1 100 Continue\r\n\r\n', undefined);
  }

  // ---- from the connection ----

  /** Now the current response: writes what was held, and finishes if it had ended already. */
  attach(): void {
    const p = this.pending;
    this.pending = undefined;
    this.pendingBytes = 0;
    if (p) for (const c of p) this.socket.write(c);
    if (this.writableEnded) this.sink.finished(this, this.closeAfter);
    // A writer told to wait while this answer was held may go on unless the socket itself is full.
    else if (this.needDrain && !this.socket.writableNeedDrain) this.drained();
  }

  /** The socket drained. */
  drained(): void {
    if (!this.needDrain) return;
    this.needDrain = false;
    this.emit('drain');
  }

  /** The exchange is over (finished, or the connection closed): 'close' once, after the current tick. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.writableFinished) this.destroyed = true;
    process.nextTick(emitClose, this);
  }

  /** Forces the connection to end after this response. */
  closeConnection(): void {
    this.closeAfter = true;
  }

  /** Writes the head (if not yet out) and these parts: small ones copied into one buffer, so the
   *  common answer (head and a body chunk) is one write; held while an earlier response is current. */
  private send(prefix: string | undefined, body: Buffer | undefined, suffix?: string | Buffer): boolean {
    const head = this.head;
    this.head = undefined;
    if (!this.sink.isCurrent(this)) {
      if (head !== undefined) this.hold(head);
      if (prefix !== undefined) this.hold(prefix);
      if (body !== undefined) this.hold(body);
      if (suffix !== undefined) this.hold(suffix);
      // Held answers are bounded as a socket's buffer is: past it the writer waits for 'drain'.
      if (this.pendingBytes < HOLD_LIMIT) return true;
      this.needDrain = true;
      return false;
    }
    const s = this.socket;
    let ok: boolean;
    if (head === undefined && prefix === undefined && suffix === undefined) {
      if (body === undefined) return true;
      ok = s.write(body);
    } else if (body !== undefined && body.length > COPY_LIMIT) {
      s.cork();
      if (head !== undefined) s.write(head, 'latin1');
      if (prefix !== undefined) s.write(prefix, 'latin1');
      s.write(body);
      if (suffix !== undefined) s.write(suffix as Buffer);
      ok = !s.writableNeedDrain;
      s.uncork();
    } else {
      const hl = head === undefined ? 0 : head.length; // latin1: one byte per character
      const pl = prefix === undefined ? 0 : prefix.length;
      const bl = body === undefined ? 0 : body.length;
      const sl = suffix === undefined ? 0 : suffix.length;
      const b = Buffer.allocUnsafe(hl + pl + bl + sl);
      if (head !== undefined) b.write(head, 0, 'latin1');
      if (prefix !== undefined) b.write(prefix, hl, 'latin1');
      if (body !== undefined) body.copy(b, hl + pl);
      if (suffix !== undefined) {
        if (typeof suffix === 'string') b.write(suffix, hl + pl + bl, 'latin1');
        else suffix.copy(b, hl + pl + bl);
      }
      ok = s.write(b);
    }
    if (!ok) this.needDrain = true;
    return ok;
  }

  private hold(c: string | Buffer): void {
    const b = typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
    (this.pending ??= []).push(b);
    this.pendingBytes += b.length;
  }

  private buildHead(status: number, h: OutgoingHttpHeaders | undefined): string {
    let s = `HTTP/1.1 ${status} ${this.statusMessage ?? STATUS_CODES[status] ?? 'unknown'}\r\n`;
    let length = false;
    let te: string | undefined;
    let date = false;
    let connection: string | undefined;
    if (h)
      for (const k in h) {
        const v = h[k];
        if (v === undefined) continue;
        const lk = k.length <= 17 ? headerKind(k) : 0;
        if (lk === CONTENT_LENGTH) length = true;
        else if (lk === TRANSFER_ENCODING) te = String(v);
        else if (lk === DATE) date = true;
        else if (lk === CONNECTION) connection = String(v).toLowerCase();
        if (typeof v === 'string') s += line(k, v, this.parsed);
        else if (typeof v === 'number') s += `${k}: ${v}\r\n`;
        else for (const one of v) s += line(k, one, undefined);
      }
    if (!date) s += `date: ${httpDate()}\r\n`;
    if (connection !== undefined && connection.includes('close')) this.closeAfter = true;
    const noBody = this.bodyless || !bodyAllowed(status);
    if (noBody) {
      if (te !== undefined && !this.bodyless)
        throw invalid('ERR_HTTP_BODY_NOT_ALLOWED', `${status} answers carry no body`);
    } else if (te !== undefined) {
      this.chunked = /(?:^|,)\s*chunked\s*$/i.test(te);
      if (!this.chunked) this.closeAfter = true; // another coding: the body ends with the connection
    } else if (!length) {
      if (this.req.httpVersionMinor >= 1) {
        this.chunked = true;
        s += 'transfer-encoding: chunked\r\n';
      } else this.closeAfter = true;
    }
    if (this.closeAfter && connection === undefined) s += 'connection: close\r\n';
    else if (!this.closeAfter && this.req.httpVersionMinor === 0 && connection === undefined)
      s += 'connection: keep-alive\r\n';
    return s + CRLF;
  }
}

const CONTENT_LENGTH = 1;
const TRANSFER_ENCODING = 2;
const DATE = 3;
const CONNECTION = 4;

/** Headers whose presence changes the framing (names come lower-case from the proxy; others are
 *  lower-cased only when they start with a capital). */
function headerKind(name: string): number {
  const k = name.charCodeAt(0) < 97 ? name.toLowerCase() : name;
  switch (k.length) {
    case 14:
      return k === 'content-length' ? CONTENT_LENGTH : 0;
    case 17:
      return k === 'transfer-encoding' ? TRANSFER_ENCODING : 0;
    case 4:
      return k === 'date' ? DATE : 0;
    case 10:
      return k === 'connection' ? CONNECTION : 0;
    default:
      return 0;
  }
}

/** One header line, refusing what would split the head (header injection), as node:http does. */
function line(k: string, v: string, parsed: readonly string[] | undefined): string {
  if (!isToken(k)) throw invalid('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${k}"]`);
  if (!validValue(v, parsed))
    throw invalid('ERR_INVALID_CHAR', `Invalid character in header content ["${k}"]`);
  return `${k}: ${v}\r\n`;
}

function bodyAllowed(status: number): boolean {
  return status >= 200 && status !== 204 && status !== 304;
}

function lastChunk(t: OutgoingHttpHeaders): Buffer {
  let s = '0\r\n';
  for (const k in t) {
    const v = t[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) s += line(k, String(one), undefined);
    else s += line(k, String(v), undefined);
  }
  return Buffer.from(s + CRLF, 'latin1');
}

function emitClose(r: H1Response): void {
  if (r.writableFinished) r.emit('finish');
  r.emit('close');
}

/** Before writeHead: the header lines of the upstream answer being passed on, as a strict parse gave
 *  them, so that its values are not checked twice (validValue, llhttp.ts). Other responses ignore it. */
export function answerParsed(res: unknown, parsed: readonly string[] | undefined): void {
  if (parsed !== undefined && res instanceof H1Response) res.useParsed(parsed);
}
