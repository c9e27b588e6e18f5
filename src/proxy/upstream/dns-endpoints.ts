// ServiceEntry DNS resolution in the proxy, as Envoy's cluster types that Istio picks:
//  - STRICT (`resolution: DNS`, Envoy STRICT_DNS): every address a name resolves to is an endpoint;
//  - LOGICAL (`resolution: DNS_ROUND_ROBIN`, Envoy LOGICAL_DNS): only the first address returned is used
//    for new connections (one logical endpoint whose address follows DNS).
// Names are re-resolved when the last answer is older than the refresh interval (Istio's default
// dnsRefreshRate, 60 s) and the cluster is used; until an answer arrives, and when a lookup fails, the
// previous endpoints stay (the name itself at first: the connection then resolves it).
// Names resolve to their IPv4 addresses when they have any, else IPv6 (Istio's clusters are V4 first).
// WEFT_DNS_SERVERS (`ip[:port]`, comma-separated) sends the queries to those servers instead of the
// system resolver, as Envoy's c-ares resolver can be pointed at chosen servers.
import { lookup as dnsLookup, Resolver } from 'node:dns/promises';
import net from 'node:net';
import type { Endpoint } from '../../model/snapshot.js';

export type DnsMode = 'STRICT' | 'LOGICAL';
/** Every address of a name, in the resolver's order. */
export type Lookup = (host: string) => Promise<string[]>;

export const DNS_REFRESH_MS = 60_000;

const systemLookup: Lookup = async (host) => {
  const all = await dnsLookup(host, { all: true, order: 'verbatim' });
  const v4 = all.filter((a) => a.family === 4);
  return (v4.length ? v4 : all).map((a) => a.address);
};

function serverLookup(servers: string[]): Lookup {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers(servers);
  return async (host) => {
    const v4 = await r.resolve4(host).catch(() => [] as string[]);
    if (v4.length) return v4;
    const v6 = await r.resolve6(host);
    if (!v6.length) throw Object.assign(new Error(`${host} has no address`), { code: 'ENODATA' });
    return v6;
  };
}

let chosen: { env: string; lookup: Lookup } | undefined;

/** How this proxy resolves names it connects to (DNS clusters, wildcard hosts); reads the setting on use. */
export const proxyLookup: Lookup = (host) => {
  const env = process.env.WEFT_DNS_SERVERS ?? '';
  if (chosen?.env !== env) {
    const servers = env
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    chosen = { env, lookup: servers.length ? serverLookup(servers) : systemLookup };
  }
  return chosen.lookup(host);
};

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
    private readonly lookup: Lookup = proxyLookup,
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
