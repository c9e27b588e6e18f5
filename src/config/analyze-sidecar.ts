// Istio's Sidecar analyzers (pkg/config/analysis/analyzers/sidecar): only one Sidecar may apply to a
// workload, so two without a workloadSelector in one namespace (IST0110) or two whose selectors pick the
// same workload (IST0111) leave the choice to an order the user did not write (Istio: the oldest; Weft:
// the first by name). A selector that matches no Workload configures nothing (IST0101).
import { ErrorCodes } from '../lib/errors.js';
import type { Sidecar } from './schemas/istio-sidecar.js';
import type { Resource } from './types.js';
import type { SecurityReport } from './analyze-security.js';
import type { WorkloadLabels } from './analyze-kube.js';

const matches = (sel: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(sel).every(([k, v]) => labels?.[k] === v);

/** `workloads`: what runs (Weft Workloads and the Pods/Deployments of Kubernetes manifests). */
export function analyzeSidecars(
  resources: Resource[],
  report: SecurityReport,
  workloads: WorkloadLabels[],
): void {
  const sidecars = resources.filter((r): r is Sidecar => r.kind === 'Sidecar');
  const byNs = new Map<string, Sidecar[]>();
  for (const s of sidecars) byNs.set(s.metadata.namespace, [...(byNs.get(s.metadata.namespace) ?? []), s]);
  for (const [ns, list] of byNs) {
    const nsWide = list.filter((s) => !s.spec.workloadSelector);
    if (nsWide.length > 1)
      for (const s of nsWide)
        report(
          s,
          ErrorCodes.ANALYZE_SIDECAR_CONFLICT,
          `namespace "${ns}" has ${nsWide.length} Sidecars without a workloadSelector (${nsWide.map((x) => x.metadata.name).join(', ')}); only one applies (IST0110 MultipleSidecarsWithoutWorkloadSelectors)`,
          ['spec'],
        );
    const conflicted = new Set<Sidecar>(); // reported once, for the first workload they share
    for (const w of workloads.filter((x) => x.ns === ns)) {
      const selecting = list.filter((s) => {
        const sel = s.spec.workloadSelector?.labels;
        return sel && Object.keys(sel).length > 0 && matches(sel, w.labels);
      });
      if (selecting.length > 1)
        for (const s of selecting.filter((x) => !conflicted.has(x) && conflicted.add(x)))
          report(
            s,
            ErrorCodes.ANALYZE_SIDECAR_CONFLICT,
            `Sidecars ${selecting.map((x) => x.metadata.name).join(', ')} in namespace "${ns}" select the same workload "${w.name}"; only one applies (IST0111 ConflictingSidecarWorkloadSelectors)`,
            ['spec', 'workloadSelector'],
          );
    }
    for (const s of list) {
      const sel = s.spec.workloadSelector?.labels;
      if (!sel || !Object.keys(sel).length) continue;
      if (!workloads.some((w) => w.ns === ns && matches(sel, w.labels)))
        report(
          s,
          ErrorCodes.ANALYZE_SIDECAR_NO_WORKLOAD,
          `workloadSelector ${JSON.stringify(sel)} matches no Workload in namespace "${ns}" (IST0101 ReferencedResourceNotFound)`,
          ['spec', 'workloadSelector', 'labels'],
          'warning',
        );
    }
  }
}
