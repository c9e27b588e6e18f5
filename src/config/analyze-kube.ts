// Kubernetes objects Weft does not load (Pods, Deployments, Namespaces...) still tell `weft analyze` what
// runs where: Istio's analyzers count Pods as workloads and Namespaces as existing, and manifests fed to
// `weft analyze` are usually Deployments. They are used for analysis only, never compiled.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KINDS, type Kind, type Resource } from './types.js';

/** A Kubernetes document as far as analysis reads it. */
export interface KubeObject {
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { template?: { metadata?: { labels?: Record<string, string> } } };
}

/** Labels of something that runs in a namespace: a Weft Workload, a Pod, or a controller's pod template. */
export interface WorkloadLabels {
  ns: string;
  name: string;
  labels: Record<string, string>;
}

// Controllers whose spec.template describes the Pods they run.
const CONTROLLERS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

const nsOf = (o: { metadata?: { namespace?: string } }) => o.metadata?.namespace ?? 'default';

/** Everything that runs: Weft Workloads, Pods, and the pods controllers create (Istio counts only Pods). */
export function workloadLabels(resources: Resource[], kube: KubeObject[]): WorkloadLabels[] {
  const out: WorkloadLabels[] = [];
  for (const r of resources)
    if (r.kind === 'Workload')
      out.push({ ns: r.metadata.namespace, name: r.metadata.name, labels: r.metadata.labels ?? {} });
  for (const o of kube) {
    const labels =
      o.kind === 'Pod'
        ? o.metadata?.labels
        : CONTROLLERS.has(o.kind)
          ? o.spec?.template?.metadata?.labels
          : undefined;
    if (labels) out.push({ ns: nsOf(o), name: o.metadata?.name ?? '', labels });
  }
  return out;
}

/** Namespaces that exist: declared by a Namespace object, or holding some resource. */
export function knownNamespaces(resources: Resource[], kube: KubeObject[]): Set<string> {
  const out = new Set(resources.map((r) => r.metadata.namespace));
  for (const o of kube) {
    if (o.kind === 'Namespace' && o.metadata?.name) out.add(o.metadata.name);
    else if (o.metadata?.namespace) out.add(o.metadata.namespace);
    else if (o.kind === 'Pod' || CONTROLLERS.has(o.kind)) out.add('default'); // cluster-scoped kinds add none
  }
  return out;
}

/** The documents of a YAML text that are not Weft kinds, for analysis. */
export function kubeObjects(text: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const o = doc.toJS() as unknown;
    if (!o || typeof o !== 'object' || Array.isArray(o)) return [];
    const kind = (o as { kind?: unknown }).kind;
    if (typeof kind !== 'string' || KINDS.includes(kind as Kind)) return [];
    return [o as KubeObject];
  });
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** kubeObjects of files and folders, read as `weft analyze -f` reads them; unreadable files are skipped (the loader reports them). */
export async function loadKubeObjects(paths: string[]): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const p of paths) {
    const files = await stat(p).then(
      async (s) =>
        s.isDirectory() ? (await readdir(p, { recursive: true })).map((f) => path.join(p, f)).sort() : [p],
      () => [],
    );
    for (const f of files) {
      if (!EXTENSIONS.has(path.extname(f))) continue;
      const text = await readFile(f, 'utf8').catch(() => '');
      try {
        out.push(...kubeObjects(text));
      } catch {
        // YAML that does not parse is reported by the loader.
      }
    }
  }
  return out;
}
