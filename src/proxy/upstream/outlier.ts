// Passive health checking (Envoy's outlier detection): an endpoint that answers with too many
// consecutive 5xx (or gateway errors) is ejected for baseEjectionTime × times-ejected, never more than
// maxEjectionPercent of the cluster at once (but always at least one), and ejections are ignored while
// fewer than minHealthPercent of the endpoints would remain (0, Istio's default, never ignores them).
import type { OutlierPolicy } from '../../model/snapshot.js';

interface HostState {
  consecutive5xx: number;
  consecutiveGateway: number;
  ejectedUntil: number;
  ejections: number;
}

export class OutlierDetector {
  private readonly hosts = new Map<string, HostState>();

  constructor(
    private readonly p: OutlierPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  private state(host: string): HostState {
    let s = this.hosts.get(host);
    if (!s) {
      s = { consecutive5xx: 0, consecutiveGateway: 0, ejectedUntil: 0, ejections: 0 };
      this.hosts.set(host, s);
    }
    return s;
  }

  /** Record one result: an HTTP status, or 503 for a connection that failed. Returns true if it ejected. */
  record(host: string, status: number, clusterSize: number): boolean {
    const s = this.state(host);
    if (status < 500) {
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
      return false;
    }
    s.consecutive5xx++;
    if (status === 502 || status === 503 || status === 504) s.consecutiveGateway++;
    const hit5xx =
      this.p.consecutive5xxErrors !== undefined && s.consecutive5xx >= this.p.consecutive5xxErrors;
    const hitGw =
      this.p.consecutiveGatewayErrors !== undefined &&
      s.consecutiveGateway >= this.p.consecutiveGatewayErrors;
    if (!(hit5xx || hitGw) || this.isEjected(host)) return false;
    const ejectedNow = [...this.hosts.keys()].filter((h) => this.isEjected(h)).length;
    const maxEjected = Math.max(1, Math.floor((clusterSize * this.p.maxEjectionPercent) / 100));
    if (ejectedNow >= maxEjected) return false;
    s.ejections++;
    s.ejectedUntil = this.now() + this.p.baseEjectionTimeMs * s.ejections;
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    return true;
  }

  isEjected(host: string): boolean {
    const s = this.hosts.get(host);
    return s !== undefined && s.ejectedUntil > this.now();
  }

  /** The endpoints to balance over: ejected ones removed, unless too few would remain (panic mode). */
  filter<T>(endpoints: readonly T[], key: (e: T) => string): readonly T[] {
    if (this.hosts.size === 0) return endpoints;
    const kept = endpoints.filter((e) => !this.isEjected(key(e)));
    if (kept.length === endpoints.length) return endpoints;
    // Istio maps minHealthPercent to Envoy's panic threshold: below it, balance over every endpoint.
    if ((kept.length * 100) / endpoints.length < this.p.minHealthPercent) return endpoints;
    return kept;
  }

  ejectedHosts(): string[] {
    return [...this.hosts.keys()].filter((h) => this.isEjected(h));
  }
}
