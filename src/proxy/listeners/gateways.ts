// Gateway listeners follow the snapshot: a server port that appears is opened, one that goes away is
// closed. New ports are bound before the snapshot is swapped in, so a port that cannot be bound makes
// the whole snapshot fail (NACK) and the previous listeners stay as they were.
//
// A port serves plain HTTP (HTTP/1.1 and h2c, told apart by the first bytes) or TLS, as the current
// snapshot says, decided per connection, so a port can change from one to the other without a rebind.
// On a TLS port the ClientHello is read first (gateway-client-hello.ts) and its SNI picks the Istio
// server: exact name, then the longest wildcard, then a server with hosts "*" (Envoy's filter chain
// match); no server, no connection. A terminating server (SIMPLE, MUTUAL, OPTIONAL_MUTUAL,
// ISTIO_MUTUAL) then runs the handshake with its own certificate and client-certificate policy
// (gateway-tls.ts) and serves HTTP/1.1 or h2 (ALPN) with its own route table: only the hosts of that
// server are reachable through its handshake. A PASSTHROUGH server routes the raw bytes
// (gateway-passthrough.ts).
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import type { GatewayListener, GatewayTlsServer } from '../../model/snapshot.js';
import { createLogger, type Logger } from '../../lib/logger.js';
import { RouteTable } from '../http/router.js';
import type { GatewayState, ProxyState } from '../state.js';
import { createRoutedHandlers, routedServer, type RoutedDeps, type RoutedHandlers } from './outbound.js';
import { closeNow, track } from './tracked.js';
import { matchSni, peekClientHello } from './gateway-client-hello.js';
import { TlsServerRuntime, runtimeKey, type TlsServerDeps } from './gateway-tls.js';
import { passthrough, terminatedTcp } from './gateway-passthrough.js';
import { plainTcpListener } from './gateway-tcp.js';

/** How long a client may take to send its ClientHello (Envoy's listener_filters_timeout). */
const CLIENT_HELLO_TIMEOUT_MS = 15_000;
const NO_ROUTES = new RouteTable([]);

interface TlsServerEntry {
  config: GatewayTlsServer;
  runtime: TlsServerRuntime;
  /** Terminating servers: the virtual hosts of this server only. */
  routes: RouteTable;
  sniHosts: string[];
}

/** The TLS side of one listener in one snapshot. */
interface TlsPort {
  servers: TlsServerEntry[];
  byName: Map<string, TlsServerEntry>;
}

function listenerKey(g: Pick<GatewayState | GatewayListener, 'bind' | 'port'>): string {
  return `${g.bind}:${g.port}`;
}

export class GatewayListeners {
  private readonly servers = new Map<string, net.Server>();
  private readonly handlers: RoutedHandlers;
  private readonly httpsHandlers: RoutedHandlers;
  /** Plain HTTP dispatch (h1/h2c sniffing) per listener; never listens itself. */
  private readonly plain = new Map<string, net.Server>();
  /** HTTP over a finished handshake, per listener and TLS server; never listens itself. */
  private readonly secure = new Map<string, net.Server>();
  /** TLS server runtimes in use by the current state, by runtimeKey. */
  private runtimes = new Map<string, TlsServerRuntime>();
  private readonly tlsByState = new WeakMap<ProxyState, Map<string, TlsPort>>();
  private readonly tlsDeps: TlsServerDeps;

  constructor(
    private readonly deps: RoutedDeps,
    private readonly log: Logger = createLogger('proxy/gateway'),
  ) {
    this.handlers = createRoutedHandlers(deps, 'gateway');
    // Requests that came over TLS: route `scheme` matches see https, and the upstream learns it from
    // x-forwarded-proto (set by the gateway itself, never taken from the client).
    this.httpsHandlers = createRoutedHandlers(deps, 'gateway', 'https');
    this.tlsDeps = {
      identity: deps.identity,
      log,
      secure: (runtime, socket) => this.secureDispatch(runtime, socket),
    };
  }

  /** Open the listeners `next` needs that are not open yet, and its TLS servers. Throws (after cleaning up) on failure. */
  async prepare(next: ProxyState): Promise<void> {
    const created: TlsServerRuntime[] = [];
    const opened: string[] = [];
    try {
      this.tlsByState.set(next, await this.buildTls(next, created));
      for (const g of next.gateways) {
        const key = listenerKey(g);
        if (this.servers.has(key)) continue;
        const server = track(net.createServer({ noDelay: true }, (socket) => this.onConnection(key, socket)));
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e: NodeJS.ErrnoException) =>
            reject(new Error(`cannot listen on ${key} for ${g.name}: ${e.code ?? e.message}`)),
          );
          server.listen(g.port, g.bind, () => resolve());
        });
        this.servers.set(key, server);
        opened.push(key);
      }
    } catch (e) {
      for (const k of opened) {
        this.servers.get(k)?.close();
        this.servers.delete(k);
      }
      for (const r of created) r.close();
      throw e;
    }
  }

  /** Close listeners and TLS servers the current state no longer has. */
  prune(current: ProxyState): void {
    const keep = new Set(current.gateways.map((g) => listenerKey(g)));
    for (const [key, server] of this.servers) {
      if (keep.has(key)) continue;
      void closeNow(server);
      this.servers.delete(key);
    }
    const live = new Map<string, TlsServerRuntime>();
    for (const port of this.tlsByState.get(current)?.values() ?? [])
      for (const s of port.servers) live.set(s.runtime.key, s.runtime);
    const inUse = new Set(live.values());
    for (const r of this.runtimes.values()) if (!inUse.has(r)) r.close();
    this.runtimes = live;
    // Dispatchers hold no sockets of their own; forget those of listeners and servers that are gone.
    for (const key of this.plain.keys()) if (!keep.has(key)) this.plain.delete(key);
    const servers = new Set([...live.values()].map((r) => `${r.listener}|${r.config.name}`));
    for (const id of this.secure.keys()) if (!servers.has(id)) this.secure.delete(id);
  }

  addresses(): string[] {
    return [...this.servers.values()].map((s) => {
      const a = s.address() as AddressInfo;
      return `${a.address}:${a.port}`;
    });
  }

  close(): void {
    for (const s of this.servers.values()) void closeNow(s);
    this.servers.clear();
    for (const r of this.runtimes.values()) r.close();
    this.runtimes.clear();
  }

  // ---- internals ----------------------------------------------------------------------------------

  private async buildTls(next: ProxyState, created: TlsServerRuntime[]): Promise<Map<string, TlsPort>> {
    const out = new Map<string, TlsPort>();
    for (const g of next.snapshot.gateways) {
      if (!g.tls) continue;
      const lk = listenerKey(g);
      const port: TlsPort = { servers: [], byName: new Map() };
      for (const s of g.tls.servers) {
        const key = runtimeKey(lk, s);
        let runtime = this.runtimes.get(key) ?? created.find((r) => r.key === key);
        if (!runtime) {
          runtime = await TlsServerRuntime.create(key, lk, s, this.tlsDeps);
          created.push(runtime);
          if (runtime.broken) {
            // Like an SDS update Envoy rejects: a server that served keeps its last good certificate.
            const previous = [...this.runtimes.values()].find(
              (r) => r.listener === lk && r.config.name === s.name && r.terminating && !r.broken,
            );
            if (previous && runtime.terminating) {
              this.log.warn('new TLS settings do not load, keeping the previous certificate', {
                server: s.name,
                reason: runtime.broken,
              });
              runtime = previous;
            } else {
              this.log.error('TLS server cannot serve: its handshakes are refused', {
                server: s.name,
                reason: runtime.broken,
              });
            }
          }
        }
        const names = new Set(s.virtualHosts ?? []);
        const entry: TlsServerEntry = {
          config: s,
          runtime,
          routes: new RouteTable(g.virtualHosts.filter((vh) => names.has(vh.name))),
          sniHosts: s.sniHosts,
        };
        port.servers.push(entry);
        port.byName.set(s.name, entry);
      }
      out.set(lk, port);
    }
    return out;
  }

  private currentTls(key: string): TlsPort | undefined {
    const state = this.deps.state();
    return state ? this.tlsByState.get(state)?.get(key) : undefined;
  }

  private onConnection(key: string, socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    const tcp = this.deps.state()?.snapshot.gateways.find((g) => g.tcpRoute && listenerKey(g) === key);
    if (tcp) return plainTcpListener(this.deps, tcp, socket);
    if (!this.currentTls(key)) return void this.plainDispatch(key).emit('connection', socket);
    void peekClientHello(socket, CLIENT_HELLO_TIMEOUT_MS).then((r) => {
      const port = this.currentTls(key); // the snapshot may have changed while we waited
      if ('error' in r || !port) {
        if ('error' in r) this.log.debug('connection closed before TLS', { listener: key, reason: r.error });
        return void socket.destroy();
      }
      const sni = r.hello.sni;
      const chosen = matchSni(port.servers, sni);
      if (!chosen) {
        this.log.debug('no TLS server for this SNI', { listener: key, sni: sni ?? '(none)' });
        return void socket.destroy();
      }
      if (!chosen.runtime.terminating) return passthrough(this.deps, chosen.config, sni, socket);
      if (chosen.runtime.broken) {
        this.log.debug('TLS server cannot serve', {
          server: chosen.config.name,
          reason: chosen.runtime.broken,
        });
        return void socket.destroy();
      }
      chosen.runtime.accept(socket);
    });
  }

  private plainDispatch(key: string): net.Server {
    let d = this.plain.get(key);
    if (!d) {
      d = routedServer(
        this.handlers,
        () => this.deps.state()?.gateways.find((x) => listenerKey(x) === key)?.routes,
      );
      this.plain.set(key, d);
    }
    return d;
  }

  private secureDispatch(runtime: TlsServerRuntime, socket: tls.TLSSocket): void {
    const current = this.currentTls(runtime.listener)?.byName.get(runtime.config.name)?.config;
    if (current?.tcpRoute) return terminatedTcp(this.deps, current, socket);
    const id = `${runtime.listener}|${runtime.config.name}`;
    let d = this.secure.get(id);
    if (!d) {
      d = routedServer(
        this.httpsHandlers,
        () => this.currentTls(runtime.listener)?.byName.get(runtime.config.name)?.routes ?? NO_ROUTES,
      );
      this.secure.set(id, d);
    }
    d.emit('connection', socket);
  }
}
