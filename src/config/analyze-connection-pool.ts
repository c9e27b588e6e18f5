// DestinationRule (and MeshConfig) connectionPool fields Weft accepts but cannot act on, said by
// `weft analyze` as istioctl says what it ignores: Istio YAML keeps working, and its author learns where
// Weft behaves differently.
import { ErrorCodes } from '../lib/errors.js';
import type { Resource, TrafficPolicy } from './types.js';
import type { SecurityReport } from './analyze-security.js';

type Path = Array<string | number>;

const KEEPALIVE_NOT_APPLIED =
  "not applied: Node 20 sends keep-alive probes 1 s apart and gives up after 10 once `time` is set, or uses the system's settings when it is not";

export function analyzeConnectionPools(resources: Resource[], report: SecurityReport): void {
  const keepalive = (r: Resource, ka: unknown, path: Path) => {
    if (!ka || typeof ka !== 'object') return;
    for (const field of ['interval', 'probes'])
      if ((ka as Record<string, unknown>)[field] !== undefined)
        report(
          r,
          ErrorCodes.ANALYZE_FIELD_NO_EFFECT,
          `tcpKeepalive.${field} is ${KEEPALIVE_NOT_APPLIED}`,
          [...path, field],
          'warning',
        );
  };
  const policy = (r: Resource, tp: TrafficPolicy | Record<string, unknown> | undefined, path: Path) => {
    const tcp = (tp?.connectionPool as { tcp?: { tcpKeepalive?: unknown } } | undefined)?.tcp;
    keepalive(r, tcp?.tcpKeepalive, [...path, 'connectionPool', 'tcp', 'tcpKeepalive']);
    ((tp as TrafficPolicy | undefined)?.portLevelSettings ?? []).forEach((p, i) =>
      policy(r, p, [...path, 'portLevelSettings', i]),
    );
  };
  for (const r of resources) {
    if (r.kind === 'DestinationRule') {
      policy(r, r.spec.trafficPolicy, ['spec', 'trafficPolicy']);
      (r.spec.subsets ?? []).forEach((s, i) =>
        policy(r, s.trafficPolicy, ['spec', 'subsets', i, 'trafficPolicy']),
      );
    } else if (r.kind === 'MeshConfig') keepalive(r, r.spec.tcpKeepalive, ['spec', 'tcpKeepalive']);
  }
}
