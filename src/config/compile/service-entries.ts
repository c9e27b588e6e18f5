// ServiceEntry -> clusters and sidecar virtual hosts. MESH_EXTERNAL hosts are reached in plaintext
// (TLS origination is the egress gateway's job): DNS resolution connects to the endpoint addresses or
// the host name itself, STATIC to the endpoint addresses, NONE to the host as the client named it.
// MESH_INTERNAL entries with a workloadSelector reach the selected Workloads through their sidecars.
import type { Cluster, Endpoint, Route, VirtualHost } from '../../model/snapshot.js';
import { clusterName, clusterSni } from '../../model/snapshot.js';
import type { ServiceEntry, VirtualService } from '../types.js';
import { fqdn } from '../hosts.js';
import { labelsMatch, portProtocol, type MeshIndex } from './inputs.js';
import { compileHttpRoutes } from './routes.js';
import { ISTIO_DEFAULT_RETRY } from './http-policies.js';

interface SePort {
  number: number;
  name: string;
  protocol?: string;
  targetPort?: number;
}

function ports(se: ServiceEntry): SePort[] {
  return se.spec.ports ?? [{ number: 80, name: 'http', protocol: 'HTTP' }];
}

function endpoints(
  index: MeshIndex,
  se: ServiceEntry,
  host: string,
  p: SePort,
  subset?: Record<string, string>,
): Endpoint[] {
  const sel = se.spec.workloadSelector?.labels;
  if (sel) {
    return index.instances
      .filter(
        (i) => i.kind === 'sidecar' && i.namespace === se.metadata.namespace && labelsMatch(sel, i.labels),
      )
      .filter((i) => !subset || labelsMatch(subset, i.labels))
      .map((i) => ({
        address: i.address,
        port: i.inboundPort,
        identity: i.spiffeId,
        instance: i.id,
        labels: i.labels,
        healthy: i.ready,
      }));
  }
  const listed = (se.spec.endpoints ?? []).filter((e) => !subset || labelsMatch(subset, e.labels ?? {}));
  const resolution = se.spec.resolution ?? 'NONE';
  if (listed.length === 0 && resolution !== 'STATIC') {
    // DNS without endpoints, or NONE: the host itself, resolved when connecting.
    return [
      {
        address: host,
        port: p.targetPort ?? p.number,
        identity: '',
        instance: host,
        labels: {},
        healthy: true,
      },
    ];
  }
  return listed.map((e, i) => ({
    address: e.address ?? host,
    port: e.ports?.[p.name] ?? p.targetPort ?? p.number,
    identity: '',
    instance: `${host}#${i}`,
    labels: e.labels ?? {},
    healthy: true,
  }));
}

/** SE hosts are fully qualified as written (short names are expanded like VirtualService hosts). */
function hostsOf(se: ServiceEntry, index: MeshIndex): string[] {
  return se.spec.hosts
    .filter((h) => !h.startsWith('*'))
    .map((h) => fqdn(h, se.metadata.namespace, index.mesh.domain));
}

export function serviceEntryClusters(index: MeshIndex): Cluster[] {
  const out: Cluster[] = [];
  for (const se of index.serviceEntries) {
    const internal = se.spec.location === 'MESH_INTERNAL' && se.spec.workloadSelector !== undefined;
    for (const host of hostsOf(se, index)) {
      if (index.services.has(host)) continue; // a Service of the same name wins
      const dr = index.destinationRules.get(host);
      for (const p of ports(se)) {
        const base = {
          service: host,
          port: p.number,
          protocol: portProtocol({ name: p.name, appProtocol: p.protocol }),
          lbPolicy: 'ROUND_ROBIN' as const,
        };
        out.push({
          ...base,
          name: clusterName(p.number, undefined, host),
          sni: clusterSni(p.number, undefined, host),
          ...(internal ? {} : { external: true }),
          endpoints: endpoints(index, se, host, p),
        });
        for (const subset of dr?.spec.subsets ?? []) {
          out.push({
            ...base,
            name: clusterName(p.number, subset.name, host),
            subset: subset.name,
            sni: clusterSni(p.number, subset.name, host),
            ...(internal ? {} : { external: true }),
            endpoints: endpoints(index, se, host, p, subset.labels ?? {}),
          });
        }
      }
    }
  }
  return out;
}

export function serviceEntryVirtualHosts(
  index: MeshIndex,
  meshVs: VirtualService[],
  clientLabels: Record<string, string>,
): VirtualHost[] {
  const out: VirtualHost[] = [];
  for (const se of index.serviceEntries) {
    for (const host of hostsOf(se, index)) {
      if (index.services.has(host)) continue;
      const vs = meshVs.find((v) =>
        (v.spec.hosts ?? []).some((h) => fqdn(h, v.metadata.namespace, index.mesh.domain) === host),
      );
      for (const p of ports(se)) {
        const domains = [
          `${host}:${p.number}`,
          ...se.spec.hosts
            .filter((h) => h.toLowerCase() !== host)
            .map((h) => `${h.toLowerCase()}:${p.number}`),
        ];
        if (p.number === 80 || ports(se).length === 1) domains.push(host);
        const routes: Route[] = vs
          ? compileHttpRoutes(vs, index, { port: p.number, sourceLabels: clientLabels })
          : [
              {
                name: `ServiceEntry/${se.metadata.namespace}/${se.metadata.name}`,
                matches: [],
                action: {
                  kind: 'forward',
                  clusters: [{ cluster: clusterName(p.number, undefined, host), weight: 100 }],
                  retry: ISTIO_DEFAULT_RETRY,
                },
              },
            ];
        out.push({ name: `${host}:${p.number}`, domains, routes });
      }
    }
  }
  return out;
}
