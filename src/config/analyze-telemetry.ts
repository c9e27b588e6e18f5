// Cross-reference checks for Telemetry access logging and metrics, like istioctl analyze: a rule naming a
// provider that MeshConfig does not define (or one Weft cannot write to) writes no access log or exports
// no metric, silently in istiod; metric overrides Weft keeps but cannot act on are said so too.
import { ErrorCodes } from '../lib/errors.js';
import type { Resource } from './types.js';
import type { Telemetry } from './schemas/istio-telemetry.js';
import type { MeshConfig } from './security-types.js';
import type { SecurityReport } from './analyze-security.js';
import { valueWarning } from '../proxy/telemetry/access-log/filter.js';

/** Extension provider kinds that write access logs in Weft (besides the built-in `envoy`). */
const WRITABLE = ['envoyFileAccessLog', 'envoyOtelAls'];

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
    analyzeMetrics(r, kinds, report);
  }
}

/** Metric names Weft does not export: an override of them is kept (and shown) but changes nothing. */
const NOT_EXPORTED = ['GRPC_REQUEST_MESSAGES', 'GRPC_RESPONSE_MESSAGES'];

function analyzeMetrics(r: Telemetry, kinds: Map<string, string[]>, report: SecurityReport): void {
  (r.spec.metrics ?? []).forEach((m, i) => {
    (m.providers ?? []).forEach((p, j) => {
      const k = kinds.get(p.name.toLowerCase());
      const prometheus = k ? k.includes('prometheus') : p.name.toLowerCase() === 'prometheus';
      if (!prometheus)
        report(
          r,
          ErrorCodes.ANALYZE_UNKNOWN_PROVIDER,
          k
            ? `metrics provider "${p.name}" is of kind ${k.join('/')}; Weft exports metrics only to prometheus providers, so this rule's proxies export no Istio metric unless another provider in it is prometheus`
            : `metrics provider "${p.name}" is neither the built-in prometheus nor a MeshConfig extensionProviders entry`,
          ['spec', 'metrics', i, 'providers', j, 'name'],
          'warning',
        );
    });
    (m.overrides ?? []).forEach((o, j) => {
      for (const [tag, t] of Object.entries(o.tagOverrides ?? {})) {
        const why = t.operation !== 'REMOVE' && t.value ? valueWarning(t.value) : undefined;
        if (why)
          report(
            r,
            ErrorCodes.ANALYZE_TELEMETRY_NO_EFFECT,
            `tag ${tag} is exported as "unknown" for every request: ${why}`,
            ['spec', 'metrics', i, 'overrides', j, 'tagOverrides', tag, 'value'],
            'warning',
          );
      }
      const path = ['spec', 'metrics', i, 'overrides', j, 'match'];
      if (o.match?.customMetric !== undefined)
        report(
          r,
          ErrorCodes.ANALYZE_TELEMETRY_NO_EFFECT,
          `customMetric "${o.match.customMetric}": Weft exports only Istio's standard metrics, so this override changes nothing`,
          [...path, 'customMetric'],
          'warning',
        );
      else if (o.match?.metric && NOT_EXPORTED.includes(o.match.metric))
        report(
          r,
          ErrorCodes.ANALYZE_TELEMETRY_NO_EFFECT,
          `${o.match.metric}: Weft does not export gRPC message counts, so this override changes nothing`,
          [...path, 'metric'],
          'warning',
        );
    });
  });
}
