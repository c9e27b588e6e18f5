// HTTP/2 client sessions, one per peer (address, port, SNI) or per app port, reused by every request
// to it: gRPC and HTTP/2 traffic is multiplexed over a few long-lived connections, as Linkerd does.
// A session that closes, errors or receives GOAWAY is forgotten and the next request opens a new one.
// A cluster with DestinationRule connection limits has sessions of its own, which count their requests
// (`opened`): past maxRequestsPerConnection or maxConnectionDuration a session takes no more and closes
// once they end, and one with no request under way for idleTimeout closes, as Envoy's upstream HTTP/2
// pools do. With maxConcurrentStreams a session carrying that many requests is set aside until one ends,
// and the next request goes on another session of the same peer (an earlier one with room, else a new
// one), as Envoy's pool opens another connection at the cap.
import http2 from 'node:http2';
import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import { keepAlive } from './keepalive.js';
import type { TcpKeepalive } from '../../model/snapshot.js';

export interface H2Target {
  host: string;
  port: number;
  tls?: Pick<ConnectionOptions, 'secureContext' | 'servername' | 'checkServerIdentity'>;
}

// Node's defaults (64 KiB windows) let a peer send only 64 KiB at a time on a session that carries
// every request to it: answers then wait in the peer's session memory for WINDOW_UPDATEs, and past its
// 10 MB limit the peer refuses new streams and, after 100 refusals, tears the whole session down,
// resetting every stream on it. Envoy opens 256 MiB windows; these are enough for the peer to flush.
export const STREAM_WINDOW = 1 << 20;
export const SESSION_WINDOW = 16 << 20;

/** Closed by us after this long without a frame, before the peer would close it. */
const INACTIVE_MS = 60_000;

/** DestinationRule connectionPool.http limits that apply to HTTP/2 sessions. */
export interface H2SessionLimits {
  /** idleTimeout: a session with no request under way for this long is closed. */
  idleTimeoutMs?: number;
  /** maxRequestsPerConnection: requests per session; the next one goes on a new session. */
  maxRequestsPerConnection?: number;
  /** tcp.maxConnectionDuration: past this age a session takes no new request. */
  maxConnectionDurationMs?: number;
  /** tcp.tcpKeepalive: SO_KEEPALIVE (keepalive.ts). */
  keepalive?: TcpKeepalive;
  /** http.maxConcurrentStreams: requests under way on one session; the next goes on another session. */
  maxConcurrentStreams?: number;
}

/** A limited session's requests: all it carried, those under way, and its idle timer. */
interface SessionUse {
  requests: number;
  active: number;
  /** Handed out no more (it may still be finishing requests). */
  retired: boolean;
  idle: NodeJS.Timeout | undefined;
  forget: () => void;
}

export class H2Sessions {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  // The last peer asked for and its session: most calls go to the peer the previous one went to, and
  // then neither the key string is built nor the map looked up.
  private lastHost = '';
  private lastPort = 0;
  private lastTls: H2Target['tls'];
  private lastSession: http2.ClientHttp2Session | undefined;
  /** Only with limits: what each session carried (nothing is counted without them). */
  private readonly uses: WeakMap<http2.ClientHttp2Session, SessionUse> | undefined;
  /** maxConcurrentStreams, when set. */
  private readonly cap: number | undefined;
  /** With `cap`: per peer, the sessions set aside at the cap while another took the new requests. */
  private readonly atCapacity = new Map<string, http2.ClientHttp2Session[]>();

  constructor(private readonly limits?: H2SessionLimits) {
    this.cap = limits?.maxConcurrentStreams;
    if (
      limits?.idleTimeoutMs !== undefined ||
      limits?.maxRequestsPerConnection !== undefined ||
      limits?.maxConnectionDurationMs !== undefined ||
      this.cap !== undefined
    )
      this.uses = new WeakMap();
  }

  /** The session to `t` (plaintext, ignoring `t.tls`, when `plain`). */
  get(t: H2Target, plain = false): http2.ClientHttp2Session {
    const tlsOptions = plain ? undefined : t.tls;
    const last = this.lastSession;
    if (
      last !== undefined &&
      t.host === this.lastHost &&
      t.port === this.lastPort &&
      tlsOptions === this.lastTls &&
      !last.closed &&
      !last.destroyed &&
      !this.full(last)
    )
      return last;
    const session = this.lookup({ host: t.host, port: t.port, tls: tlsOptions });
    this.lastHost = t.host;
    this.lastPort = t.port;
    this.lastTls = tlsOptions;
    this.lastSession = session;
    return session;
  }

  private lookup(t: H2Target): http2.ClientHttp2Session {
    const key = `${t.host}:${t.port}:${t.tls?.servername ?? ''}`;
    const existing = this.sessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) {
      if (!this.full(existing)) return existing;
      // At maxConcurrentStreams: set aside until a request on it ends; an earlier one with room, if any,
      // takes the requests, else a new session below.
      const roomy = this.takeRoomy(key);
      this.setAside(key, existing);
      if (roomy) {
        this.sessions.set(key, roomy);
        return roomy;
      }
    }
    const authority = t.tls ? `https://${t.host}:${t.port}` : `http://${t.host}:${t.port}`;
    // Our own connection, so that Nagle is off (a session writes each frame on its own: with Nagle, the
    // next frame waits for the peer's delayed ACK, ~40 ms). `session.socket` refuses setNoDelay later.
    const session = http2.connect(authority, {
      settings: { initialWindowSize: STREAM_WINDOW },
      createConnection: () =>
        keepAlive(
          t.tls
            ? tls.connect({ host: t.host, port: t.port, ...t.tls, ALPNProtocols: ['h2'] }).setNoDelay(true)
            : net.connect({ host: t.host, port: t.port, noDelay: true }),
          this.limits?.keepalive,
        ),
    });
    const forget = () => {
      if (this.sessions.get(key) === session) this.sessions.delete(key);
      if (this.lastSession === session) this.lastSession = undefined;
    };
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
    if (this.cap !== undefined) session.once('close', () => this.forgetAside(key, session));
    session.on('close', forget);
    session.on('goaway', forget);
    session.on('error', forget);
    session.setTimeout(INACTIVE_MS, () => session.close());
    session.unref();
    this.sessions.set(key, session);
    if (this.uses) {
      const use: SessionUse = { requests: 0, active: 0, retired: false, idle: undefined, forget };
      this.uses.set(session, use);
      this.idleFrom(session, use);
      const age = this.limits!.maxConnectionDurationMs;
      const aged =
        age === undefined
          ? undefined
          : setTimeout(() => {
              retire(use);
              if (use.active === 0) session.close();
            }, age).unref();
      session.once('close', () => {
        clearTimeout(use.idle);
        clearTimeout(aged);
      });
    }
    return session;
  }

  /**
   * Told of each request the caller opened on a session from `get`. Without limits it does nothing. A
   * session that reached maxRequestsPerConnection is no longer handed out, and closes when its last
   * request ends: closing it at once would refuse the streams still being set up (Node sends GOAWAY
   * before their HEADERS).
   */
  opened(session: http2.ClientHttp2Session, stream: http2.ClientHttp2Stream): void {
    const use = this.uses?.get(session);
    if (use === undefined) return;
    use.requests++;
    use.active++;
    if (use.idle !== undefined) {
      clearTimeout(use.idle);
      use.idle = undefined;
    }
    const max = this.limits!.maxRequestsPerConnection;
    if (max !== undefined && use.requests >= max) retire(use);
    stream.once('close', () => {
      if (--use.active > 0) return;
      if (use.retired) {
        if (!session.destroyed) session.close();
      } else this.idleFrom(session, use);
    });
  }

  /** Starts the idle timer of a session with no request under way. */
  private idleFrom(session: http2.ClientHttp2Session, use: SessionUse): void {
    const ms = this.limits!.idleTimeoutMs;
    if (ms === undefined || session.closed || session.destroyed) return;
    use.idle = setTimeout(() => {
      retire(use);
      session.close();
    }, ms).unref();
  }

  /** Whether `s` carries maxConcurrentStreams requests (never without the limit). */
  private full(s: http2.ClientHttp2Session): boolean {
    return this.cap !== undefined && this.uses!.get(s)!.active >= this.cap;
  }

  private setAside(key: string, s: http2.ClientHttp2Session): void {
    const aside = this.atCapacity.get(key);
    if (aside) aside.push(s);
    else this.atCapacity.set(key, [s]);
  }

  /** A session set aside for `key` that has room again (open, not retired), taken off the list. */
  private takeRoomy(key: string): http2.ClientHttp2Session | undefined {
    const aside = this.atCapacity.get(key) ?? [];
    const i = aside.findIndex(
      (s) => !s.closed && !s.destroyed && !this.uses!.get(s)!.retired && !this.full(s),
    );
    return i < 0 ? undefined : aside.splice(i, 1)[0];
  }

  private forgetAside(key: string, s: http2.ClientHttp2Session): void {
    const aside = this.atCapacity.get(key);
    if (!aside) return;
    const i = aside.indexOf(s);
    if (i >= 0) aside.splice(i, 1);
    if (aside.length === 0) this.atCapacity.delete(key);
  }

  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    for (const aside of this.atCapacity.values()) for (const s of aside) s.close();
    this.atCapacity.clear();
    this.lastSession = undefined;
  }
}

function retire(use: SessionUse): void {
  use.retired = true;
  use.forget();
}
