// Gateway listeners follow the snapshot: a server port that appears is opened, one that goes away is
// closed. New ports are bound before the snapshot is swapped in, so a port that cannot be bound makes
// the whole snapshot fail (NACK) and the previous listeners stay as they were.
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { GatewayState, ProxyState } from '../state.js';
import { createRoutedHandlers, routedServer, type RoutedDeps, type RoutedHandlers } from './outbound.js';
import { closeNow, track } from './tracked.js';

export class GatewayListeners {
  private readonly servers = new Map<string, net.Server>();
  private readonly handlers: RoutedHandlers;

  constructor(private readonly deps: RoutedDeps) {
    this.handlers = createRoutedHandlers(deps, 'gateway');
  }

  private key(g: Pick<GatewayState, 'bind' | 'port'>): string {
    return `${g.bind}:${g.port}`;
  }

  /** Open the listeners `next` needs that are not open yet. Throws (after cleaning up) on failure. */
  async prepare(next: ProxyState): Promise<void> {
    const opened: string[] = [];
    try {
      for (const g of next.gateways) {
        const key = this.key(g);
        if (this.servers.has(key)) continue;
        const server = track(
          routedServer(
            this.handlers,
            () => this.deps.state()?.gateways.find((x) => this.key(x) === key)?.routes,
          ),
        );
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
      throw e;
    }
  }

  /** Close listeners the current state no longer has. */
  prune(current: ProxyState): void {
    const keep = new Set(current.gateways.map((g) => this.key(g)));
    for (const [key, server] of this.servers) {
      if (keep.has(key)) continue;
      void closeNow(server);
      this.servers.delete(key);
    }
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
  }
}
