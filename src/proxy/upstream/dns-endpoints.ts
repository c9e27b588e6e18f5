// ServiceEntry DNS resolution in the proxy, as Envoy's cluster types that Istio picks:
//  - STRICT (`resolution: DNS`, Envoy STRICT_DNS): every address a name resolves to is an endpoint;
//  - LOGICAL (`resolution: DNS_ROUND_ROBIN`, Envoy LOGICAL_DNS): only the first address returned is used
//    for new connections (one logical endpoint whose address follows DNS).
// Names are re-resolved when the last answer is older than the refresh interval (Istio's default
// dnsRefreshRate, 60 s) and the cluster is used; until an answer arrives, and when a lookup fails, the
// previous endpoints stay (the name itself at first: the connection then resolves it).
import { lookup as dnsLookup } from 'node:dns/promises';
import net from 'node:net';
import type { Endpoint } from '../../model/snapshot.js';

export type DnsMode = 'STRICT' | 'LOGICAL';
/** Every address of a name, in the resolver's order. */
export type Lookup = (host: string) => Promise<string[]>;

export const DNS_REFRESH_MS = 60_000;

export const systemLookup: Lookup = async (host) =>
  (await dnsLookup(host, { all: true, order: 'verbatim' })).map((a) => a.address);

export class DnsEndpoints {
  /** Bumped whenever `endpoints` changes, so users rebuild what they derive from it. */
  version = 0;
  private current: Endpoint[];
  private readonly answers = new Map<string, string[]>();
  private resolvedAt = -Infinity;
  private inflight: Promise<void> | undefined;

  constructor(
    readonly source: readonly Endpoint[],
    readonly mode: DnsMode,
    private readonly lookup: Lookup = systemLookup,
    private readonly refreshMs = DNS_REFRESH_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.current = [...source];
  }

  get endpoints(): readonly Endpoint[] {
    return this.current;
  }

  /** Starts a resolution when the last one is older than the refresh interval; never waits for it. */
  refreshIfStale(): void {
    if (!this.inflight && this.now() - this.resolvedAt >= this.refreshMs) void this.refresh();
  }

  /** Resolves every name now (one lookup at a time per cluster). */
  refresh(): Promise<void> {
    this.inflight ??= this.resolveAll().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async resolveAll(): Promise<void> {
    this.resolvedAt = this.now();
    const names = [...new Set(this.source.filter((e) => !net.isIP(e.address)).map((e) => e.address))];
    await Promise.all(
      names.map(async (n) => {
        try {
          const addrs = await this.lookup(n);
          if (addrs.length) this.answers.set(n, addrs);
        } catch {
          // Keep the last answer (Envoy keeps its hosts when a resolution fails).
        }
      }),
    );
    const next = this.source.flatMap((e) => this.expand(e));
    const key = (eps: readonly Endpoint[]) =>
      eps.map((e) => `${e.instance}=${e.address}:${e.port}`).join(',');
    if (key(next) !== key(this.current)) {
      this.current = next;
      this.version++;
    }
  }

  private expand(e: Endpoint): Endpoint[] {
    const addrs = this.answers.get(e.address);
    if (!addrs) return [e];
    if (this.mode === 'LOGICAL') return [{ ...e, address: addrs[0]! }];
    return addrs.map((a) => ({ ...e, address: a, instance: `${e.instance}@${a}` }));
  }
}
