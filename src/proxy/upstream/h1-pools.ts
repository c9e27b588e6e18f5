// Keep-alive HTTP/1.1 connection pools, one per origin (address, port, TLS settings): a request takes
// the most recently freed connection (the warmest, and it lets the others reach their idle timeout),
// or opens a new one, or waits when the cluster caps connections.
//
// The connections are our own (h1-connection.ts, on Node's llhttp), not undici's Pool: see llhttp.ts
// for why.
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { H1Connection, type ConnectionOwner, type Exchange } from './h1-connection.js';
import type { TcpKeepalive } from '../../model/snapshot.js';

export interface H1PoolOptions {
  /** Idle keep-alive connections are closed after this long. */
  idleTimeoutMs: number;
  /** DestinationRule connectionPool.tcp.maxConnections: per endpoint (unlimited when absent). */
  maxConnections?: number;
  /** connectionPool.http.maxRequestsPerConnection: 1 turns keep-alive off. */
  maxRequestsPerConnection?: number;
  /** connectionPool.tcp.maxConnectionDuration: a connection takes no request past this age. */
  maxConnectionDurationMs?: number;
  /** connectionPool.tcp.tcpKeepalive: SO_KEEPALIVE (transport/keepalive.ts). */
  keepalive?: TcpKeepalive;
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

/** Connections to one origin. */
export class H1Pool implements ConnectionOwner {
  private readonly idle: H1Connection[] = [];
  private readonly waiting: Exchange[] = [];
  private open = 0;
  private closing = false;
  /** Closed or closing: it takes no new requests. */
  get isClosing(): boolean {
    return this.closing;
  }
  private session: Buffer | undefined;
  /** Requests sent or waiting, from dispatch until their answer ended or they failed. */
  inFlight = 0;
  used = true;
  /** `host` for a request that names none. */
  readonly hostHeader: string;

  constructor(
    private readonly origin: H1Origin,
    private readonly opts: H1PoolOptions,
    private readonly connectTimeoutMs: number,
  ) {
    this.hostHeader = `${origin.host.includes(':') ? `[${origin.host}]` : origin.host}:${origin.port}`;
  }

  dispatch(ex: Exchange): void {
    this.used = true;
    const now = performance.now();
    let c: H1Connection | undefined;
    while ((c = this.idle.pop())) {
      if (c.usable(now)) return c.send(ex);
      c.destroy(); // past its idle time, or closed: its 'close' will forget it
    }
    if (this.opts.maxConnections === undefined || this.open < this.opts.maxConnections) this.connect(ex);
    else this.waiting.push(ex);
  }

  private connect(first: Exchange): void {
    this.open++;
    const o = this.origin;
    new H1Connection(
      this,
      {
        host: o.host,
        port: o.port,
        tls: o.plain ? undefined : o.tls,
        timeoutMs: this.connectTimeoutMs,
        session: this.session,
        onSession: o.plain ? undefined : (s) => (this.session = s),
        maxRequests: this.opts.maxRequestsPerConnection,
        idleTimeoutMs: this.opts.idleTimeoutMs,
        maxAgeMs: this.opts.maxConnectionDurationMs,
        keepalive: this.opts.keepalive,
      },
      first,
    );
  }

  free(c: H1Connection): void {
    let ex: Exchange | undefined;
    while ((ex = this.waiting.shift())) if (!ex.cancelled) return c.send(ex);
    if (this.closing) return c.destroy();
    this.idle.push(c);
  }

  gone(c: H1Connection): void {
    this.open--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    // A request waiting for a connection slot gets the one that just closed.
    let ex: Exchange | undefined;
    while ((ex = this.waiting.shift())) if (!ex.cancelled) return this.connect(ex);
  }

  /** Close connections idle past their time (they would be refused at checkout anyway). */
  sweep(now: number): void {
    for (let i = this.idle.length - 1; i >= 0; i--) if (!this.idle[i]!.usable(now)) this.idle[i]!.destroy();
  }

  /** Finish what is under way, then close. */
  close(): void {
    this.closing = true;
    for (const c of this.idle.splice(0)) c.destroy();
  }

  destroy(): void {
    this.closing = true;
    for (const c of this.idle.splice(0)) c.destroy();
    for (const ex of this.waiting.splice(0))
      if (!ex.cancelled) ex.failed(Object.assign(new Error('pool closed'), { code: 'POOL_CLOSED' }), false);
  }
}

const SWEEP_MS = 60_000;
const IDLE_SWEEP_MS = 1_000;

export class H1Pools {
  private readonly pools = new Map<string, { pool: H1Pool; ctx: SecureContext | undefined }>();
  private readonly byOrigin = new WeakMap<
    H1Origin,
    { pool: H1Pool; timeout: number; ctx: SecureContext | undefined }
  >();
  // Endpoints come and go with snapshots: a pool nobody used for a sweep period is closed. The timers
  // run only while there are pools, so pools a replaced cluster left behind close and are collected
  // (a timer holds its pools for as long as it runs).
  private sweeper: NodeJS.Timeout | undefined;
  private idleSweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: H1PoolOptions,
    private readonly sweepMs = SWEEP_MS,
  ) {}

  /** Whether the sweep timers are running (for tests). */
  get sweeping(): boolean {
    return this.sweeper !== undefined;
  }

  get(o: H1Origin, connectTimeoutMs: number): H1Pool {
    // Mesh targets are long-lived objects (one per cluster runtime and endpoint, outbound.ts), so the
    // pool is remembered per target; the key string below cost 0.5-1.2% of a sidecar's CPU samples.
    const known = this.byOrigin.get(o);
    const ctx = o.plain ? undefined : o.tls?.secureContext;
    if (known && known.timeout === connectTimeoutMs && known.ctx === ctx && !known.pool.isClosing)
      return known.pool;
    const pool = this.lookup(o, connectTimeoutMs);
    this.byOrigin.set(o, { pool, timeout: connectTimeoutMs, ctx });
    return pool;
  }

  private lookup(o: H1Origin, connectTimeoutMs: number): H1Pool {
    const k = `${o.plain ? 'h' : 's'}|${o.host}|${o.port}|${o.tls?.servername ?? ''}|${o.key ?? ''}|${connectTimeoutMs}`;
    const ctx = o.plain ? undefined : o.tls?.secureContext;
    const e = this.pools.get(k);
    if (e && e.ctx === ctx) return e.pool;
    // A rotated workload certificate comes as a new secure context: new connections must present it.
    // Connections of the old pool finish what they carry, then close.
    if (e) e.pool.close();
    const pool = new H1Pool(
      { host: o.host, port: o.port, ...(o.plain ? { plain: true } : { tls: { ...o.tls } }) },
      this.opts,
      connectTimeoutMs,
    );
    this.pools.set(k, { pool, ctx });
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepMs).unref();
      this.idleSweeper = setInterval(() => {
        const now = performance.now();
        for (const e of this.pools.values()) e.pool.sweep(now);
      }, IDLE_SWEEP_MS).unref();
    }
    return pool;
  }

  private sweep(): void {
    for (const [k, e] of this.pools) {
      if (e.pool.used || e.pool.inFlight > 0) e.pool.used = false;
      else {
        this.pools.delete(k);
        e.pool.close();
      }
    }
    if (this.pools.size === 0) this.stopTimers();
  }

  private stopTimers(): void {
    clearInterval(this.sweeper);
    clearInterval(this.idleSweeper);
    this.sweeper = this.idleSweeper = undefined;
  }

  close(): void {
    this.stopTimers();
    for (const e of this.pools.values()) e.pool.destroy();
    this.pools.clear();
  }
}
