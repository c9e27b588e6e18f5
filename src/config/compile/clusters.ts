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
import { instanceMtls, portMode } from './security.js';

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

/** Auto mTLS, as Istio: mTLS to sidecars unless the server's port is DISABLE; a DestinationRule
 *  `tls.mode` overrides (DISABLE: plaintext, ISTIO_MUTUAL: always mTLS). */
function transport(
  index: MeshIndex,
  svc: ServiceInfo,
  port: number,
  policies: TrafficPolicy[],
): (i: InstanceView) => { plaintext?: true } {
  const mode = policies.find((p) => p.tls?.mode)?.tls?.mode;
  if (mode === 'DISABLE') return () => ({ plaintext: true });
  if (mode === 'ISTIO_MUTUAL' || mode === 'MUTUAL' || mode === 'SIMPLE') return () => ({});
  if (index.meshConfig.enableAutoMtls === false) return () => ({ plaintext: true });
  return (i) => {
    const workload = index.workloads.get(`${i.namespace}/${i.workload}`);
    const target = index.targetPort(svc, port, workload) ?? port;
    return portMode(instanceMtls(index, i), target) === 'DISABLE' ? { plaintext: true } : {};
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

function withTransport(instances: InstanceView[], t: (i: InstanceView) => { plaintext?: true }): Endpoint[] {
  return instances.map((i) => ({ ...endpoint(i), ...t(i) }));
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
      endpoints: withTransport(
        index.instancesOf(svc),
        transport(index, svc, p.port, policiesFor(p.port, dr?.spec.trafficPolicy)),
      ),
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
        endpoints: withTransport(
          index.instancesOf(svc, subset.labels ?? {}),
          transport(index, svc, p.port, policiesFor(p.port, subset.trafficPolicy, dr?.spec.trafficPolicy)),
        ),
      });
    }
  }
  return out;
}
