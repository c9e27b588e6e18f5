// A cluster as the data path uses it: healthy endpoints, a balancer, outlier detection, circuit
// breakers, a retry budget, and per endpoint the identity check its TLS peer must pass. Built once per
// snapshot (and kept across snapshots when the cluster did not change).
import type { PeerCertificate, SecureContext } from 'node:tls';
import type { Cluster, Endpoint } from '../../model/snapshot.js';
import type { RingHash } from './balancers/ring-hash.js';
import type { Maglev } from './balancers/maglev.js';
import { LocalityPlan, type Client } from './balancers/locality.js';
import type { DnsEndpoints } from './dns-endpoints.js';
import type { NamedHosts } from './named-hosts.js';
import { certSpiffeId } from '../../lib/spiffe.js';
import type { Balancer } from './balancers/balancer.js';
import { RoundRobin } from './balancers/round-robin.js';
import { RandomBalancer } from './balancers/random.js';
import { LeastRequest } from './balancers/least-request.js';
import { OutlierDetector } from './outlier.js';
import { ClusterLimits } from './limits.js';
import { RetryBudget } from './retry-budget.js';
import { MESH_POOL_IDLE_MS } from '../listeners/idle.js';
import { Origination } from './origination.js';
import { H1Pools } from './h1-pools.js';
import { H2Sessions, type H2SessionLimits } from '../transport/h2-sessions.js';
import type { TunnelTarget } from '../transport/tunnel.js';
import { LazyModule, whenLoaded } from '../../lib/lazy-module.js';
import { keepaliveOptions, needsSocketOptions } from '../transport/keepalive.js';

export type IdentityCheck = (host: string, cert: PeerCertificate) => Error | undefined;

const DEFAULT_BUDGET = { ratio: 0.2, minRetriesPerSecond: 10 }; // Linkerd's defaults

// What only some clusters use loads with the first snapshot that has such a cluster (loadClusterCode,
// awaited by DataPlane.apply before it builds the clusters): the consistent-hash balancers (RING_HASH,
// MAGLEV), the proxy's own DNS resolution (ServiceEntry DNS endpoints, wildcard hosts), which brings
// node:dns, and setsockopt for tcpKeepalive's interval and probes. A typical sidecar uses none of them
// and would otherwise keep them in memory for nothing.
const code = {
  ringHash: new LazyModule('RING_HASH balancer', () => import('./balancers/ring-hash.js')),
  maglev: new LazyModule('MAGLEV balancer', () => import('./balancers/maglev.js')),
  dns: new LazyModule('DNS', () => import('./dns-endpoints.js')),
  named: new LazyModule('wildcard host', () => import('./named-hosts.js')),
};

/** Loads the code `clusters` need; undefined when it is loaded already. */
export function loadClusterCode(clusters: readonly Cluster[]): Promise<void> | undefined {
  const any = (f: (c: Cluster) => boolean) => clusters.some(f);
  return whenLoaded([
    code.ringHash.load(any((c) => c.lbPolicy === 'RING_HASH')),
    code.maglev.load(any((c) => c.lbPolicy === 'MAGLEV')),
    code.dns.load(any((c) => c.dns !== undefined)),
    code.named.load(any((c) => c.dynamicHost === true)),
    keepaliveOptions.load(any((c) => needsSocketOptions(c.connectionPool?.tcpKeepalive))),
  ]);
}

export class ClusterRuntime {
  readonly limits: ClusterLimits;
  readonly budget: RetryBudget;
  readonly outliers: OutlierDetector | undefined;
  /** Own connection pools when the cluster limits connections or originates TLS (the pool keys leave
   *  out the trusted CAs, so such connections must not mix with others); else the proxy-wide ones. */
  readonly pools: H1Pools | undefined;
  /** Own HTTP/2 sessions when the cluster limits requests per connection or idle time (they count
   *  requests); else the proxy-wide ones, shared by every cluster to the same peer. */
  readonly h2: H2Sessions | undefined;
  /** DestinationRule SIMPLE/MUTUAL toward a host outside the mesh: the TLS the proxy originates. */
  readonly origination: Origination | undefined;
  private readonly tunnels = new WeakMap<Endpoint, TunnelTarget>();
  private readonly balancer: Balancer;
  private readonly inflight = new Map<string, number>();
  /** LEAST_REQUEST: the balancer reads `inflight`. */
  private readonly countsInflight: boolean;
  private readonly checks = new Map<string, IdentityCheck>();
  private table: { key: string; lb: RingHash | Maglev } | undefined;
  /** RING_HASH and MAGLEV: builds the hash table of an endpoint set. */
  private readonly newTable: ((eps: readonly Endpoint[]) => RingHash | Maglev) | undefined;
  private ready: Endpoint[] = [];
  private plan: LocalityPlan | undefined;
  /** ServiceEntry DNS / DNS_ROUND_ROBIN: endpoints named by host, resolved by this proxy. */
  private readonly dns: DnsEndpoints | undefined;
  private dnsSeen = -1;
  /** Wildcard ServiceEntry hosts without resolution (NONE, DYNAMIC_DNS): requests go to the host they
   *  name, through `forHost`. */
  readonly named: NamedHosts | undefined;
  private readonly hosts = new Map<string, ClusterRuntime>();

  /** `previous`: the same cluster from the last snapshot; its budget, breakers and ejections carry over. */
  constructor(
    readonly cluster: Cluster,
    previous?: ClusterRuntime,
    /** The calling proxy's locality and labels, for locality-aware balancing. */
    private readonly client: Client = { labels: {} },
  ) {
    const same = (k: 'connectionPool' | 'outlierDetection' | 'retryBudget') =>
      previous !== undefined && JSON.stringify(previous.cluster[k]) === JSON.stringify(cluster[k]);
    if (cluster.dns) {
      // Keep the previous resolver (and its answers) when the named endpoints did not change.
      const p = previous?.dns;
      const keep =
        p && p.mode === cluster.dns && JSON.stringify(p.source) === JSON.stringify(cluster.endpoints);
      this.dns = keep ? p : new (code.dns.get().DnsEndpoints)(cluster.endpoints, cluster.dns);
      this.dns.refreshIfStale();
    }
    // A wildcard cluster's only endpoint is a template for the hosts requests name (forHost).
    this.setEndpoints(cluster.dynamicHost ? [] : (this.dns?.endpoints ?? cluster.endpoints));
    if (cluster.dynamicHost && cluster.endpoints[0])
      this.named = new (code.named.get().NamedHosts)(cluster.endpoints[0]);
    const size = cluster.hashPolicy?.ringSize;
    if (cluster.lbPolicy === 'MAGLEV') {
      const { Maglev, DEFAULT_TABLE_SIZE } = code.maglev.get();
      this.newTable = (eps) => new Maglev(eps, size ?? DEFAULT_TABLE_SIZE);
    } else if (cluster.lbPolicy === 'RING_HASH') {
      const { RingHash } = code.ringHash.get();
      this.newTable = (eps) => new RingHash(eps, size ?? 1024);
    }
    this.countsInflight = cluster.lbPolicy === 'LEAST_REQUEST';
    this.balancer =
      cluster.lbPolicy === 'RANDOM'
        ? new RandomBalancer()
        : cluster.lbPolicy === 'LEAST_REQUEST'
          ? new LeastRequest((ep) => this.inflight.get(ep.instance) ?? 0)
          : new RoundRobin();
    for (const ep of cluster.endpoints) this.checks.set(ep.instance, identityCheck(ep.identity));
    this.limits = same('connectionPool') ? previous!.limits : new ClusterLimits(cluster.connectionPool);
    const b = cluster.retryBudget ?? DEFAULT_BUDGET;
    this.budget = same('retryBudget') ? previous!.budget : new RetryBudget(b.ratio, b.minRetriesPerSecond);
    this.outliers = same('outlierDetection')
      ? previous!.outliers
      : cluster.outlierDetection
        ? new OutlierDetector(cluster.outlierDetection)
        : undefined;
    const pool = cluster.connectionPool;
    // What a connection or session of this cluster must obey, HTTP/1.1 and HTTP/2 alike.
    const connLimits: H2SessionLimits = {
      ...(pool?.idleTimeoutMs ? { idleTimeoutMs: pool.idleTimeoutMs } : {}),
      ...(pool?.maxRequestsPerConnection ? { maxRequestsPerConnection: pool.maxRequestsPerConnection } : {}),
      ...(pool?.maxConcurrentStreams ? { maxConcurrentStreams: pool.maxConcurrentStreams } : {}),
      ...(pool?.maxConnectionDurationMs ? { maxConnectionDurationMs: pool.maxConnectionDurationMs } : {}),
      ...(pool?.tcpKeepalive ? { keepalive: pool.tcpKeepalive } : {}),
    };
    const connLimited = Object.keys(connLimits).length > 0;
    this.origination = cluster.originateTls
      ? new Origination(cluster.originateTls, connLimited ? connLimits : undefined)
      : undefined;
    // The same limits as the cluster this one replaces (a snapshot changed its endpoints, say): its
    // connections and sessions carry on, as Envoy keeps a cluster's pools across endpoint updates. TLS
    // origination brings a new TLS context with every runtime, so its pools do not carry.
    const carry = same('connectionPool') && !this.origination && !previous!.origination;
    this.h2 =
      connLimited && !this.origination ? (carry && previous!.h2) || new H2Sessions(connLimits) : undefined;
    if (carry && previous!.pools) this.pools = previous!.pools;
    else if (connLimited || pool?.maxConnections || this.origination) {
      this.pools = new H1Pools({
        ...connLimits,
        idleTimeoutMs: pool?.idleTimeoutMs ?? MESH_POOL_IDLE_MS,
        ...(pool?.maxConnections ? { maxConnections: pool.maxConnections } : {}),
      });
    }
  }

  /**
   * The next endpoint; `avoid` (the one that just failed) is skipped when there is another choice.
   * `hash` is the request's consistent-hash key for RING_HASH and MAGLEV clusters.
   */
  pick(avoid?: Endpoint, hash?: number): Endpoint | undefined {
    let eps: readonly Endpoint[] = this.healthy;
    if (this.outliers) eps = this.outliers.filter(eps, (e) => e.instance);
    if (this.plan) eps = this.plan.choose(eps, hash === undefined ? Math.random : () => hash / 2 ** 32);
    if (avoid && eps.length > 1) eps = eps.filter((e) => e !== avoid);
    if (this.newTable)
      return this.hashTable(this.newTable, eps).pick(hash ?? (Math.random() * 2 ** 32) >>> 0);
    return this.balancer.pick(eps);
  }

  /**
   * A wildcard entry's cluster narrowed to the host a request names, once resolved: one endpoint, and the
   * limits, retry budget and outlier state of this cluster (shared, as Envoy keeps them per cluster). TLS
   * origination without a rule `sni` sends the requested name, not the wildcard.
   */
  async forHost(host: string): Promise<ClusterRuntime | Error> {
    const ep = await this.named!.resolve(host);
    if (ep instanceof Error) return ep;
    const key = `${host}|${ep.address}`;
    let rt = this.hosts.get(key);
    if (!rt) {
      const { dynamicHost: _d, originateTls: tls, ...rest } = this.cluster;
      const sni = tls?.sni.startsWith('*.') ? host : tls?.sni;
      const originateTls = tls && sni ? { ...tls, sni } : undefined;
      rt = new ClusterRuntime(
        { ...rest, ...(originateTls ? { originateTls } : {}), endpoints: [ep] },
        this,
        this.client,
      );
      this.hosts.set(key, rt);
      if (this.hosts.size > 256) this.hosts.delete(this.hosts.keys().next().value!);
    }
    return rt;
  }

  /** Ready endpoints (DNS answers included). */
  get healthy(): Endpoint[] {
    const d = this.dns;
    if (d) {
      d.refreshIfStale();
      if (d.version !== this.dnsSeen) {
        this.dnsSeen = d.version;
        this.setEndpoints(d.endpoints);
      }
    }
    return this.ready;
  }

  private setEndpoints(eps: readonly Endpoint[]): void {
    this.ready = eps.filter((e) => e.healthy);
    this.plan = this.cluster.locality ? new LocalityPlan(eps, this.client, this.cluster.locality) : undefined;
  }

  /** Hash tables are built once per distinct endpoint set (ejections change the set) and cached. */
  private hashTable(
    newTable: (eps: readonly Endpoint[]) => RingHash | Maglev,
    eps: readonly Endpoint[],
  ): RingHash | Maglev {
    const key = eps.map((e) => e.instance).join('|');
    if (this.table?.key === key) return this.table.lb;
    const lb = newTable(eps);
    this.table = { key, lb };
    return lb;
  }

  /** Feed a result to outlier detection; true when it ejected the endpoint. */
  record(ep: Endpoint, status: number): boolean {
    return this.outliers?.record(ep.instance, status, this.healthy.length) ?? false;
  }

  /**
   * The mTLS tunnel target for a mesh peer (CONNECT, gateway TLS passthrough): kept per endpoint, so that
   * the next tunnel resumes the last one's TLS session (transport/tunnel.ts); rebuilt when our
   * certificate rotates (a new client context). Endpoints that leave go with their runtime.
   */
  tunnelTarget(ep: Endpoint, ctx: SecureContext): TunnelTarget {
    let t = this.tunnels.get(ep);
    if (t === undefined || t.tls.secureContext !== ctx) {
      t = {
        host: ep.address,
        port: ep.port,
        tls: {
          secureContext: ctx,
          servername: this.cluster.sni,
          checkServerIdentity: this.identityCheck(ep),
        },
      };
      this.tunnels.set(ep, t);
    }
    return t;
  }

  /** Verifies the server certificate carries the SPIFFE ID the control plane said this endpoint has. */
  identityCheck(ep: Endpoint): IdentityCheck {
    return this.checks.get(ep.instance) ?? identityCheck(ep.identity);
  }

  // Requests under way per endpoint are counted only for the balancer that reads them (two Map updates
  // per request otherwise spent for nothing).
  started(ep: Endpoint): void {
    if (!this.countsInflight) return;
    this.inflight.set(ep.instance, (this.inflight.get(ep.instance) ?? 0) + 1);
  }
  finished(ep: Endpoint): void {
    if (!this.countsInflight) return;
    this.inflight.set(ep.instance, Math.max(0, (this.inflight.get(ep.instance) ?? 1) - 1));
  }

  /** Ends its connections at once. Only for a runtime nothing replaced: a successor with the same
   *  limits shares its pools and sessions. Proxies never close replaced runtimes: their pools sweep
   *  themselves once unused. */
  close(): void {
    this.pools?.close();
    this.h2?.close();
    this.origination?.h2.close();
  }
}

function identityCheck(expected: string): IdentityCheck {
  return (_host, cert) => {
    const got = certSpiffeId(cert);
    return got === expected
      ? undefined
      : Object.assign(new Error(`peer identity ${got ?? '(none)'} is not the expected ${expected}`), {
          code: 'ERR_WEFT_PEER_IDENTITY',
        });
  };
}
