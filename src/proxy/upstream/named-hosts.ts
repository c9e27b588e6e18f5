// Wildcard ServiceEntry hosts with resolution NONE or DYNAMIC_DNS: each request goes to the name it
// carries, on the cluster's port. The proxy resolves the name (its own resolver, dns-endpoints.ts) before
// the first attempt, and keeps the answer for a few seconds, like the passthrough does.
import net from 'node:net';
import type { Endpoint } from '../../model/snapshot.js';
import { proxyLookup, type Lookup } from './dns-endpoints.js';

const TTL_MS = 5_000;
const MAX_HOSTS = 256;

export class NamedHosts {
  private readonly hosts = new Map<string, { ep: Endpoint; until: number }>();

  constructor(
    private readonly template: Endpoint,
    private readonly lookup: Lookup = proxyLookup,
    private readonly now: () => number = Date.now,
  ) {}

  /** The endpoint for `host` once resolved (until its answer expires). */
  get(host: string): Endpoint | undefined {
    const hit = this.hosts.get(host);
    return hit && hit.until > this.now() ? hit.ep : undefined;
  }

  /** Resolves `host` unless a fresh answer is kept; the error says why it cannot be reached. */
  async resolve(host: string): Promise<Endpoint | Error> {
    const hit = this.get(host);
    if (hit) return hit;
    let address = host;
    if (!net.isIP(host)) {
      try {
        address = (await this.lookup(host)).addresses[0]!;
      } catch (e) {
        return e as Error;
      }
    }
    const ep = { ...this.template, address, instance: host };
    this.hosts.delete(host);
    this.hosts.set(host, { ep, until: this.now() + TTL_MS });
    if (this.hosts.size > MAX_HOSTS) this.hosts.delete(this.hosts.keys().next().value!);
    return ep;
  }
}
