// Resources `weft up` always adds: the ingress gateway is an ordinary proxy with Istio's labels, so
// Istio's Gateway YAML (`selector: {istio: ingressgateway}`) selects it unchanged.
import type { Workload } from '../config/types.js';

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

export function proxyKindOf(w: Workload): 'sidecar' | 'gateway' {
  return w.metadata.annotations?.['weft.dev/proxy-kind'] === 'gateway' ? 'gateway' : 'sidecar';
}
