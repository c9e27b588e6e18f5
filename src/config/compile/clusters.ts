// Clusters: one per service port, plus one per DestinationRule subset, each with its endpoints.
import type { Cluster, Endpoint, LbPolicy } from '../../model/snapshot.js';
import { clusterName, clusterSni } from '../../model/snapshot.js';
import type { TrafficPolicy } from '../types.js';
import { portProtocol, type InstanceView, type MeshIndex, type ServiceInfo } from './inputs.js';
import {
  connectionPool,
  hashPolicy,
  lbSimple,
  localityPolicy,
  outlierDetection,
  policiesFor,
} from './cluster-policies.js';
import { localityOf } from '../../model/locality.js';
import { serviceEntryClusters } from './service-entries.js';

function lbPolicy(policies: TrafficPolicy[], hash: { maglev: boolean } | undefined): LbPolicy {
  if (hash) return hash.maglev ? 'MAGLEV' : 'RING_HASH';
  const simple = lbSimple(policies);
  if (simple === 'RANDOM') return 'RANDOM';
  if (simple === 'LEAST_REQUEST' || simple === 'LEAST_CONN') return 'LEAST_REQUEST';
  return 'ROUND_ROBIN';
}

/** Policy fields of a cluster for one port, from the narrowest DestinationRule setting. */
function policy(port: number, ...tps: Array<TrafficPolicy | undefined>) {
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

function endpoint(i: InstanceView): Endpoint {
  return {
    address: i.address,
    port: i.inboundPort,
    identity: i.spiffeId,
    instance: i.id,
    labels: i.labels,
    healthy: i.ready,
    ...optionalLocality(i.labels),
  };
}

function optionalLocality(labels: Record<string, string>) {
  const l = localityOf(labels);
  return l ? { locality: l } : {};
}

export function buildClusters(index: MeshIndex): Cluster[] {
  const out: Cluster[] = [];
  for (const svc of index.services.values()) out.push(...clustersForService(index, svc));
  out.push(...serviceEntryClusters(index));
  return out;
}

function clustersForService(index: MeshIndex, svc: ServiceInfo): Cluster[] {
  const dr = index.destinationRules.get(svc.fqdn);
  const out: Cluster[] = [];
  for (const p of svc.resource.spec.ports) {
    out.push({
      name: clusterName(p.port, undefined, svc.fqdn),
      service: svc.fqdn,
      port: p.port,
      protocol: portProtocol(p),
      ...policy(p.port, dr?.spec.trafficPolicy),
      sni: clusterSni(p.port, undefined, svc.fqdn),
      endpoints: index.instancesOf(svc).map(endpoint),
    });
    for (const subset of dr?.spec.subsets ?? []) {
      out.push({
        name: clusterName(p.port, subset.name, svc.fqdn),
        service: svc.fqdn,
        port: p.port,
        subset: subset.name,
        protocol: portProtocol(p),
        ...policy(p.port, subset.trafficPolicy, dr?.spec.trafficPolicy),
        sni: clusterSni(p.port, subset.name, svc.fqdn),
        endpoints: index.instancesOf(svc, subset.labels ?? {}).map(endpoint),
      });
    }
  }
  return out;
}
