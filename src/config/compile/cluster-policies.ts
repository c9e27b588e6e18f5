// DestinationRule traffic policy -> cluster policies. The narrowest setting wins, as in Istio:
// subset port-level, subset, rule port-level, rule.
import type { ConnectionPoolPolicy, OutlierPolicy } from '../../model/snapshot.js';
import type { TrafficPolicy } from '../types.js';
import { parseDuration } from '../duration.js';

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
    idleTimeoutMs: dur(http, 'idleTimeout'),
    maxRetries: num(http, 'maxRetries'),
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
