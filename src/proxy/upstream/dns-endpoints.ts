// ServiceEntry DNS resolution in the proxy, as Envoy's cluster types that Istio picks:
//  - STRICT (`resolution: DNS`, Envoy STRICT_DNS): every address a name resolves to is an endpoint;
//  - LOGICAL (`resolution: DNS_ROUND_ROBIN`, Envoy LOGICAL_DNS): only the first address returned is used
//    for new connections (one logical endpoint whose address follows DNS).
// Names are re-resolved, when the cluster is used, once the answers' TTL has passed (Istio sets Envoy's
// respect_dns_ttl; at least 5 s apart, Envoy's dns_min_refresh_rate) or, when the resolver gives no TTL,
// after Istio's default dnsRefreshRate (60 s). Until an answer arrives, and when a lookup fails, the
// previous endpoints stay (the name itself at first: the connection then resolves it).
// Names resolve to their IPv4 addresses when they have any, else IPv6 (Istio's clusters are V4 first).
// WEFT_DNS_SERVERS (`ip[:port]`, comma-separated) sends the queries to those servers instead of the
// system resolver, as Envoy's c-ares resolver can be pointed at chosen servers.
import { lookup as dnsLookup, Resolver } from 'node:dns/promises';
import net from 'node:net';
import type { Endpoint } from '../../model/snapshot.js';

export type DnsMode = 'STRICT' | 'LOGICAL';
/** Every address of a name, in the resolver's order, and how long they may be kept when known. */
export interface Answer {
  addresses: string[];
  ttlMs?: number;
}
export type Lookup = (host: string) => Promise<Answer>;

export const DNS_REFRESH_MS = 60_000;
export const DNS_MIN_REFRESH_MS = 5_000;

const systemLookup: Lookup = async (host) => {
  const all = await dnsLookup(host, { all: true, order: 'verbatim' });
  const v4 = all.filter((a) => a.family === 4);
  return { addresses: (v4.length ? v4 : all).map((a) => a.address) };
};

function serverLookup(servers: string[]): Lookup {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers(servers);
  return async (host) => {
    const v4 = await r.resolve4(host, { ttl: true }).catch(() => []);
    const rrs = v4.length ? v4 : await r.resolve6(host, { ttl: true });
    if (!rrs.length) throw Object.assign(new Error(`${host} has no address`), { code: 'ENODATA' });
    return { addresses: rrs.map((x) => x.address), ttlMs: Math.min(...rrs.map((x) => x.ttl)) * 1000 };
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
  private nextAt = -Infinity;
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
    if (!this.inflight && this.now() >= this.nextAt) void this.refresh();
  }

  /** Resolves every name now (one lookup at a time per cluster). */
  refresh(): Promise<void> {
    this.inflight ??= this.resolveAll().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async resolveAll(): Promise<void> {
    const started = this.now();
    this.nextAt = Infinity; // no second lookup while this one runs
    const names = [...new Set(this.source.filter((e) => !net.isIP(e.address)).map((e) => e.address))];
    let ttl = Infinity;
    await Promise.all(
      names.map(async (n) => {
        try {
          const a = await this.lookup(n);
          if (a.addresses.length) this.answers.set(n, a.addresses);
          if (a.ttlMs !== undefined) ttl = Math.min(ttl, a.ttlMs);
        } catch {
          // Keep the last answer (Envoy keeps its hosts when a resolution fails).
        }
      }),
    );
    this.nextAt = started + (ttl === Infinity ? this.refreshMs : Math.max(DNS_MIN_REFRESH_MS, ttl));
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
