// One downstream HTTP/1.1 connection of the server (server.ts). Node's llhttp reads the socket itself
// (`consume`, as node:http's server does), so JS runs once per request head, body chunk and end rather
// than once per read; the parser is strict (no lenient flags): conflicting Content-Length and
// Transfer-Encoding, bare LFs, bad chunk sizes and oversized heads are parse errors, answered 400/431
// and the connection closed.
//
// Pipelined requests are handed to the pipeline as they come; their responses are written in request
// order (a later one is held until the earlier ones finish), and reading stops while too many wait.
import type net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import {
  HTTPParser,
  HeaderNames,
  newParser,
  type NativeParser,
  type ParserCallbacks,
} from '../upstream/llhttp.js';
import { H1Request, type BodySource } from './request.js';
import { H1Response, type ResponseSink } from './response.js';
import { methodName } from './methods.js';

/** What a connection needs from its server. */
export interface ConnectionServer {
  request(req: H1Request, res: H1Response): void;
  /** Upgrade or CONNECT: the socket is the handler's from here. */
  tunnel(req: H1Request, socket: net.Socket, head: Buffer): void;
  /** A malformed request or a timeout: true when a 'clientError' listener took it. */
  clientError(err: NodeJS.ErrnoException, socket: net.Socket): boolean;
  forget(conn: H1ServerConnection): void;
  /** A clock read once a second (timeouts need no more). */
  now(): number;
}

const CONN = Symbol('conn');
type Parser = NativeParser & {
  [CONN]: H1ServerConnection;
  execute(data: Buffer): number | Error;
  getCurrentBuffer(): Buffer;
};

/** Where the connection is between requests (timeouts, server.ts's sweep). */
export const enum Phase {
  /** No request under way and nothing to answer: the keep-alive timeout runs. */
  Idle,
  /** Part of a head came: the headers timeout runs. */
  Head,
  /** Head complete, body not yet: the request timeout runs. */
  Body,
  /** The request came whole; its answer is up to the pipeline. */
  Waiting,
}

/** Responses waiting behind the current one before the connection stops reading (pipelining floods). */
const MAX_PIPELINED = 16;

const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

type Handle = { readStart(): number; readStop(): number };

const BAD_REQUEST = Buffer.from('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
const TOO_LARGE = Buffer.from(
  'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
);
const TIMED_OUT = Buffer.from(
  'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
);

export class H1ServerConnection implements BodySource, ResponseSink {
  readonly socket: net.Socket;
  phase = Phase.Idle;
  /** The server's clock when the phase began (server.ts). */
  since: number;
  private readonly parser: Parser;
  private readonly handle: Handle | undefined;
  /** Responses in request order; the first is the one being written. */
  private readonly queue: H1Response[] = [];
  /** The request whose body is being parsed. */
  private req: H1Request | undefined = undefined;
  private lines: string[] | undefined = undefined;
  private url = '';
  private tunnelling: H1Request | undefined = undefined;
  /** Reasons to stop reading: 1 a body reader is full, 2 too many pipelined answers. */
  private holds = 0;
  private closing = false;
  private gone = false;
  private readonly names = new HeaderNames();
  /** Heads parsed, and as many as at the end of the last read: a read that completes none is part of
   *  a head (see `executed`). */
  private heads = 0;
  private headsBefore = 0;

  constructor(
    private readonly server: ConnectionServer,
    socket: net.Socket,
    now: number,
  ) {
    this.socket = socket;
    this.since = now;
    const p = newParser(HTTPParser.REQUEST, CALLBACKS) as Parser;
    p[CONN] = this;
    this.parser = p;
    socket.on('drain', onDrain);
    socket.on('close', onClose);
    socket.on('end', onEnd);
    socket.on('error', ignore);
    (socket as SocketWithConn)[CONN] = this;
    // Bytes a sniffer read and put back are in the socket's buffer; the rest the parser reads itself.
    const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
    const h = (socket as unknown as { _handle?: Handle & { isStreamBase?: boolean; _consumed?: boolean } })
      ._handle;
    if (h?.isStreamBase && !h._consumed) {
      h._consumed = true;
      p.consume(h);
      this.handle = h;
    } else socket.on('data', onData); // a socket without a native stream: its reads come through JS
    if (buffered) this.executed(p.execute(buffered), buffered);
  }

  /** Bytes read by JS (buffered before this connection began, or a socket that cannot be consumed). */
  data(d: Buffer): void {
    this.executed(this.parser.execute(d), d);
  }

  // ---- parser events ----

  /** Header lines (and URL parts) delivered before the head completed: heads over 32 lines. */
  add(lines: string[], url: string): void {
    this.lines = this.lines ? this.lines.concat(lines) : lines;
    this.url += url;
  }

  head(
    major: number,
    minor: number,
    lines: string[] | undefined,
    method: number,
    url: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    if (lines === undefined) {
      lines = this.lines ?? [];
      this.lines = undefined;
    }
    if (url === undefined) {
      url = this.url;
      this.url = '';
    }
    this.heads++;
    const headers = headerObject(lines, this.names);
    const name = methodName(method);
    const te = headers['transfer-encoding'];
    const len = headers['content-length'];
    const hasBody = te !== undefined || (len !== undefined && len !== '0');
    const tunnel = upgrade || name === 'CONNECT';
    const req = new H1Request(
      this,
      this.socket,
      name,
      url,
      headers,
      lines,
      major,
      minor,
      hasBody && !tunnel,
      tunnel,
    );
    if (tunnel) {
      // The rest of this read (and the socket) go to the tunnel's handler once the parser stops.
      this.tunnelling = req;
      return 2;
    }
    this.phase = hasBody ? Phase.Body : Phase.Waiting;
    this.since = this.server.now();
    this.req = hasBody ? req : undefined;
    const res = new H1Response(this, req, keepAlive && !this.closing);
    this.queue.push(res);
    if (this.queue.length > MAX_PIPELINED) this.hold(2, true);
    if (major === 1 && minor >= 1) {
      // RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
      if (headers.host === undefined) {
        res.closeConnection();
        res.writeHead(400, { 'content-length': 0 });
        res.end();
        return 0;
      }
      const expect = headers.expect;
      if (expect !== undefined) {
        if (!CONTINUE.test(expect)) {
          res.writeHead(417, { 'content-length': 0 });
          res.end();
          return 0;
        }
        if (hasBody) res.writeContinue();
      }
    }
    try {
      this.server.request(req, res);
    } catch (err) {
      // A bug in a handler: this exchange fails, the proxy stays up.
      if (!res.headersSent) {
        res.closeConnection();
        res.writeHead(500, { 'content-length': 0 });
        res.end();
      } else res.destroy(err as Error);
    }
    return 0;
  }

  body(chunk: Buffer): void {
    this.req?.push(chunk);
  }

  complete(): void {
    const req = this.req;
    this.req = undefined;
    if (this.phase === Phase.Body) this.phase = Phase.Waiting;
    this.settle();
    req?.pushEnd();
  }

  /** After the parser went through a read: a parse error, or a request that leaves HTTP (tunnel). */
  executed(ret: number | Error, data: Buffer | undefined): void {
    if (ret instanceof Error) return this.fail(ret as NodeJS.ErrnoException);
    // Bytes that completed no head while nothing was under way are the start of one: the headers timeout
    // runs from here. (Found this way rather than by the parser's message-begin callback, which cost a
    // call from C++ into JS per request; a head begun in the read that completed the one before it is
    // timed from its next read, or as idle if none comes.)
    if (this.heads === this.headsBefore) {
      if (this.phase === Phase.Idle) {
        this.phase = Phase.Head;
        this.since = this.server.now();
      }
    } else this.headsBefore = this.heads;
    const req = this.tunnelling;
    if (!req) return;
    this.tunnelling = undefined;
    const d = data ?? this.parser.getCurrentBuffer();
    const head = d.subarray(ret);
    this.release();
    // Bytes that come before the tunnel's handler listens wait in the socket (as node:http leaves it).
    (this.socket as { readableFlowing: boolean | null }).readableFlowing = null;
    this.server.tunnel(req, this.socket, Buffer.from(head));
  }

  // ---- BodySource, ResponseSink ----

  hold(reason: number | H1Request, held: boolean): void {
    const bit = typeof reason === 'number' ? reason : 1;
    const before = this.holds;
    this.holds = held ? before | bit : before & ~bit;
    if (this.gone) return;
    const h = this.handle;
    if (before === 0 && this.holds !== 0) {
      if (h) h.readStop();
      else this.socket.pause();
    } else if (before !== 0 && this.holds === 0) {
      if (h) h.readStart();
      else this.socket.resume();
    }
  }

  isCurrent(res: H1Response): boolean {
    return this.queue[0] === res;
  }

  finished(res: H1Response, close: boolean): void {
    if (this.queue[0] !== res) return;
    this.queue.shift();
    res.close();
    // A body nobody read must still be taken off the wire before the next request.
    if (!res.req.complete) res.req.dump();
    if (close) {
      this.closing = true;
      this.socket.end();
      return;
    }
    if (this.queue.length <= MAX_PIPELINED) this.hold(2, false);
    const next = this.queue[0];
    if (next) next.attach();
    this.settle();
  }

  /** Between messages: waiting for answers, or idle once all went out. */
  private settle(): void {
    if (this.phase === Phase.Head || this.req !== undefined) return;
    const phase = this.queue.length > 0 ? Phase.Waiting : Phase.Idle;
    if (phase === this.phase) return;
    this.phase = phase;
    this.since = this.server.now();
  }

  // ---- socket events ----

  drained(): void {
    this.queue[0]?.drained();
  }

  ended(): void {
    // The client sent FIN: a request cut short is a parse error; the socket ends its side itself.
    if (this.gone) return;
    const err = this.parser.finish();
    if (err instanceof Error && this.phase !== Phase.Idle) this.req?.abort();
  }

  closed(): void {
    if (this.gone) return;
    this.release();
    this.req?.abort();
    this.req = undefined;
    for (const res of this.queue) {
      res.req.abort();
      res.close();
    }
    this.queue.length = 0;
  }

  /** The server's sweep: closes a connection idle, or slow to send a request, for too long. */
  expire(reason: 'idle' | 'timeout'): void {
    if (reason === 'idle' || this.queue.length > 0) return void this.socket.destroy();
    const err = Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    this.fail(err, TIMED_OUT);
  }

  /** A malformed request (or a timeout): 400, 431 or 408 unless an answer already began, then close. */
  private fail(err: NodeJS.ErrnoException, reply?: Buffer): void {
    const s = this.socket;
    this.release();
    if (this.server.clientError(err, s)) return;
    const current = this.queue[0];
    if (s.writable && (!current || !current.headersSent))
      s.write(reply ?? (err.code === 'HPE_HEADER_OVERFLOW' ? TOO_LARGE : BAD_REQUEST));
    s.destroy();
  }

  /** Stops reading HTTP from the socket (closed, failed, or becoming a tunnel). */
  private release(): void {
    if (this.gone) return;
    this.gone = true;
    const s = this.socket;
    s.off('drain', onDrain);
    s.off('close', onClose);
    s.off('end', onEnd);
    s.off('data', onData);
    (s as SocketWithConn)[CONN] = undefined;
    if (this.handle) {
      try {
        this.parser.unconsume();
      } catch {
        // the handle is closed already
      }
      (this.handle as { _consumed?: boolean })._consumed = false;
      if (this.holds !== 0 && !s.destroyed) this.handle.readStart();
    }
    // Freed once the parser's own stack has unwound: this may run inside one of its callbacks, and
    // closing it there frees memory the native parser is still using (node:http waits the same way).
    setImmediate(closeParser, this.parser);
    this.server.forget(this);
  }
}

type SocketWithConn = net.Socket & { [CONN]: H1ServerConnection | undefined };

/** Header lines to node:http's header object: names lower-case; a repeated header joined with ", "
 *  (cookie with "; "), set-cookie an array, and the repeats of single-valued fields dropped, as
 *  IncomingMessage does (its own rules decide the rare repeat). */
function headerObject(lines: string[], names: HeaderNames): IncomingHttpHeaders {
  const h: IncomingHttpHeaders = {};
  for (let i = 0; i < lines.length; i += 2) {
    const k = names.get(i >> 1, lines[i]!);
    const v = lines[i + 1]!;
    const had = h[k];
    if (had === undefined) {
      if (k === 'set-cookie') h[k] = [v];
      else h[k] = v;
    } else addRepeat(k, v, h);
  }
  return h;
}

const DROP_REPEATS = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

function addRepeat(k: string, v: string, h: IncomingHttpHeaders): void {
  if (DROP_REPEATS.has(k)) return;
  const had = h[k];
  if (Array.isArray(had)) had.push(v);
  else h[k] = `${had as string}${k === 'cookie' ? '; ' : ', '}${v}`;
}

// The parser's callbacks and the socket's listeners, shared by every connection.
function onHeaders(this: Parser, lines: string[], url: string): void {
  this[CONN].add(lines, url);
}

function onHeadersComplete(
  this: Parser,
  major: number,
  minor: number,
  lines: string[] | undefined,
  method: number,
  url: string | undefined,
  _status: number,
  _message: string,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  return this[CONN].head(major, minor, lines, method, url, upgrade, keepAlive);
}

function onBody(this: Parser, chunk: Buffer): void {
  this[CONN].body(chunk);
}

function onMessageComplete(this: Parser): void {
  this[CONN].complete();
}

function onExecute(this: Parser, ret: number | Error): void {
  this[CONN].executed(ret, undefined);
}

const CALLBACKS: ParserCallbacks = {
  headers: onHeaders,
  headersComplete: onHeadersComplete,
  body: onBody,
  messageComplete: onMessageComplete,
  execute: onExecute,
};

function closeParser(p: Parser): void {
  p.close();
}

function onData(this: SocketWithConn, d: Buffer): void {
  this[CONN]?.data(d);
}

function onDrain(this: SocketWithConn): void {
  this[CONN]?.drained();
}

function onClose(this: SocketWithConn): void {
  this[CONN]?.closed();
}

function onEnd(this: SocketWithConn): void {
  this[CONN]?.ended();
}

function ignore(): void {
  // errors end in 'close', where the requests under way are aborted
}
