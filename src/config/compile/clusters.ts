// Clusters: one per service port, plus one per DestinationRule subset, each with its endpoints.
import type { Cluster, Endpoint, LbPolicy } from '../../model/snapshot.js';
import { clusterName, clusterSni } from '../../model/snapshot.js';
import type { TrafficPolicy } from '../types.js';
import type { InstanceView, MeshIndex, ServiceInfo } from './inputs.js';

function lbPolicy(...policies: Array<TrafficPolicy | undefined>): LbPolicy {
  for (const p of policies) {
    const simple = p?.loadBalancer?.simple;
    if (!simple) continue;
    if (simple === 'RANDOM') return 'RANDOM';
    if (simple === 'LEAST_REQUEST' || simple === 'LEAST_CONN') return 'LEAST_REQUEST';
    return 'ROUND_ROBIN';
  }
  return 'ROUND_ROBIN';
}

function endpoint(i: InstanceView): Endpoint {
  return {
    address: i.address,
    port: i.inboundPort,
    identity: i.spiffeId,
    instance: i.id,
    labels: i.labels,
    healthy: i.ready,
  };
}

export function buildClusters(index: MeshIndex): Cluster[] {
  const out: Cluster[] = [];
  for (const svc of index.services.values()) out.push(...clustersForService(index, svc));
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
      lbPolicy: lbPolicy(dr?.spec.trafficPolicy),
      sni: clusterSni(p.port, undefined, svc.fqdn),
      endpoints: index.instancesOf(svc).map(endpoint),
    });
    for (const subset of dr?.spec.subsets ?? []) {
      out.push({
        name: clusterName(p.port, subset.name, svc.fqdn),
        service: svc.fqdn,
        port: p.port,
        subset: subset.name,
        lbPolicy: lbPolicy(subset.trafficPolicy, dr?.spec.trafficPolicy),
        sni: clusterSni(p.port, subset.name, svc.fqdn),
        endpoints: index.instancesOf(svc, subset.labels ?? {}).map(endpoint),
      });
    }
  }
  return out;
}
