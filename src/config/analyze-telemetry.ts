// Cross-reference checks for Telemetry access logging, like istioctl analyze: a rule naming a provider
// that MeshConfig does not define (or one Weft cannot write to) writes no access log, silently in istiod.
import { ErrorCodes } from '../lib/errors.js';
import type { Resource } from './types.js';
import type { MeshConfig } from './security-types.js';
import type { SecurityReport } from './analyze-security.js';

/** Extension provider kinds that write access logs in Weft (besides the built-in `envoy`). */
const WRITABLE = ['envoyFileAccessLog'];

export function analyzeTelemetry(resources: Resource[], report: SecurityReport): void {
  const mesh = resources.filter((r): r is MeshConfig => r.kind === 'MeshConfig')[0]?.spec ?? {};
  const kinds = new Map<string, string[]>();
  for (const p of mesh.extensionProviders ?? [])
    kinds.set(
      p.name.toLowerCase(),
      Object.keys(p).filter((k) => k !== 'name'),
    );
  for (const r of resources) {
    if (r.kind !== 'Telemetry') continue;
    (r.spec.accessLogging ?? []).forEach((l, i) => {
      (l.providers ?? []).forEach((p, j) => {
        const path = ['spec', 'accessLogging', i, 'providers', j, 'name'];
        const k = kinds.get(p.name.toLowerCase());
        if (!k && p.name.toLowerCase() !== 'envoy')
          report(
            r,
            ErrorCodes.ANALYZE_UNKNOWN_PROVIDER,
            `access log provider "${p.name}" is neither the built-in envoy nor a MeshConfig extensionProviders entry, so this rule writes no access log`,
            path,
            'warning',
          );
        else if (k && !k.some((x) => WRITABLE.includes(x)))
          report(
            r,
            ErrorCodes.ANALYZE_UNKNOWN_PROVIDER,
            `access log provider "${p.name}" is of kind ${k.join('/')}; Weft writes access logs only to envoyFileAccessLog providers and the built-in envoy`,
            path,
            'warning',
          );
      });
    });
  }
}
