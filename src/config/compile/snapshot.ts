// The compiler's entry point: resources + registry -> one snapshot per proxy.
import type { InboundRoute, ProxyIdentity, ProxySnapshot } from '../../model/snapshot.js';
import type { Workload } from '../types.js';
import { buildClusters } from './clusters.js';
import { inboundRateLimit } from './rate-limits.js';
import { labelsMatch, portProtocol, type MeshIndex } from './inputs.js';
import { gatewayListeners, sidecarVirtualHosts } from './virtual-hosts.js';
import { inboundSecurity } from './security.js';
import { compileTracing } from './tracing.js';
import { compileAccessLog } from './access-log.js';
import { compileMetrics } from './telemetry-metrics.js';
import { outboundTrafficPolicy } from './service-entries.js';
import { sidecarScope } from './sidecar-scope.js';

export type CompiledSnapshot = Omit<ProxySnapshot, 'version'>;

function inboundRoutes(index: MeshIndex, proxy: ProxyIdentity): InboundRoute[] {
  const workload = index.workloads.get(`${proxy.namespace}/${proxy.workload}`);
  const out: InboundRoute[] = [];
  for (const svc of index.services.values()) {
    const selector = svc.resource.spec.selector;
    if (svc.resource.metadata.namespace !== proxy.namespace) continue;
    if (!selector || Object.keys(selector).length === 0 || !labelsMatch(selector, proxy.labels)) continue;
    for (const p of svc.resource.spec.ports) {
      const targetPort = index.targetPort(svc, p.port, workload);
      if (targetPort !== undefined)
        out.push({ service: svc.fqdn, port: p.port, targetPort, protocol: portProtocol(p) });
    }
  }
  return out;
}

function probeOf(w: Workload): { probe?: { path: string; port: number } } {
  const get = w.spec.readinessProbe?.httpGet;
  if (!get) return {};
  const ports = w.spec.ports ?? [];
  const port =
    typeof get.port === 'number'
      ? get.port
      : get.port !== undefined
        ? ports.find((p) => p.name === get.port)?.containerPort
        : ports[0]?.containerPort;
  return port === undefined ? {} : { probe: { path: get.path ?? '/', port } };
}

export function compileSnapshot(index: MeshIndex, proxy: ProxyIdentity): CompiledSnapshot {
  const workload = index.workloads.get(`${proxy.namespace}/${proxy.workload}`);
  const sidecar = proxy.kind === 'sidecar';
  // Istio's Sidecar resource: what this workload's sidecar knows, and its outbound traffic policy.
  const scope = sidecar ? sidecarScope(index, proxy.namespace, proxy.labels) : undefined;
  return {
    proxy,
    trustDomain: index.mesh.trustDomain,
    outbound: sidecar
      ? {
          virtualHosts: sidecarVirtualHosts(index, proxy.namespace, proxy.labels, scope),
          policy: scope?.policy ?? outboundTrafficPolicy(index),
        }
      : { virtualHosts: [] },
    inbound: {
      routes: sidecar ? inboundRoutes(index, proxy) : [],
      containerPorts: (workload?.spec.ports ?? []).map((p) => p.containerPort),
      ...(sidecar && workload ? probeOf(workload) : {}),
      ...(() => {
        const rl = sidecar ? inboundRateLimit(index, proxy.namespace, proxy.labels) : undefined;
        return rl ? { rateLimit: rl } : {};
      })(),
    },
    gateways: sidecar ? [] : gatewayListeners(index, proxy.labels, proxy.namespace),
    clusters: buildClusters(index),
    security: inboundSecurity(index, proxy),
    ...compileTracing(index, proxy),
    ...compileAccessLog(index, proxy),
    ...compileMetrics(index, proxy),
  };
}
