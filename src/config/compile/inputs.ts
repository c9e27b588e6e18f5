// What the compiler reads: the user's resources, indexed once per push, and the registry's instances.
import type {
  DestinationRule,
  Gateway,
  Resource,
  ServiceEntry,
  WorkloadEntry,
  Service,
  VirtualService,
  Workload,
  RateLimit,
  Secret,
} from '../types.js';
import { mergeDelegates } from './delegates.js';
import { fqdn, serviceFqdn, DEFAULT_DOMAIN } from '../hosts.js';
import type { GatewayApiRoute, KubernetesGateway, L4Route, ReferenceGrant } from '../gateway-api-types.js';
import type { Telemetry } from '../schemas/istio-telemetry.js';
import type { ConfigMap } from '../schemas/configmap.js';
import type { Sidecar } from '../schemas/istio-sidecar.js';
import type {
  AuthorizationPolicy,
  MeshConfigSpec,
  PeerAuthentication,
  RequestAuthentication,
} from '../security-types.js';

export interface InstanceView {
  id: string;
  workload: string;
  namespace: string;
  labels: Record<string, string>;
  spiffeId: string;
  kind: 'sidecar' | 'gateway';
  address: string;
  inboundPort: number;
  ready: boolean;
}

export interface MeshSettings {
  trustDomain: string;
  domain: string;
}

export const defaultMesh: MeshSettings = { trustDomain: 'cluster.local', domain: DEFAULT_DOMAIN };

export interface ServiceInfo {
  fqdn: string;
  resource: Service;
}

/** Resources indexed for the lookups the compiler makes per proxy, built once per push. */
export class MeshIndex {
  readonly services = new Map<string, ServiceInfo>(); // by FQDN
  readonly workloads = new Map<string, Workload>(); // by ns/name
  readonly destinationRules = new Map<string, DestinationRule>(); // by host FQDN (first wins)
  readonly virtualServices: VirtualService[] = [];
  readonly gateways: Gateway[] = [];
  readonly rateLimits: RateLimit[] = [];
  readonly serviceEntries: ServiceEntry[] = [];
  readonly workloadEntries: WorkloadEntry[] = [];
  // Kubernetes Gateway API (compile/gateway-api.ts): HTTPRoutes and GRPCRoutes together, in load order.
  readonly gatewayApiRoutes: GatewayApiRoute[] = [];
  /** TLSRoutes and TCPRoutes, in load order (gateway listeners only). */
  readonly gatewayApiL4Routes: L4Route[] = [];
  readonly kubernetesGateways: KubernetesGateway[] = [];
  readonly referenceGrants: ReferenceGrant[] = [];
  /** core/v1 Secrets by ns/name: certificates for gateway servers (credentialName). */
  readonly secrets = new Map<string, Secret>();
  /** core/v1 ConfigMaps by ns/name: CA bundles for Gateway API client certificate validation. */
  readonly configMaps = new Map<string, ConfigMap>();
  /** networking.istio.io Sidecars, ordered by namespace/name (compile/sidecar-scope.ts). */
  readonly sidecars: Sidecar[] = [];
  readonly peerAuthentications: PeerAuthentication[] = [];
  readonly authorizationPolicies: AuthorizationPolicy[] = [];
  readonly requestAuthentications: RequestAuthentication[] = [];
  /** telemetry.istio.io Telemetry (compile/tracing.ts). */
  readonly telemetries: Telemetry[] = [];
  /** The MeshConfig named "default" (else the first by name); empty = Istio's defaults. */
  readonly meshConfig: MeshConfigSpec = {};

  /** Hosts ServiceEntries declare with a dot in them (see resolve). */
  private readonly entryHosts = new Set<string>();

  /** A host as a rule written in `namespace` means it: a ServiceEntry host as written, else Kubernetes'
   *  short-name expansion (`reviews` -> `reviews.<ns>.svc.cluster.local`). */
  resolve(host: string, namespace: string): string {
    const h = host.toLowerCase();
    return this.entryHosts.has(h) ? h : fqdn(h, namespace, this.mesh.domain);
  }

  constructor(
    resources: Resource[],
    readonly instances: InstanceView[],
    readonly mesh: MeshSettings = defaultMesh,
  ) {
    const meshConfigs: Array<{ metadata: { name: string }; spec: MeshConfigSpec }> = [];
    // ServiceEntry hosts with a dot are names in their own right (Istio expands only dotless ones):
    // `api.bench` must not become `api.bench.svc.cluster.local` where a rule or route names it.
    for (const r of resources)
      if (r.kind === 'ServiceEntry')
        for (const h of r.spec.hosts)
          if (h.includes('.') && !h.startsWith('*')) this.entryHosts.add(h.toLowerCase());
    for (const r of resources) {
      const ns = r.metadata.namespace;
      switch (r.kind) {
        case 'Service':
          this.services.set(serviceFqdn(r.metadata.name, ns, mesh.domain), {
            fqdn: serviceFqdn(r.metadata.name, ns, mesh.domain),
            resource: r,
          });
          break;
        case 'Workload':
          this.workloads.set(`${ns}/${r.metadata.name}`, r);
          break;
        case 'DestinationRule': {
          const host = this.resolve(r.spec.host, ns);
          if (!this.destinationRules.has(host)) this.destinationRules.set(host, r);
          break;
        }
        case 'VirtualService':
          this.virtualServices.push(r);
          break;
        case 'Gateway':
          this.gateways.push(r);
          break;
        case 'RateLimit':
          this.rateLimits.push(r);
          break;
        case 'ServiceEntry':
          this.serviceEntries.push(r);
          break;
        case 'WorkloadEntry':
          this.workloadEntries.push(r);
          break;
        case 'HTTPRoute':
        case 'GRPCRoute':
          this.gatewayApiRoutes.push(r);
          break;
        case 'TLSRoute':
        case 'TCPRoute':
          this.gatewayApiL4Routes.push(r);
          break;
        case 'KubernetesGateway':
          this.kubernetesGateways.push(r);
          break;
        case 'ReferenceGrant':
          this.referenceGrants.push(r);
          break;
        case 'Secret':
          this.secrets.set(`${ns}/${r.metadata.name}`, r);
          break;
        case 'ConfigMap':
          this.configMaps.set(`${ns}/${r.metadata.name}`, r);
          break;
        case 'Sidecar':
          this.sidecars.push(r);
          break;
        case 'PeerAuthentication':
          this.peerAuthentications.push(r);
          break;
        case 'AuthorizationPolicy':
          this.authorizationPolicies.push(r);
          break;
        case 'RequestAuthentication':
          this.requestAuthentications.push(r);
          break;
        case 'Telemetry':
          this.telemetries.push(r);
          break;
        case 'MeshConfig':
          meshConfigs.push(
            r.metadata.name === 'default' ? { ...r, metadata: { ...r.metadata, name: '' } } : r,
          );
          break;
      }
    }
    // Delegate VirtualServices (no hosts) are merged into their roots and never route on their own.
    this.virtualServices.splice(0, Infinity, ...mergeDelegates(this.virtualServices, mesh.domain));
    meshConfigs.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    if (meshConfigs[0]) this.meshConfig = meshConfigs[0].spec;
  }

  /** Ready-or-not sidecar instances of a service, optionally narrowed to a subset's labels. */
  instancesOf(svc: ServiceInfo, subsetLabels?: Record<string, string>): InstanceView[] {
    const selector = svc.resource.spec.selector;
    if (!selector || Object.keys(selector).length === 0) return [];
    return this.instances.filter(
      (i) =>
        i.kind === 'sidecar' &&
        i.namespace === svc.resource.metadata.namespace &&
        labelsMatch(selector, i.labels) &&
        (!subsetLabels || labelsMatch(subsetLabels, i.labels)),
    );
  }

  /** The app port a service port reaches on a workload: targetPort by number, or by container port name. */
  targetPort(svc: ServiceInfo, port: number, workload: Workload | undefined): number | undefined {
    const sp = svc.resource.spec.ports.find((p) => p.port === port);
    if (!sp) return undefined;
    const t = sp.targetPort ?? sp.port;
    if (typeof t === 'number') return t;
    if (/^\d+$/.test(t)) return Number(t);
    return workload?.spec.ports?.find((p) => p.name === t)?.containerPort;
  }
}

export function labelsMatch(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** Istio's protocol selection for a Service port: appProtocol first, then the port name's prefix. */
export function portProtocol(p: {
  name?: string;
  appProtocol?: string;
}): import('../../model/snapshot.js').AppProtocol {
  const a = (p.appProtocol ?? p.name ?? '').toLowerCase();
  const prefix = a.split(/[-_]/)[0] ?? '';
  if (prefix === 'grpc' || prefix === 'grpc-web') return 'grpc';
  if (prefix === 'http2' || prefix === 'h2c' || a === 'kubernetes.io/h2c') return 'http2';
  if (['tcp', 'mongo', 'mysql', 'redis', 'tls', 'https'].includes(prefix)) return 'tcp';
  return 'http';
}
