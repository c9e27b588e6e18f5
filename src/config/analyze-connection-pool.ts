// DestinationRule connectionPool fields Weft accepts but cannot act on, said by `weft analyze` as istioctl
// says what it ignores: Istio YAML keeps working, and its author learns where Weft behaves differently.
import { ErrorCodes } from '../lib/errors.js';
import type { Resource, TrafficPolicy } from './types.js';
import type { SecurityReport } from './analyze-security.js';

type Path = Array<string | number>;

const MAX_STREAMS_NOT_APPLIED =
  "not applied: Weft does not cap the streams of its HTTP/2 sessions to an endpoint itself; the endpoint's own limit (SETTINGS_MAX_CONCURRENT_STREAMS) still holds";

export function analyzeConnectionPools(resources: Resource[], report: SecurityReport): void {
  const policy = (r: Resource, tp: TrafficPolicy | Record<string, unknown> | undefined, path: Path) => {
    const http = (tp?.connectionPool as { http?: Record<string, unknown> } | undefined)?.http;
    if (http?.maxConcurrentStreams !== undefined)
      report(
        r,
        ErrorCodes.ANALYZE_FIELD_NO_EFFECT,
        `http.maxConcurrentStreams is ${MAX_STREAMS_NOT_APPLIED}`,
        [...path, 'connectionPool', 'http', 'maxConcurrentStreams'],
        'warning',
      );
    ((tp as TrafficPolicy | undefined)?.portLevelSettings ?? []).forEach((p, i) =>
      policy(r, p, [...path, 'portLevelSettings', i]),
    );
  };
  for (const r of resources)
    if (r.kind === 'DestinationRule') {
      policy(r, r.spec.trafficPolicy, ['spec', 'trafficPolicy']);
      (r.spec.subsets ?? []).forEach((s, i) =>
        policy(r, s.trafficPolicy, ['spec', 'subsets', i, 'trafficPolicy']),
      );
    }
}
