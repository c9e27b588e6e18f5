// Hosts outside the registry, at a sidecar's outbound listener (meshConfig.outboundTrafficPolicy):
//  - ALLOW_ANY (Istio's default) is Istio's PassthroughCluster: the request goes in plaintext to the host
//    and port it names (Host header, absolute URL or CONNECT authority; port 80 when none), resolved by
//    DNS here. A name that does not resolve has nowhere to go: 404 NR, as before this policy existed.
//  - REGISTRY_ONLY is Istio's BlackHoleCluster: 502 with flag NR, reported with destination_service
//    "BlackHoleCluster" in istio_requests_total (route "block_all" in the access log).
// Neither is a cluster of the snapshot: they are built here, one small runtime per destination.
import net from 'node:net';
import type { Cluster, Route } from '../../model/snapshot.js';
import { compileRoute, type RouteRuntime } from '../http/router.js';
import { ClusterRuntime } from './cluster.js';

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';

function forwardTo(name: string, cluster: string): Route {
  return { name, matches: [], action: { kind: 'forward', clusters: [{ cluster, weight: 100 }] } };
}

function clusterOf(name: string, port: number, address?: string): Cluster {
  return {
    name,
    // Istio reports these as the destination service: a fixed name, never the host, so hosts outside
    // the registry cannot grow the number of metric series.
    service: name,
    port,
    protocol: 'http',
    lbPolicy: 'ROUND_ROBIN',
    sni: '',
    external: true,
    endpoints: address ? [{ address, port, identity: '', instance: '', labels: {}, healthy: true }] : [],
  };
}

/** Istio's BlackHoleCluster and its route: what a REGISTRY_ONLY sidecar does with an unknown host. */
export const BLACKHOLE = {
  route: compileRoute(forwardTo('block_all', BLACKHOLE_CLUSTER)),
  cluster: new ClusterRuntime(clusterOf(BLACKHOLE_CLUSTER, 0)),
};

export interface PassthroughTarget {
  route: RouteRuntime;
  cluster: ClusterRuntime;
}

/** Splits "host", "host:port" or "[v6]:port"; undefined when it is not an authority. */
export function splitAuthority(
  authority: string,
  defaultPort: number,
): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(authority);
  if (!m) return undefined;
  const port = m[2] !== undefined ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) return undefined;
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port };
}

// node:dns loads with the first name to resolve (not an IP, not cached), which already waits for DNS: a
// sidecar whose app never names a host outside the registry would otherwise keep it in memory for nothing.
let dns: Promise<typeof import('node:dns/promises')> | undefined;

const DNS_TTL_MS = 5_000;
const MAX_ENTRIES = 256;

/** Keeps a Map to at most MAX_ENTRIES, dropping the oldest first. */
function bounded<K, V>(m: Map<K, V>): void {
  while (m.size > MAX_ENTRIES) m.delete(m.keys().next().value as K);
}

export class Passthrough {
  private readonly route = compileRoute(forwardTo('allow_any', PASSTHROUGH_CLUSTER));
  private readonly runtimes = new Map<string, ClusterRuntime>();
  private readonly resolved = new Map<string, { address: string; until: number }>();

  /**
   * Where a request for `authority` goes, or why it cannot go anywhere. `self` is the listener's own
   * port on loopback: a request naming it would come straight back to this proxy.
   */
  async target(
    authority: string,
    defaultPort: number,
    self?: number,
  ): Promise<PassthroughTarget | { error: string }> {
    const a = splitAuthority(authority, defaultPort);
    if (!a) return { error: 'it is not a valid host[:port]' };
    let address: string;
    try {
      address = await this.resolve(a.host);
    } catch (e) {
      return { error: `the name does not resolve (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
    }
    if (self !== undefined && a.port === self && isLoopback(address))
      return { error: 'it is this proxy itself' };
    const key = `${address}:${a.port}`;
    let cluster = this.runtimes.get(key);
    if (!cluster) {
      cluster = new ClusterRuntime(clusterOf(PASSTHROUGH_CLUSTER, a.port, address));
      this.runtimes.set(key, cluster);
      bounded(this.runtimes);
    }
    return { route: this.route, cluster };
  }

  private async resolve(host: string): Promise<string> {
    if (net.isIP(host)) return host;
    const hit = this.resolved.get(host);
    const now = Date.now();
    if (hit && hit.until > now) return hit.address;
    const { address } = await (await (dns ??= import('node:dns/promises'))).lookup(host);
    this.resolved.set(host, { address, until: now + DNS_TTL_MS });
    bounded(this.resolved);
    return address;
  }
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '0.0.0.0' || address === '::';
}
