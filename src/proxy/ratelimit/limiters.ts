// The proxy's token buckets, kept across snapshots: a new snapshot with the same limit keeps the
// bucket's state, so a config push never refills every bucket at once.
import type { TokenBucket as BucketSpec } from '../../model/snapshot.js';
import { TokenBucket } from './token-bucket.js';

const buckets = new Map<string, TokenBucket>();

export function limiter(spec: BucketSpec, scope: string): TokenBucket {
  const key = `${scope}|${spec.name}|${spec.maxTokens}|${spec.tokensPerFill}|${spec.fillIntervalMs}`;
  let b = buckets.get(key);
  if (!b) {
    b = new TokenBucket(spec.maxTokens, spec.tokensPerFill, spec.fillIntervalMs);
    buckets.set(key, b);
  }
  return b;
}

/** Envoy's answer for a request the local rate limit refused. */
export const RATE_LIMITED_BODY = 'local_rate_limited';
