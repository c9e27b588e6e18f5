// Cross-reference checks for security resources, like istioctl analyze's authz and mTLS analyzers: a
// policy that applies to no workload protects nothing (analyze-authz.ts), a CUSTOM policy naming an undefined provider
// denies what it matches, and a client forced to plaintext toward a STRICT server always fails.
import { ErrorCodes } from '../lib/errors.js';
import { fqdn } from './hosts.js';
import type { Resource, Workload } from './types.js';
import type { MeshConfig, PeerAuthentication } from './security-types.js';
import { MeshIndex } from './compile/inputs.js';
import { effectiveMtls } from './compile/security.js';
import { checkPolicyTargets, checkSourceNamespaces } from './analyze-authz.js';
import type { WorkloadLabels } from './analyze-kube.js';

type Path = Array<string | number>;
export type SecurityReport = (
  r: Resource,
  code: string,
  message: string,
  path: Path,
  severity?: 'error' | 'warning',
) => void;

const ROOT_NAMESPACE_DEFAULT = 'istio-system';

const selects = (sel: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(sel).every(([k, v]) => labels?.[k] === v);

/**
 * `running`: what runs (Weft Workloads and the Pods/Deployments of Kubernetes manifests), for selectors;
 * `namespaces`: the namespaces that exist, for AuthorizationPolicy sources.
 */
export function analyzeSecurity(
  resources: Resource[],
  report: SecurityReport,
  running: WorkloadLabels[],
  namespaces: Set<string>,
): void {
  const workloads = resources.filter((r): r is Workload => r.kind === 'Workload');
  const mesh = resources.filter((r): r is MeshConfig => r.kind === 'MeshConfig')[0]?.spec ?? {};
  const root = mesh.rootNamespace ?? ROOT_NAMESPACE_DEFAULT;
  const providers = new Set((mesh.extensionProviders ?? []).map((p) => p.name));

  for (const r of resources) {
    if (r.kind === 'AuthorizationPolicy') {
      checkPolicyTargets(r, r.spec.selector?.matchLabels, running, root, report);
      checkSourceNamespaces(r, namespaces, report);
      const name = r.spec.provider?.name;
      if (r.spec.action === 'CUSTOM' && name && !providers.has(name))
        report(
          r,
          ErrorCodes.ANALYZE_UNKNOWN_PROVIDER,
          `extension provider "${name}" is not defined in MeshConfig extensionProviders, so the requests this policy matches are denied`,
          ['spec', 'provider', 'name'],
        );
    } else if (r.kind === 'RequestAuthentication' || r.kind === 'PeerAuthentication') {
      checkPolicyTargets(r, r.spec.selector?.matchLabels, running, root, report);
    }
    if (r.kind === 'PeerAuthentication') checkPorts(r, workloads, report);
  }
  checkPlaintextToStrict(resources, workloads, report);
}

/** portLevelMtls is keyed by container port: a key no selected workload serves does nothing. */
function checkPorts(pa: PeerAuthentication, workloads: Workload[], report: SecurityReport) {
  const sel = pa.spec.selector?.matchLabels;
  if (!sel || !pa.spec.portLevelMtls) return;
  const selected = workloads.filter(
    (w) => w.metadata.namespace === pa.metadata.namespace && selects(sel, w.metadata.labels),
  );
  if (selected.length === 0) return;
  const ports = new Set(selected.flatMap((w) => (w.spec.ports ?? []).map((p) => String(p.containerPort))));
  for (const port of Object.keys(pa.spec.portLevelMtls)) {
    if (ports.has(port)) continue;
    report(
      pa,
      ErrorCodes.ANALYZE_UNKNOWN_PORT,
      `port ${port} is not a container port of the selected workloads (${[...ports].join(', ') || 'none'}); portLevelMtls is keyed by the workload's port, not the Service port`,
      ['spec', 'portLevelMtls', port],
      'warning',
    );
  }
}

/** A DestinationRule with tls.mode DISABLE toward workloads under a STRICT PeerAuthentication. */
function checkPlaintextToStrict(resources: Resource[], workloads: Workload[], report: SecurityReport) {
  // The same effective-mode chain the compiler gives proxies (mesh, namespace, workload).
  const index = new MeshIndex(resources, []);
  const modeOf = (w: Workload) =>
    effectiveMtls(index, { namespace: w.metadata.namespace, labels: w.metadata.labels ?? {} }).mode;
  for (const r of resources) {
    if (r.kind !== 'DestinationRule' || r.spec.trafficPolicy?.tls?.mode !== 'DISABLE') continue;
    const host = fqdn(r.spec.host, r.metadata.namespace);
    const svc = resources.find(
      (s) => s.kind === 'Service' && fqdn(s.metadata.name, s.metadata.namespace) === host,
    );
    if (!svc || svc.kind !== 'Service' || !svc.spec.selector) continue;
    const sel = svc.spec.selector;
    const strict = workloads.filter(
      (w) =>
        w.metadata.namespace === svc.metadata.namespace &&
        selects(sel, w.metadata.labels) &&
        modeOf(w) === 'STRICT',
    );
    if (strict.length === 0) continue;
    report(
      r,
      ErrorCodes.ANALYZE_MTLS_CONFLICT,
      `tls.mode DISABLE sends plaintext to ${host}, but ${strict.map((w) => w.metadata.name).join(', ')} only accept mTLS (PeerAuthentication STRICT): every request will fail; use ISTIO_MUTUAL or remove the tls setting`,
      ['spec', 'trafficPolicy', 'tls', 'mode'],
    );
  }
}
