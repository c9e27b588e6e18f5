// Clusters: one per service port, plus one per DestinationRule subset, each with its endpoints.
import type { Cluster, Endpoint, OriginateTls } from '../../model/snapshot.js';
import { clusterName, clusterSni } from '../../model/snapshot.js';
import type { DestinationRule, Subset, TrafficPolicy } from '../types.js';
import { labelsMatch, portProtocol, type InstanceView, type MeshIndex, type ServiceInfo } from './inputs.js';
import { clusterPolicy as policy, h2Upgrade, meshTrafficPolicy, policiesFor } from './cluster-policies.js';
import { localityOf } from '../../model/locality.js';
import { originateTls, serviceEntryClusters } from './service-entries.js';
import { instanceMtls, portMode } from './security.js';
import { workloadEntryEndpoints } from './workload-entries.js';

/** Auto mTLS, as Istio: mTLS to sidecars unless the server's port is DISABLE; a DestinationRule
 *  `tls.mode` overrides (DISABLE: plaintext, ISTIO_MUTUAL: always mTLS). SIMPLE and MUTUAL toward
 *  sidecars are sent as mTLS too (the peer is in the mesh); toward hosts outside the mesh and toward
 *  gateways they originate TLS (service-entries.ts, tlsFields). */
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

/** The DestinationRule `tls` that applies to a cluster (port-level and subset settings first). */
function clientTls(policies: TrafficPolicy[]): TrafficPolicy['tls'] {
  return policies.find((p) => p.tls?.mode)?.tls;
}

/**
 * A Service in front of gateway proxies only (Istio's `istio-egressgateway` in istio-system): every
 * Workload it selects is a gateway (or, without Workloads, every instance). A Service that also selects
 * sidecars never gets gateway endpoints: a gateway is not a sidecar endpoint.
 */
function selectsOnlyGateways(index: MeshIndex, svc: ServiceInfo): boolean {
  const selector = svc.resource.spec.selector;
  const ns = svc.resource.metadata.namespace;
  if (!selector || Object.keys(selector).length === 0) return false;
  const workloads = [...index.workloads.values()].filter(
    (w) => w.metadata.namespace === ns && labelsMatch(selector, w.metadata.labels ?? {}),
  );
  if (workloads.length > 0)
    return workloads.every((w) => w.metadata.annotations?.['weft.dev/proxy-kind'] === 'gateway');
  const instances = index.instances.filter((i) => i.namespace === ns && labelsMatch(selector, i.labels));
  return instances.length > 0 && instances.every((i) => i.kind === 'gateway');
}

/**
 * The gateway proxies behind such a Service, reached on the gateway listener the Service port's
 * targetPort names (a Gateway server port, which the gateway binds). Istio's auto mTLS never picks mTLS
 * for gateways (their pods carry no tlsMode label): plaintext, unless a DestinationRule says
 * ISTIO_MUTUAL (mesh certificates, the rule's SNI, the gateway's SPIFFE ID checked) or SIMPLE/MUTUAL
 * (TLS originated with the rule's certificates, tlsFields).
 */
function gatewayEndpoints(
  index: MeshIndex,
  svc: ServiceInfo,
  port: number,
  policies: TrafficPolicy[],
  subsetLabels?: Record<string, string>,
): Endpoint[] {
  const selector = svc.resource.spec.selector ?? {};
  const sp = svc.resource.spec.ports.find((p) => p.port === port);
  const t = sp?.targetPort;
  const target = typeof t === 'number' ? t : t !== undefined && /^\d+$/.test(t) ? Number(t) : port;
  const mode = clientTls(policies)?.mode;
  return index.instances
    .filter(
      (i) =>
        i.kind === 'gateway' &&
        i.namespace === svc.resource.metadata.namespace &&
        labelsMatch(selector, i.labels) &&
        (!subsetLabels || labelsMatch(subsetLabels, i.labels)),
    )
    .map((i) => ({
      ...endpoint(i),
      port: target,
      ...(mode === 'ISTIO_MUTUAL' || mode === 'SIMPLE' || mode === 'MUTUAL' ? {} : { plaintext: true }),
    }));
}

/** TLS fields of a mesh Service's cluster: the SNI (a rule's ISTIO_MUTUAL `tls.sni` replaces Istio's
 *  outbound_ name, as in Istio), and for gateway Services, TLS origination on SIMPLE/MUTUAL. */
function tlsFields(
  index: MeshIndex,
  svc: ServiceInfo,
  port: number,
  subset: Subset | undefined,
  dr: DestinationRule | undefined,
  gateways: boolean,
): { sni: string; originateTls?: OriginateTls } {
  const sni = clusterSni(port, subset?.name, svc.fqdn);
  const tls = clientTls(policiesFor(port, subset?.trafficPolicy, dr?.spec.trafficPolicy));
  if (!tls) return { sni };
  if ((tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL') && gateways) {
    const t = originateTls(index, dr, svc.fqdn, port, subset, undefined);
    return t ? { sni: t.sni, originateTls: t } : { sni };
  }
  return tls.mode === 'ISTIO_MUTUAL' && tls.sni ? { sni: tls.sni.toLowerCase() } : { sni };
}

export function buildClusters(index: MeshIndex): Cluster[] {
  const out: Cluster[] = [];
  for (const svc of index.services.values()) out.push(...clustersForService(index, svc));
  out.push(...serviceEntryClusters(index));
  return out;
}

function clustersForService(index: MeshIndex, svc: ServiceInfo): Cluster[] {
  const dr = index.destinationRules.get(svc.fqdn);
  const gateways = selectsOnlyGateways(index, svc);
  const out: Cluster[] = [];
  for (const p of svc.resource.spec.ports) {
    const endpoints = (subset?: Subset): Endpoint[] => {
      const policies = policiesFor(p.port, subset?.trafficPolicy, dr?.spec.trafficPolicy);
      const labels = subset ? (subset.labels ?? {}) : undefined;
      if (gateways) return gatewayEndpoints(index, svc, p.port, policies, labels);
      const selector = svc.resource.spec.selector;
      return [
        ...withTransport(index.instancesOf(svc, labels), transport(index, svc, p.port, policies)),
        // Services select WorkloadEntries by label too (Istio's VM workloads).
        ...(selector && Object.keys(selector).length
          ? workloadEntryEndpoints(index, {
              namespace: svc.resource.metadata.namespace,
              selector,
              subset: labels,
              portName: p.name,
              port: typeof p.targetPort === 'number' ? p.targetPort : p.port,
              tlsMode: clientTls(policies)?.mode,
            })
          : []),
      ];
    };
    const all = endpoints();
    const protocol = portProtocol(p);
    const portSpec = { number: p.port, name: p.name, appProtocol: p.appProtocol };
    const tls = tlsFields(index, svc, p.port, undefined, dr, gateways);
    out.push({
      name: clusterName(p.port, undefined, svc.fqdn),
      service: svc.fqdn,
      port: p.port,
      protocol,
      ...policy(p.port, dr?.spec.trafficPolicy, meshTrafficPolicy(index)),
      ...tls,
      ...h2Upgrade(index, portSpec, { protocol, ...tls }, dr?.spec.trafficPolicy),
      endpoints: all,
    });
    for (const subset of dr?.spec.subsets ?? []) {
      const eps = endpoints(subset);
      const subsetTls = tlsFields(index, svc, p.port, subset, dr, gateways);
      out.push({
        name: clusterName(p.port, subset.name, svc.fqdn),
        service: svc.fqdn,
        port: p.port,
        subset: subset.name,
        protocol,
        ...policy(p.port, subset.trafficPolicy, dr?.spec.trafficPolicy, meshTrafficPolicy(index)),
        ...subsetTls,
        ...h2Upgrade(
          index,
          portSpec,
          { protocol, ...subsetTls },
          subset.trafficPolicy,
          dr?.spec.trafficPolicy,
        ),
        endpoints: eps,
      });
    }
  }
  return out;
}
