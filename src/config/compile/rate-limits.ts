// RateLimit resources -> token buckets on the routes or inbound listeners they name.
import type { TokenBucket } from '../../model/snapshot.js';
import type { RateLimit } from '../types.js';
import { parseDuration } from '../duration.js';
import { labelsMatch, type MeshIndex } from './inputs.js';

function bucket(r: RateLimit): TokenBucket {
  const b = r.spec.tokenBucket;
  return {
    name: `RateLimit/${r.metadata.namespace}/${r.metadata.name}`,
    maxTokens: b.maxTokens,
    tokensPerFill: b.tokensPerFill ?? b.maxTokens,
    fillIntervalMs: parseDuration(b.fillInterval),
  };
}

/** The per-workload limit of a proxy: the first RateLimit in its namespace whose selector matches. */
export function inboundRateLimit(
  index: MeshIndex,
  namespace: string,
  labels: Record<string, string>,
): TokenBucket | undefined {
  const r = index.rateLimits.find(
    (x) =>
      x.metadata.namespace === namespace &&
      x.spec.selector &&
      labelsMatch(x.spec.selector.matchLabels, labels),
  );
  return r ? bucket(r) : undefined;
}

/** The limit on one named route of a VirtualService (RateLimits in the same namespace). */
export function routeRateLimit(
  index: MeshIndex,
  vsNamespace: string,
  vsName: string,
  route: string | undefined,
): TokenBucket | undefined {
  if (!route) return undefined;
  const r = index.rateLimits.find(
    (x) =>
      x.metadata.namespace === vsNamespace &&
      (x.spec.routes ?? []).some((ref) => ref.virtualService === vsName && ref.route === route),
  );
  return r ? bucket(r) : undefined;
}
