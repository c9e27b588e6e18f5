// Keep-alive HTTP/1.1 connection pools, one undici Pool per origin (address, port, TLS settings).
//
// Why undici and not node:http's Agent: measured on this 2-core box, a one-hop proxy (node:http server
// in, nginx behind) spent 131 µs of CPU per request with http.request + Agent and 77 µs with undici's
// dispatch API, which parses with llhttp and hands the body over as Buffers without an IncomingMessage
// stream in between (bench/README.md, "HTTP/1.1 client"). Each proxy makes one such call per request.
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { Pool } from './undici-core.js';

export interface H1PoolOptions {
  /** Idle keep-alive connections are closed after this long. */
  idleTimeoutMs: number;
  /** DestinationRule connectionPool.tcp.maxConnections: per endpoint (unlimited when absent). */
  maxConnections?: number;
  /** connectionPool.http.maxRequestsPerConnection: 1 turns keep-alive off. */
  maxRequestsPerConnection?: number;
}

/** Where a pool connects: plaintext, or TLS with these settings (mesh mTLS or TLS origination). */
export interface H1Origin {
  host: string;
  port: number;
  plain?: boolean;
  tls?: Pick<
    ConnectionOptions,
    'secureContext' | 'servername' | 'checkServerIdentity' | 'rejectUnauthorized'
  >;
  /** Distinguishes origins whose TLS settings the fields above do not name, e.g. the peer identity
   *  `checkServerIdentity` expects (a function cannot be a key). */
  key?: string;
}

const SWEEP_MS = 60_000;

export class H1Pools {
  private readonly pools = new Map<string, { pool: Pool; ctx: SecureContext | undefined; used: boolean }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly opts: H1PoolOptions) {
    // Endpoints come and go with snapshots: a pool nobody used for a sweep period is closed.
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  get(o: H1Origin, connectTimeoutMs: number): Pool {
    // One short string per request (~0.1 µs) against ~200 µs of CPU a proxied request costs: not worth
    // a cache keyed by endpoint objects that snapshots replace.
    const k = `${o.plain ? 'h' : 's'}|${o.host}|${o.port}|${o.tls?.servername ?? ''}|${o.key ?? ''}|${connectTimeoutMs}`;
    const ctx = o.plain ? undefined : o.tls?.secureContext;
    const e = this.pools.get(k);
    if (e && e.ctx === ctx) {
      e.used = true;
      return e.pool;
    }
    // A rotated workload certificate comes as a new secure context: new connections must present it.
    // Connections of the old pool finish what they carry, then close.
    if (e) void e.pool.close().catch(() => {});
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    const pool = new Pool(`${o.plain ? 'http' : 'https'}://${host}:${o.port}`, {
      connections: this.opts.maxConnections ?? null,
      pipelining: 1,
      keepAliveTimeout: this.opts.idleTimeoutMs,
      keepAliveMaxTimeout: this.opts.idleTimeoutMs,
      ...(this.opts.maxRequestsPerConnection
        ? { maxRequestsPerClient: this.opts.maxRequestsPerConnection }
        : {}),
      connectTimeout: connectTimeoutMs,
      // Timeouts are the route's (per-try and overall), enforced by the caller; none here.
      headersTimeout: 0,
      bodyTimeout: 0,
      ...(o.plain ? {} : { connect: { ...o.tls } }),
    });
    this.pools.set(k, { pool, ctx, used: true });
    return pool;
  }

  private sweep(): void {
    for (const [k, e] of this.pools) {
      if (e.used) e.used = false;
      else {
        this.pools.delete(k);
        void e.pool.close().catch(() => {});
      }
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const e of this.pools.values()) void e.pool.destroy().catch(() => {});
    this.pools.clear();
  }
}
