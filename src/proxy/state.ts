// Everything the data path needs from one snapshot, compiled once when the snapshot arrives and
// swapped in atomically. A snapshot that cannot be compiled throws, and the proxy NACKs it.
import type { InboundRoute, ProxySnapshot } from '../model/snapshot.js';
import { RouteTable } from './http/router.js';
import { ClusterRuntime, loadClusterCode } from './upstream/cluster.js';
import { localityOf } from '../model/locality.js';
import { encodePeerMetadata } from './telemetry/peer-metadata.js';
import { WeftError, ErrorCodes } from '../lib/errors.js';
import { SecurityGate, loadGateCode, type GateOptions } from './security/gate.js';
import { whenLoaded } from '../lib/lazy-module.js';

/**
 * Loads the code a ProxyState for `snapshot` needs beyond what every proxy has (JWT and authorization
 * policy, consistent-hash balancers, DNS resolution: see loadGateCode and loadClusterCode); undefined
 * when it is loaded already.
 */
export function loadStateCode(snapshot: ProxySnapshot): Promise<void> | undefined {
  return whenLoaded([loadGateCode(snapshot.security), loadClusterCode(snapshot.clusters)]);
}

export interface GatewayState {
  name: string;
  bind: string;
  port: number;
  routes: RouteTable;
}

export class ProxyState {
  readonly outbound: RouteTable;
  readonly clusters = new Map<string, ClusterRuntime>();
  readonly inbound = new Map<string, InboundRoute>(); // "host:port" -> route
  /** inboundRoute's answers for this snapshot, by SNI and by authority, filled as connections and
   *  requests ask (listeners/inbound-conn.ts): dropped with the snapshot. */
  readonly inboundAnswers = {
    bySni: new Map<string, InboundRoute>(),
    byAuthority: new Map<string, InboundRoute>(),
  };
  readonly gateways: GatewayState[];
  /** Sent to peers in x-weft-peer-metadata (encoded once per snapshot). */
  readonly peerMetadata: string;
  /** Path normalization, JWT and AuthorizationPolicy for requests this proxy receives. */
  readonly gate: SecurityGate;

  constructor(
    readonly snapshot: ProxySnapshot,
    previous?: ProxyState,
    gateOptions: GateOptions = {},
  ) {
    try {
      this.outbound = new RouteTable(snapshot.outbound.virtualHosts);
      this.gateways = snapshot.gateways.map((g) => ({
        name: g.name,
        bind: g.bind,
        port: g.port,
        routes: new RouteTable(g.virtualHosts),
      }));
    } catch (e) {
      throw new WeftError(ErrorCodes.SNAPSHOT_INVALID, `cannot compile routes: ${(e as Error).message}`);
    }
    const self = { locality: localityOf(snapshot.proxy.labels), labels: snapshot.proxy.labels };
    for (const c of snapshot.clusters) {
      // Keep a cluster's runtime (balancer position, in-flight counts) when it did not change.
      const prev = previous?.clusters.get(c.name);
      this.clusters.set(
        c.name,
        prev && JSON.stringify(prev.cluster) === JSON.stringify(c) ? prev : new ClusterRuntime(c, prev, self),
      );
    }
    this.peerMetadata = encodePeerMetadata(snapshot.proxy);
    try {
      this.gate = new SecurityGate(snapshot.security, { ...gateOptions, principal: snapshot.proxy.spiffeId });
    } catch (e) {
      throw new WeftError(
        ErrorCodes.SNAPSHOT_INVALID,
        `cannot compile security policy: ${(e as Error).message}`,
      );
    }
    for (const r of snapshot.inbound.routes) this.inbound.set(`${r.service}:${r.port}`, r);
  }
}
