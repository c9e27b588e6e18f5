// What Istio's AuthorizationPoliciesAnalyzer (pkg/config/analysis/analyzers/authz) checks, for Weft:
//  - IST0127 NoMatchingWorkloadsFound: a policy that applies to no workload. In the root namespace a
//    selector may match anywhere and no selector means the whole mesh; elsewhere the selector (or, without
//    one, the namespace itself) must have a workload. RequestAuthentication and PeerAuthentication
//    selectors are held to the same rule.
//  - IST0101 ReferencedResourceNotFound: a source `namespaces`/`notNamespaces` entry ("*", "prefix*",
//    "*suffix" or a name) that matches no namespace, so the rule's source never matches what was meant.
import { ErrorCodes } from '../lib/errors.js';
import type { Resource } from './types.js';
import type { AuthorizationPolicy } from './security-types.js';
import type { WorkloadLabels } from './analyze-kube.js';
import type { SecurityReport } from './analyze-security.js';

// `weft up` runs these gateways itself, so policies may select them without a Workload.
const GATEWAY_LABELS = [{ istio: 'ingressgateway' }, { istio: 'egressgateway' }];
const NO_WORKLOADS = '(IST0127 NoMatchingWorkloadsFound)';

const selects = (sel: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(sel).every(([k, v]) => labels?.[k] === v);
const show = (sel: Record<string, string>) =>
  Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** A policy whose selector, or namespace for a namespace-wide AuthorizationPolicy, has no workload. */
export function checkPolicyTargets(
  r: Resource,
  sel: Record<string, string> | undefined,
  workloads: WorkloadLabels[],
  root: string,
  report: SecurityReport,
): void {
  const ns = r.metadata.namespace;
  // An empty selector selects every workload of the namespace, like none.
  if (!sel || Object.keys(sel).length === 0) {
    if (r.kind !== 'AuthorizationPolicy' || ns === root) return; // in the root namespace: the whole mesh
    if (workloads.some((w) => w.ns === ns)) return;
    report(
      r,
      ErrorCodes.ANALYZE_NO_WORKLOADS,
      `namespace ${ns} has no workload, so this namespace-wide policy applies to nothing; move it to the namespace of the workloads it should protect ${NO_WORKLOADS}`,
      ['metadata', 'namespace'],
      'warning',
    );
    return;
  }
  if (GATEWAY_LABELS.some((l) => selects(sel, l))) return;
  if (workloads.some((w) => (ns === root || w.ns === ns) && selects(sel, w.labels))) return;
  const where = ns === root ? `in the mesh (root namespace ${root})` : `in namespace ${ns}`;
  report(
    r,
    ErrorCodes.ANALYZE_NO_WORKLOADS,
    `selector ${show(sel)} matches no workload ${where}, so this policy applies to nothing; fix the labels or deploy a workload that has them ${NO_WORKLOADS}`,
    ['spec', 'selector', 'matchLabels'],
    'warning',
  );
}

/** Istio's namespace pattern: "*" all, "*suffix", "prefix*", else the name (case-insensitive). */
function namespaceMatches(ns: string, pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return ns.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return ns.startsWith(pattern.slice(0, -1));
  return ns.toLowerCase() === pattern.toLowerCase();
}

/** Source namespaces and notNamespaces that match no namespace Weft knows of. */
export function checkSourceNamespaces(
  ap: AuthorizationPolicy,
  namespaces: Set<string>,
  report: SecurityReport,
): void {
  const sorted = [...namespaces].sort();
  const known = sorted.length > 8 ? `${sorted.slice(0, 8).join(', ')}, …` : sorted.join(', ');
  (ap.spec.rules ?? []).forEach((rule, i) =>
    (rule?.from ?? []).forEach((from, j) => {
      for (const field of ['namespaces', 'notNamespaces'] as const)
        (from?.source?.[field] ?? []).forEach((pattern, k) => {
          if ([...namespaces].some((ns) => namespaceMatches(ns, pattern))) return;
          const effect =
            field === 'namespaces' ? 'this source never matches a request' : 'excluding it excludes nothing';
          report(
            ap,
            ErrorCodes.ANALYZE_UNKNOWN_NAMESPACE,
            `${field} entry "${pattern}" matches no namespace (known: ${known}), so ${effect}; check the spelling (IST0101 ReferencedResourceNotFound)`,
            ['spec', 'rules', i, 'from', j, 'source', field, k],
            'warning',
          );
        });
    }),
  );
}
