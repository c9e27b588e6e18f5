// When a failed attempt may be retried (Envoy's retry_on conditions) and how long to wait first.
import type { RetryPolicy } from '../../model/snapshot.js';

export type AttemptOutcome =
  | { kind: 'response'; status: number; grpcStatus?: number }
  | { kind: 'connect-failure'; reason?: string } // never reached the upstream: nothing was sent
  | { kind: 'reset' } // connection lost before response headers
  | { kind: 'timeout' }; // per-try timeout

/** Methods a retry may replay (RFC 9110 idempotent methods). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const GRPC_CODES: Record<string, number> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

export function isRetriable(p: RetryPolicy, o: AttemptOutcome, method: string): boolean {
  // A request that never reached the upstream is not a replay, so any method may go again; anything
  // else repeats a request the upstream may have acted on, which only idempotent methods allow.
  if (o.kind !== 'connect-failure' && !p.nonIdempotent && !IDEMPOTENT.has(method)) return false;
  const on = p.retryOn;
  switch (o.kind) {
    case 'connect-failure':
      return (
        on.includes('connect-failure') ||
        on.includes('5xx') ||
        on.includes('gateway-error') ||
        on.includes('reset')
      );
    case 'reset':
      return on.includes('reset') || on.includes('5xx') || on.includes('gateway-error');
    case 'timeout':
      return on.includes('5xx') || on.includes('gateway-error') || on.includes('reset');
    case 'response': {
      // Every answer comes here, mostly a 2xx: the status first, the policy's list only when it matters.
      const s = o.status;
      if (s >= 500) {
        if (on.includes('5xx')) return true;
        if ((s === 502 || s === 503 || s === 504) && on.includes('gateway-error')) return true;
      } else if (s === 409 && on.includes('retriable-4xx')) return true;
      const codes = p.retriableStatusCodes;
      if (codes.length > 0 && codes.includes(s) && on.includes('retriable-status-codes')) return true;
      if (o.grpcStatus !== undefined)
        for (const [name, code] of Object.entries(GRPC_CODES))
          if (code === o.grpcStatus && on.includes(name)) return true;
      return false;
    }
  }
}

/** Envoy's fully jittered exponential backoff: uniform in [0, min(base × 2^n, max)). */
export function backoffMs(p: RetryPolicy, retryIndex: number, random: () => number = Math.random): number {
  const cap = Math.min(p.backoffBaseMs * 2 ** retryIndex, p.backoffMaxMs);
  return Math.floor(random() * cap);
}
