// A workload's locality from its labels, as Kubernetes and Istio spell them.
import type { Locality } from './snapshot.js';

export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const SUBZONE_LABEL = 'topology.istio.io/subzone';

export function localityOf(labels: Record<string, string>): Locality | undefined {
  const region = labels[REGION_LABEL];
  const zone = labels[ZONE_LABEL];
  const subzone = labels[SUBZONE_LABEL];
  if (!region && !zone && !subzone) return undefined;
  return { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subzone ? { subzone } : {}) };
}
