// Resources `weft up` always adds: the ingress gateway is an ordinary proxy with Istio's labels, so
// Istio's Gateway YAML (`selector: {istio: ingressgateway}`) selects it unchanged. The egress gateway
// (`istio: egressgateway`) is added only when some Istio Gateway selects it, with the Service
// `istio-egressgateway.istio-system` that VirtualServices route mesh traffic to, as in Istio's
// "Egress Gateways" task.
import type { Gateway, Resource, Service, Workload } from '../config/types.js';

export const INGRESS_GATEWAY: Workload = {
  apiVersion: 'weft.dev/v1alpha1',
  kind: 'Workload',
  metadata: {
    name: 'istio-ingressgateway',
    namespace: 'istio-system',
    labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
    annotations: { 'weft.dev/proxy-kind': 'gateway', 'weft.dev/managed-by': 'weft-up' },
  },
  spec: { serviceAccount: 'istio-ingressgateway-service-account' },
};

export const EGRESS_GATEWAY: Workload = {
  apiVersion: 'weft.dev/v1alpha1',
  kind: 'Workload',
  metadata: {
    name: 'istio-egressgateway',
    namespace: 'istio-system',
    labels: { istio: 'egressgateway', app: 'istio-egressgateway' },
    annotations: { 'weft.dev/proxy-kind': 'gateway', 'weft.dev/managed-by': 'weft-up' },
  },
  spec: { serviceAccount: 'istio-egressgateway-service-account' },
};

function selects(g: Gateway, w: Workload): boolean {
  const sel = g.spec.selector;
  if (!sel || Object.keys(sel).length === 0) return false;
  const labels = w.metadata.labels ?? {};
  return Object.entries(sel).every(([k, v]) => labels[k] === v);
}

/** Istio's port naming, so the mesh picks the protocol the gateway server speaks. */
function portName(protocol: string, port: number): string {
  const p = protocol.toUpperCase();
  const prefix =
    p === 'HTTP2' ? 'http2' : p === 'GRPC' ? 'grpc' : p === 'TLS' ? 'tls' : p === 'TCP' ? 'tcp' : 'http';
  return `${prefix}-${port}`;
}

/**
 * The Service in front of the egress gateway: one port per Gateway server port, targetPort the same
 * number (the gateway binds the server port itself). HTTPS servers are `http-`: the mesh sends HTTP in
 * the TLS the DestinationRule asks for (ISTIO_MUTUAL in Istio's task).
 */
export function egressGatewayService(gateways: Gateway[]): Service {
  const ports = new Map<number, string>();
  for (const g of gateways)
    for (const s of g.spec.servers)
      if (!ports.has(s.port.number)) ports.set(s.port.number, portName(s.port.protocol, s.port.number));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'istio-egressgateway',
      namespace: 'istio-system',
      labels: { istio: 'egressgateway', app: 'istio-egressgateway' },
      annotations: { 'weft.dev/managed-by': 'weft-up' },
    },
    spec: {
      selector: { istio: 'egressgateway' },
      ports: [...ports]
        .sort((a, b) => a[0] - b[0])
        .map(([port, name]) => ({ name, port, targetPort: port, protocol: 'TCP' })),
    },
  };
}

/**
 * What `weft up` adds to the user's resources: the ingress gateway always; the egress gateway and its
 * Service when an Istio Gateway selects it (a Service the user wrote under that name is kept).
 */
export function builtinResources(resources: Resource[]): Resource[] {
  const out: Resource[] = [INGRESS_GATEWAY];
  const egress = resources.filter((r): r is Gateway => r.kind === 'Gateway' && selects(r, EGRESS_GATEWAY));
  if (egress.length === 0) return out;
  out.push(EGRESS_GATEWAY);
  const own = resources.some(
    (r) =>
      r.kind === 'Service' &&
      r.metadata.name === 'istio-egressgateway' &&
      r.metadata.namespace === 'istio-system',
  );
  if (!own) out.push(egressGatewayService(egress));
  return out;
}

export function proxyKindOf(w: Workload): 'sidecar' | 'gateway' {
  return w.metadata.annotations?.['weft.dev/proxy-kind'] === 'gateway' ? 'gateway' : 'sidecar';
}
