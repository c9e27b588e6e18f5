// The Gateway API conformance infrastructure as a Weft mesh. Upstream's manifests
// (../shared/fixtures/gateway-api/base-manifests.yaml, mesh/mesh-manifests.yaml) describe Deployments of
// echo pods; Weft runs Workloads instead. This turns each Deployment into a Workload with the same name,
// namespace, labels, serviceAccount and replicas, whose process is our echo server
// (test/support/echo-server.ts) listening on the port the Services target. Services stay as they are.
// Gateway API Gateways listen on port 80/443 upstream (privileged); every listener port is moved to a free
// high port, one per (Gateway, original port), so listeners that shared a port still share one.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { freePort } from '../../src/local/ports.js';

// Minimal shapes of the upstream manifests we read: anything else is passed through untouched.
interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}
interface Doc {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: Record<string, unknown>;
}
interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec?: {
    serviceAccountName?: string;
    containers?: Array<{ ports?: Array<{ containerPort: number; protocol?: string }> }>;
  };
}

export const ECHO_COMMAND = ['node', 'dist/test/support/echo-server.js'];

/** All YAML documents of a file, as plain objects (nulls and empty documents dropped). */
export async function readDocs(file: string): Promise<Doc[]> {
  const text = await readFile(file, 'utf8');
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => !!d && typeof d === 'object');
}

const nsOf = (d: Doc) => d.metadata?.namespace ?? 'default';

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * A Weft Workload for one Deployment: the echo server on the port its Services target (the first
 * numeric targetPort of the first TCP Service port that selects it; else its first TCP containerPort),
 * or undefined when it has no TCP port at all (the UDP DNS server: nothing to echo). The echo server
 * listens on one port, so the Workload declares that one.
 */
export function workloadFor(deployment: Doc, services: Doc[]): Doc | undefined {
  const spec = (deployment.spec ?? {}) as { replicas?: number; template?: PodTemplate };
  const labels = spec.template?.metadata?.labels ?? {};
  const ns = nsOf(deployment);
  const ports: number[] = [];
  for (const svc of services.filter((s) => nsOf(s) === ns)) {
    const sspec = (svc.spec ?? {}) as { selector?: Record<string, string>; ports?: ServicePort[] };
    if (!selects(sspec.selector, labels)) continue;
    for (const p of sspec.ports ?? []) {
      const t = p.targetPort ?? p.port;
      if ((p.protocol ?? 'TCP') === 'TCP' && typeof t === 'number') ports.push(t);
    }
  }
  for (const c of spec.template?.spec?.containers ?? [])
    for (const p of c.ports ?? []) if ((p.protocol ?? 'TCP') === 'TCP') ports.push(p.containerPort);
  const port = ports[0];
  if (port === undefined) return undefined;
  return {
    apiVersion: 'weft.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: deployment.metadata!.name, namespace: ns, labels },
    spec: {
      serviceAccount: spec.template?.spec?.serviceAccountName ?? 'default',
      replicas: spec.replicas ?? 1,
      ports: [{ name: 'http', containerPort: port }],
      command: ECHO_COMMAND,
      readinessProbe: { httpGet: { path: '/health' } },
    },
  };
}

export type PortMap = Map<string, number>; // "ns/gateway" -> the free port its listeners moved to

/**
 * Move every listener of every Gateway API Gateway in `docs` to a free port (in place). Listeners of one
 * Gateway that shared a port share the new one. Returns "ns/name" -> new port of its first listener.
 */
export async function moveGatewayPorts(docs: Doc[], ports: PortMap = new Map()): Promise<PortMap> {
  for (const d of docs) {
    if (d.kind !== 'Gateway' || !d.apiVersion?.startsWith('gateway.networking.k8s.io/')) continue;
    const key = `${nsOf(d)}/${d.metadata!.name}`;
    const moved = new Map<number, number>();
    const listeners = (d.spec?.listeners ?? []) as Array<{ port: number }>;
    for (const l of listeners) {
      let p = moved.get(l.port);
      if (p === undefined) {
        p = await freePort();
        moved.set(l.port, p);
      }
      l.port = p;
    }
    if (listeners[0]) ports.set(key, listeners[0].port);
  }
  return ports;
}

export const toYaml = (docs: Doc[]): string => docs.map((d) => stringify(d)).join('---\n');

/**
 * Rewrite manifests for Weft: Deployments become Workloads (see workloadFor), Gateways move to free ports,
 * Namespaces/ConfigMaps (which Weft does not keep) are dropped, the rest passes through. Writes
 * `<dir>/<name>` and returns the Gateway ports.
 */
export async function weftManifests(
  sources: string[],
  dir: string,
  name: string,
  ports: PortMap = new Map(),
): Promise<{ file: string; ports: PortMap; workloads: Doc[] }> {
  const docs = (await Promise.all(sources.map(readDocs))).flat();
  const services = docs.filter((d) => d.kind === 'Service');
  const out: Doc[] = [];
  const workloads: Doc[] = [];
  for (const d of docs) {
    if (d.kind === 'Deployment') {
      const w = workloadFor(d, services);
      if (w) {
        out.push(w);
        workloads.push(w);
      }
    } else if (d.kind !== 'Namespace' && d.kind !== 'ConfigMap') out.push(d);
  }
  await moveGatewayPorts(out, ports);
  const file = join(dir, name);
  await writeFile(file, toYaml(out));
  return { file, ports, workloads };
}
