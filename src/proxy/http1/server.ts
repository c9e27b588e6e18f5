// The proxy's HTTP/1.1 server: downstream connections (apps to the outbound listener, peers to the
// inbound one, clients to gateways) parsed by Node's llhttp reading the socket itself, with requests and
// responses of our own (request.ts, response.ts) instead of node:http's IncomingMessage and
// ServerResponse streams. It takes sockets the way node:http's server does (`emit('connection', s)`),
// emits 'upgrade' and 'connect' with (req, socket, head), and 'clientError' when someone listens.
//
// Why (bench/README.md): in a sidecar under load node:http's request and response stream machinery
// (_http_server, _http_outgoing, _http_incoming, Readable/Writable state, their nextTicks) was 10-15% of
// the samples for work the proxy does not need: it reads a body only when there is one and writes
// an answer's head and first bytes in one buffer.
//
// Timeouts are node:http's defaults, checked once a second rather than with a timer per connection:
// the whole head within 60 s (slow-header clients), the whole request within 300 s, and an idle
// keep-alive connection closed after `keepAliveTimeout`.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { H1ServerConnection, Phase, type ConnectionServer } from './connection.js';
import type { H1Request } from './request.js';
import type { H1Response } from './response.js';

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** The part of node:http's Server the listeners use. */
export interface H1Listener extends EventEmitter {
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
}

const SWEEP_MS = 1000;

export class H1Server extends EventEmitter implements ConnectionServer, H1Listener {
  keepAliveTimeout = 5_000;
  headersTimeout = 60_000;
  requestTimeout = 300_000;
  private readonly conns = new Set<H1ServerConnection>();
  private clock = performance.now();
  private sweeper: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly handler: RequestHandler) {
    super();
    this.on('connection', (socket: net.Socket) => this.accept(socket));
  }

  accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.clock = performance.now();
    this.conns.add(new H1ServerConnection(this, socket, this.clock));
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  /** Closes every connection (tests, shutdown). */
  closeAllConnections(): void {
    for (const c of this.conns) c.socket.destroy();
  }

  // ---- ConnectionServer ----

  now(): number {
    return this.clock;
  }

  request(req: H1Request, res: H1Response): void {
    // The pipeline is written against node:http's types; these objects carry the part of them it uses.
    this.handler(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
  }

  tunnel(req: H1Request, socket: net.Socket, head: Buffer): void {
    const event = req.method === 'CONNECT' ? 'connect' : 'upgrade';
    if (this.listenerCount(event) === 0) return void socket.destroy();
    this.emit(event, req, socket, head);
  }

  clientError(err: NodeJS.ErrnoException, socket: net.Socket): boolean {
    return this.emit('clientError', err, socket);
  }

  forget(conn: H1ServerConnection): void {
    this.conns.delete(conn);
    if (this.conns.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private sweep(): void {
    const now = (this.clock = performance.now());
    for (const c of this.conns) {
      const age = now - c.since;
      switch (c.phase) {
        case Phase.Idle:
          if (this.keepAliveTimeout > 0 && age > this.keepAliveTimeout) c.expire('idle');
          break;
        case Phase.Head:
          if (this.headersTimeout > 0 && age > this.headersTimeout) c.expire('timeout');
          break;
        case Phase.Body:
          if (this.requestTimeout > 0 && age > this.requestTimeout) c.expire('timeout');
          break;
        default:
          break;
      }
    }
  }
}

/**
 * The HTTP/1.1 server for a listener. WEFT_PROXY_H1_SERVER=node uses node:http's instead: kept so the two
 * can be compared side by side (bench/README.md) and as a way back should this one misbehave.
 */
export function createH1Server(handler: RequestHandler): H1Listener {
  if (process.env.WEFT_PROXY_H1_SERVER === 'node') return http.createServer({ keepAlive: true }, handler);
  return new H1Server(handler);
}
