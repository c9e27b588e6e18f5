// Locality-aware failover (Istio localityLbSetting): endpoints in the client's own zone first, then its
// region, then the regions `failover` names for it, then anywhere. Only the best non-empty tier is used,
// so traffic leaves a zone only when the zone has no healthy endpoint left.
import type { Endpoint, Locality, LocalityPolicy } from '../../../model/snapshot.js';

function tier(ep: Endpoint, self: Locality, failover: ReadonlyArray<{ from: string; to: string }>): number {
  const l = ep.locality ?? {};
  if (self.region && l.region === self.region) {
    if (self.zone && l.zone === self.zone) return self.subzone && l.subzone === self.subzone ? 0 : 1;
    return 2;
  }
  if (self.region && failover.some((f) => f.from === self.region && f.to === l.region)) return 3;
  return 4;
}

export function nearest(
  endpoints: readonly Endpoint[],
  self: Locality | undefined,
  policy: LocalityPolicy,
): readonly Endpoint[] {
  if (!self || endpoints.length <= 1) return endpoints;
  let best = 5;
  for (const ep of endpoints) best = Math.min(best, tier(ep, self, policy.failover));
  return endpoints.filter((ep) => tier(ep, self, policy.failover) === best);
}
