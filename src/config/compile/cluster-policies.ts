// DestinationRule traffic policy -> cluster policies. The narrowest setting wins, as in Istio:
// subset port-level, subset, rule port-level, rule.
import type {
  Cluster,
  LbPolicy,
  ConnectionPoolPolicy,
  HashPolicy,
  LocalityPolicy,
  OutlierPolicy,
  TcpKeepalive,
} from '../../model/snapshot.js';
import type { TrafficPolicy } from '../types.js';
import { parseDuration } from '../duration.js';
import type { MeshIndex } from './inputs.js';

type Obj = Record<string, unknown>;

const num = (o: Obj | undefined, k: string) => (typeof o?.[k] === 'number' ? (o[k] as number) : undefined);
const dur = (o: Obj | undefined, k: string) =>
  typeof o?.[k] === 'string' ? parseDuration(o[k] as string) : undefined;

function defined<T extends object>(o: T): T | undefined {
  const entries = Object.entries(o).filter(([, v]) => v !== undefined);
  return entries.length ? (Object.fromEntries(entries) as T) : undefined;
}

/** The policies that apply to one port, narrowest first. */
export function policiesFor(port: number, ...policies: Array<TrafficPolicy | undefined>): TrafficPolicy[] {
  const out: TrafficPolicy[] = [];
  for (const p of policies) {
    if (!p) continue;
    const pl = (p.portLevelSettings ?? []).find(
      (s) => (s.port as { number?: number } | undefined)?.number === port,
    );
    if (pl) out.push(pl as TrafficPolicy);
    out.push(p);
  }
  return out;
}

export function connectionPool(policies: TrafficPolicy[]): ConnectionPoolPolicy | undefined {
  const cp = policies.find((p) => p.connectionPool)?.connectionPool as Obj | undefined;
  if (!cp) return undefined;
  const tcp = cp.tcp as Obj | undefined;
  const http = cp.http as Obj | undefined;
  return defined<ConnectionPoolPolicy>({
    maxConnections: num(tcp, 'maxConnections'),
    connectTimeoutMs: dur(tcp, 'connectTimeout'),
    maxPendingRequests: num(http, 'http1MaxPendingRequests'),
    maxRequests: num(http, 'http2MaxRequests'),
    maxRequestsPerConnection: num(http, 'maxRequestsPerConnection'),
    maxConcurrentStreams: num(http, 'maxConcurrentStreams'),
    idleTimeoutMs: dur(http, 'idleTimeout'),
    maxRetries: num(http, 'maxRetries'),
    maxConnectionDurationMs: dur(tcp, 'maxConnectionDuration'),
    tcpIdleTimeoutMs: dur(tcp, 'idleTimeout'),
    tcpKeepalive: keepalive(policies),
  });
}

/**
 * SO_KEEPALIVE: on when any policy, down to meshConfig's, sets tcpKeepalive. Each field from the narrowest
 * policy that gives it (Istio lets a DestinationRule's fields override the mesh's one by one); a 0
 * interval or probe count means unset, as in Istio.
 */
function keepalive(policies: TrafficPolicy[]): TcpKeepalive | undefined {
  const set = policies
    .map((p) => (p.connectionPool?.tcp as Obj | undefined)?.tcpKeepalive as Obj | undefined)
    .filter((k) => k !== undefined);
  if (!set.length) return undefined;
  const first = (get: (k: Obj) => number | undefined) => set.map(get).find((v) => v !== undefined && v > 0);
  return defined<TcpKeepalive>({
    timeMs: first((k) => dur(k, 'time')) ?? 0,
    intervalMs: first((k) => dur(k, 'interval')),
    probes: first((k) => num(k, 'probes')),
  });
}

export function outlierDetection(policies: TrafficPolicy[]): OutlierPolicy | undefined {
  const od = policies.find((p) => p.outlierDetection)?.outlierDetection as Obj | undefined;
  if (!od) return undefined;
  const c5xx = num(od, 'consecutive5xxErrors') ?? num(od, 'consecutiveErrors');
  const cgw = num(od, 'consecutiveGatewayErrors');
  return {
    // Istio: consecutive5xxErrors defaults to 5 when the block is present; 0 disables it.
    ...(c5xx !== 0 ? { consecutive5xxErrors: c5xx ?? 5 } : {}),
    ...(cgw ? { consecutiveGatewayErrors: cgw } : {}),
    intervalMs: dur(od, 'interval') ?? 10_000,
    baseEjectionTimeMs: dur(od, 'baseEjectionTime') ?? 30_000,
    maxEjectionPercent: num(od, 'maxEjectionPercent') ?? 10,
    minHealthPercent: num(od, 'minHealthPercent') ?? 0,
  };
}

export function lbSimple(policies: TrafficPolicy[]): string | undefined {
  return policies.find((p) => p.loadBalancer?.simple)?.loadBalancer?.simple;
}

/** DestinationRule loadBalancer.consistentHash -> hash policy; undefined when not consistent hashing. */
export function hashPolicy(policies: TrafficPolicy[]): (HashPolicy & { maglev: boolean }) | undefined {
  const lb = policies.find((p) => p.loadBalancer?.consistentHash)?.loadBalancer;
  const ch = lb?.consistentHash as Obj | undefined;
  if (!ch) return undefined;
  const cookie = ch.httpCookie as Obj | undefined;
  const ring = ch.ringHash as Obj | undefined;
  const maglev = ch.maglev as Obj | undefined;
  const size = num(maglev, 'tableSize') ?? num(ring, 'minimumRingSize') ?? num(ch, 'minimumRingSize');
  return {
    maglev: maglev !== undefined,
    ...(typeof ch.httpHeaderName === 'string' ? { header: ch.httpHeaderName.toLowerCase() } : {}),
    ...(cookie && typeof cookie.name === 'string'
      ? {
          cookie: {
            name: cookie.name,
            ...(typeof cookie.path === 'string' ? { path: cookie.path } : {}),
            ...(dur(cookie, 'ttl') !== undefined ? { ttlMs: dur(cookie, 'ttl') } : {}),
          },
        }
      : {}),
    ...(ch.useSourceIp ? { sourceIp: true } : {}),
    ...(typeof ch.httpQueryParameterName === 'string' ? { queryParam: ch.httpQueryParameterName } : {}),
    ...(size ? { ringSize: size } : {}),
  };
}

/**
 * localityLbSetting, as Istio's ApplyLocalityLoadBalancer: `enabled: false` turns it all off; `distribute`
 * applies on its own; failover (by locality, `failover` regions and `failoverPriority` labels) only with
 * outlier detection, which gives it the health signal to fail over (Istio's default is on).
 */
export function localityPolicy(policies: TrafficPolicy[], hasOutlier: boolean): LocalityPolicy | undefined {
  const l = policies.find((p) => p.loadBalancer?.localityLbSetting)?.loadBalancer?.localityLbSetting as
    Obj | undefined;
  if (l?.enabled === false) return undefined;
  const distribute = Array.isArray(l?.distribute)
    ? (l.distribute as Array<{ from?: string; to?: Record<string, number> }>)
    : [];
  if (distribute.length)
    return {
      failover: [],
      distribute: distribute.map((d) => ({
        from: d.from ?? '*',
        to: Object.entries(d.to ?? {}).map(([locality, weight]) => ({ locality, weight })),
      })),
    };
  if (!hasOutlier) return undefined;
  const failover = Array.isArray(l?.failover) ? (l.failover as Array<{ from?: string; to?: string }>) : [];
  const priority = Array.isArray(l?.failoverPriority) ? (l.failoverPriority as string[]) : [];
  return {
    failover: failover.filter((f) => f.from && f.to).map((f) => ({ from: f.from!, to: f.to! })),
    ...(priority.length ? { failoverPriority: priority } : {}),
  };
}

function lbPolicy(policies: TrafficPolicy[], hash: { maglev: boolean } | undefined): LbPolicy {
  if (hash) return hash.maglev ? 'MAGLEV' : 'RING_HASH';
  const simple = lbSimple(policies);
  if (simple === 'RANDOM') return 'RANDOM';
  if (simple === 'LEAST_REQUEST' || simple === 'LEAST_CONN') return 'LEAST_REQUEST';
  return 'ROUND_ROBIN';
}

/** The mesh-wide defaults a DestinationRule overrides: meshConfig.localityLbSetting and tcpKeepalive. */
export function meshTrafficPolicy(index: MeshIndex): TrafficPolicy | undefined {
  const l = index.meshConfig.localityLbSetting;
  const ka = index.meshConfig.tcpKeepalive;
  if (!l && !ka) return undefined;
  return {
    ...(l ? { loadBalancer: { localityLbSetting: l } } : {}),
    ...(ka ? { connectionPool: { tcp: { tcpKeepalive: ka } } } : {}),
  } as TrafficPolicy;
}

/**
 * Istio's h2UpgradePolicy (shouldH2Upgrade in its cluster builder): the narrowest connectionPool
 * decides, UPGRADE or DO_NOT_UPGRADE, unless it sets useClientProtocol (never upgraded); DEFAULT or
 * no setting means meshConfig.h2UpgradePolicy (DO_NOT_UPGRADE unless set), which upgrades only ports
 * declared HTTP by name or appProtocol (not ports whose protocol is guessed). Only destinations in the
 * mesh are upgraded: never hosts outside it (their endpoints are not proxies) nor TLS origination.
 * gRPC and HTTP/2 ports use HTTP/2 already; TCP ports never reach the HTTP path.
 */
export function h2Upgrade(
  index: Pick<MeshIndex, 'meshConfig'>,
  port: { number: number; name?: string; appProtocol?: string },
  cluster: Pick<Cluster, 'protocol' | 'external' | 'originateTls'>,
  ...tps: Array<TrafficPolicy | undefined>
): { h2Upgrade?: true } {
  if (cluster.protocol !== 'http' || cluster.external || cluster.originateTls) return {};
  const cp = policiesFor(port.number, ...tps).find((p) => p.connectionPool)?.connectionPool as
    Obj | undefined;
  const http = cp?.http as Obj | undefined;
  if (http?.useClientProtocol === true) return {};
  const override = http?.h2UpgradePolicy;
  if (override === 'UPGRADE') return { h2Upgrade: true };
  if (override === 'DO_NOT_UPGRADE') return {};
  const declared = (port.appProtocol ?? port.name ?? '').toLowerCase().split(/[-_]/)[0] === 'http';
  return declared && index.meshConfig.h2UpgradePolicy === 'UPGRADE' ? { h2Upgrade: true } : {};
}

/** Policy fields of a cluster for one port, from the narrowest DestinationRule setting. */
export function clusterPolicy(port: number, ...tps: Array<TrafficPolicy | undefined>) {
  const ps = policiesFor(port, ...tps);
  const pool = connectionPool(ps);
  const od = outlierDetection(ps);
  const hash = hashPolicy(ps);
  const locality = localityPolicy(ps, od !== undefined);
  const { maglev: _m, ...hashPolicyFields } = hash ?? { maglev: false };
  return {
    lbPolicy: lbPolicy(ps, hash),
    ...(hash ? { hashPolicy: hashPolicyFields } : {}),
    ...(locality ? { locality } : {}),
    ...(pool ? { connectionPool: pool } : {}),
    ...(od ? { outlierDetection: od } : {}),
  };
}
