// The proxy's HTTP/2 server side (h2c from apps and edge clients, h2 over mTLS from peer proxies) on
// Node's core stream API. Each stream is handed to the pipeline as a request and a response carrying the
// part of node:http2's compatibility API (Http2ServerRequest/Response) the proxy uses; every call goes
// straight to the ServerHttp2Stream, whose readable side is the request body and writable side the
// response body.
//
// Why (bench/README.md): the compatibility layer wraps each stream in two more stream objects, a Readable
// that copies the body chunk by chunk and a response with its own state, and adds about ten listeners to
// the stream, one of them a fresh closure, per request. gRPC unary through two sidecars was the proxy's
// costliest path, with GC and node's HTTP/2 JS the largest shares of it.
//
// What the compatibility layer does that is kept: CONNECT answered 405, `Expect: 100-continue` answered
// with a 100 and other expectations with 417, response trailers sent when the body ends (the stream is
// opened with waitForTrailers), `connection` headers dropped (with the other connection-specific ones
// HTTP/2 forbids), and a stream error never left unhandled.
import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type net from 'node:net';
import type { RequestHandler } from '../http1/server.js';
import { SESSION_WINDOW, STREAM_WINDOW } from '../transport/h2-sessions.js';
import type { IncomingMessage, ServerResponse } from 'node:http';

const TRAILERS = Symbol('trailers');
type Stream = ServerHttp2Stream & { [TRAILERS]: OutgoingHttpHeaders | undefined };

// EventEmitter's own listener type.
type Listener = Parameters<ServerHttp2Stream['off']>[1];

/** Headers HTTP/2 does not allow (RFC 9113 8.2.2): dropped from responses rather than failing them. */
function connectionSpecific(k: string): boolean {
  switch (k) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
      return true;
    default:
      return false;
  }
}

/** Listeners go to the stream itself: its 'data', 'end' and 'readable' are the request body's, its
 *  'drain' and 'close' the response's. */
abstract class OnStream {
  abstract readonly stream: ServerHttp2Stream;

  on(event: string, fn: Listener): this {
    this.stream.on(event, fn);
    return this;
  }
  once(event: string, fn: Listener): this {
    this.stream.once(event, fn);
    return this;
  }
  off(event: string, fn: Listener): this {
    this.stream.off(event, fn);
    return this;
  }
  removeListener(event: string, fn: Listener): this {
    return this.off(event, fn);
  }
  listenerCount(event: string): number {
    return this.stream.listenerCount(event);
  }
}

export class H2Request extends OnStream {
  readonly stream: ServerHttp2Stream;
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  url: string;
  readonly httpVersion = '2.0';
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  readonly socket: net.Socket;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders) {
    super();
    this.stream = stream;
    this.headers = headers;
    this.method = headers[':method'] ?? 'GET';
    this.url = (this.method === 'CONNECT' ? headers[':authority'] : headers[':path']) ?? '/';
    this.socket = stream.session!.socket as net.Socket;
  }

  get complete(): boolean {
    const s = this.stream;
    return s.readableEnded || s.aborted || s.destroyed;
  }
  get readableEnded(): boolean {
    return this.stream.readableEnded;
  }
  get readableLength(): number {
    return this.stream.readableLength;
  }
  get readableDidRead(): boolean {
    return this.stream.readableDidRead;
  }
  get destroyed(): boolean {
    return this.stream.destroyed;
  }
  get aborted(): boolean {
    return this.stream.aborted;
  }

  pause(): this {
    this.stream.pause();
    return this;
  }
  resume(): this {
    this.stream.resume();
    return this;
  }
  read(n?: number): Buffer | null {
    return this.stream.read(n) as Buffer | null;
  }
  unshift(chunk: Buffer): void {
    this.stream.unshift(chunk);
  }
  destroy(err?: Error): this {
    this.stream.destroy(err);
    return this;
  }
}

export class H2Response extends OnStream {
  statusCode = 200;
  readonly statusMessage = '';
  readonly stream: Stream;
  private headers: OutgoingHttpHeaders | undefined = undefined;
  private ending = false;

  constructor(stream: ServerHttp2Stream) {
    super();
    this.stream = stream as Stream;
    this.stream[TRAILERS] = undefined;
  }

  get socket(): net.Socket | undefined {
    return this.stream.session?.socket as net.Socket | undefined;
  }
  get headersSent(): boolean {
    return this.stream.headersSent;
  }
  get writableEnded(): boolean {
    return this.ending;
  }
  get finished(): boolean {
    return this.ending;
  }
  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }
  get writableNeedDrain(): boolean {
    return this.stream.writableNeedDrain;
  }
  get writableLength(): number {
    return this.stream.writableLength;
  }
  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    if (this.stream.headersSent)
      throw Object.assign(new Error('Response has already been initiated.'), {
        code: 'ERR_HTTP2_HEADERS_SENT',
      });
    (this.headers ??= {})[name.toLowerCase()] = value as OutgoingHttpHeaders[string];
    return this;
  }
  getHeader(name: string): OutgoingHttpHeaders[string] {
    return this.headers?.[name.toLowerCase()];
  }
  getHeaders(): OutgoingHttpHeaders {
    return this.headers ?? {};
  }
  hasHeader(name: string): boolean {
    return this.headers?.[name.toLowerCase()] !== undefined;
  }
  removeHeader(name: string): void {
    if (this.headers) delete this.headers[name.toLowerCase()];
  }

  writeHead(status: number, reason?: string | OutgoingHttpHeaders, headers?: OutgoingHttpHeaders): this {
    const s = this.stream;
    if (s.destroyed || s.closed) return this;
    if (s.headersSent)
      throw Object.assign(new Error('Response has already been initiated.'), {
        code: 'ERR_HTTP2_HEADERS_SENT',
      });
    if (typeof reason === 'object') headers = reason;
    this.statusCode = status;
    // One object for respond(), built in one loop (no spread, no copy of the caller's object).
    const out: OutgoingHttpHeaders = { ':status': status };
    const own = this.headers;
    if (own) for (const k in own) if (!connectionSpecific(k)) out[k] = own[k];
    if (headers)
      for (const k in headers) {
        const lk = k.charCodeAt(0) < 97 ? k.toLowerCase() : k;
        if (!connectionSpecific(lk) && headers[k] !== undefined) out[lk] = headers[k];
      }
    this.headers = out;
    s.respond(out, { endStream: this.ending, waitForTrailers: true });
    return this;
  }

  addTrailers(t: OutgoingHttpHeaders): void {
    const s = this.stream;
    s[TRAILERS] = s[TRAILERS] ? Object.assign(s[TRAILERS], t) : { ...t };
  }

  write(chunk: Buffer | string, encoding?: BufferEncoding | (() => void), cb?: () => void): boolean {
    const s = this.stream;
    if (this.ending || s.destroyed || s.closed) return false;
    if (!s.headersSent) this.writeHead(this.statusCode);
    if (typeof encoding === 'function') return s.write(chunk, encoding);
    return encoding ? s.write(chunk, encoding, cb) : s.write(chunk, cb);
  }

  end(
    chunk?: Buffer | string | (() => void),
    encoding?: BufferEncoding | (() => void),
    cb?: () => void,
  ): this {
    if (this.ending) return this;
    if (typeof chunk === 'function') cb = chunk;
    else if (typeof encoding === 'function') cb = encoding;
    else if (chunk !== undefined) this.write(chunk, encoding);
    this.ending = true;
    const s = this.stream;
    if (cb) s.once('finish', cb);
    if (!s.headersSent)
      this.writeHead(this.statusCode); // ends the stream with its headers
    else if (!s.destroyed) s.end();
    return this;
  }

  destroy(err?: Error): this {
    this.stream.destroy(err);
    return this;
  }

  writeContinue(): void {
    if (!this.stream.headersSent && !this.stream.destroyed) this.stream.additionalHeaders({ ':status': 100 });
  }
}

/**
 * For clients the proxy trusts with memory (peer proxies over mTLS, the local app): one session carries
 * everything such a client sends, so it gets the same receive windows as our client sessions
 * (transport/h2-sessions.ts), request bodies are not held back 64 KiB at a time, and more session memory
 * than Node's 10 MB before streams are refused (ENHANCE_YOUR_CALM). Gateways, facing the internet, keep
 * Node's limits.
 */
const WIDE: http2.ServerOptions = {
  settings: { initialWindowSize: STREAM_WINDOW },
  maxSessionMemory: 64,
};

function openWindow(session: http2.ServerHttp2Session): void {
  session.setLocalWindowSize(SESSION_WINDOW);
}

function onWantTrailers(this: Stream): void {
  this.sendTrailers(this[TRAILERS] ?? {});
}

function ignoreError(): void {
  // A reset or broken stream also closes it: whoever waits on it hears 'close'.
}

/**
 * Hands every new stream of an HTTP/2 server to `handler` as a request and a response. The listeners
 * added per stream are shared functions.
 */
export function serveStreams(
  server: http2.Http2Server | http2.Http2SecureServer,
  handler: RequestHandler,
): void {
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', ignoreError);
    stream.on('wantTrailers', onWantTrailers);
    const req = new H2Request(stream, headers);
    const res = new H2Response(stream);
    if (req.method === 'CONNECT') {
      res.statusCode = 405;
      return void res.end();
    }
    const expect = headers.expect;
    if (expect !== undefined) {
      if (expect !== '100-continue') {
        res.statusCode = 417;
        return void res.end();
      }
      res.writeContinue();
    }
    // The pipeline is written against node:http's types; these objects carry the part of them it uses.
    handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  });
}

/**
 * A cleartext HTTP/2 server for a listener (`wide`: see WIDE). WEFT_PROXY_H2_SERVER=compat uses node:http2's compatibility
 * API instead: kept so the two can be compared side by side (bench/README.md).
 */
export function createH2cServer(handler: RequestHandler, wide = false): http2.Http2Server {
  if (process.env.WEFT_PROXY_H2_SERVER === 'compat')
    return http2.createServer(
      {},
      handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
  const server = http2.createServer(wide ? WIDE : {});
  if (wide) server.on('session', openWindow);
  serveStreams(server, handler);
  return server;
}
