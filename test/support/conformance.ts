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

/** "ns/name" of every Service a set of routes sends to: backendRefs and RequestMirror targets. */
export function referencedServices(docs: Doc[]): Set<string> {
  const out = new Set<string>();
  interface Ref {
    name: string;
    namespace?: string;
    kind?: string;
  }
  interface Rule {
    backendRefs?: Ref[];
    filters?: Array<{ requestMirror?: { backendRef: Ref } }>;
  }
  for (const d of docs) {
    if (!d.kind?.endsWith('Route')) continue;
    for (const rule of (d.spec?.rules ?? []) as Rule[]) {
      const refs = [
        ...(rule.backendRefs ?? []),
        ...(rule.filters ?? []).flatMap((f) => (f.requestMirror ? [f.requestMirror.backendRef] : [])),
      ];
      for (const r of refs)
        if ((r.kind ?? 'Service') === 'Service') out.add(`${r.namespace ?? nsOf(d)}/${r.name}`);
    }
  }
  return out;
}

/**
 * Rewrite manifests for Weft: Deployments become Workloads (see workloadFor), Gateways move to free ports,
 * Namespaces/ConfigMaps (which Weft does not keep) are dropped, the rest passes through. With `backends`
 * ("ns/service"), only the Deployments those Services select become Workloads (the others would only be
 * processes nobody calls). Writes `<dir>/<name>` and returns the Gateway ports.
 */
export async function weftManifests(
  sources: string[],
  dir: string,
  name: string,
  opts: { ports?: PortMap; backends?: Set<string> } = {},
): Promise<{ file: string; ports: PortMap; workloads: Doc[] }> {
  const docs = (await Promise.all(sources.map(readDocs))).flat();
  const services = docs.filter((d) => d.kind === 'Service');
  const wanted = opts.backends
    ? services.filter((s) => opts.backends!.has(`${nsOf(s)}/${s.metadata!.name}`))
    : services;
  const out: Doc[] = [];
  const workloads: Doc[] = [];
  for (const d of docs) {
    if (d.kind === 'Deployment') {
      const labels = ((d.spec ?? {}) as { template?: PodTemplate }).template?.metadata?.labels ?? {};
      const used =
        !opts.backends ||
        wanted.some(
          (s) =>
            nsOf(s) === nsOf(d) &&
            selects((s.spec as { selector?: Record<string, string> }).selector, labels),
        );
      const w = used ? workloadFor(d, services) : undefined;
      if (w) {
        out.push(w);
        workloads.push(w);
      }
    } else if (d.kind !== 'Namespace' && d.kind !== 'ConfigMap') out.push(d);
  }
  const ports = await moveGatewayPorts(out, opts.ports);
  const file = join(dir, name);
  await writeFile(file, toYaml(out));
  return { file, ports, workloads };
}

// ---- the cases file (../shared/fixtures/gateway-api-cases.json) -----------------------------------

export interface CaseRequest {
  host: string | null;
  path: string;
  headers: Record<string, string>;
  method: string;
  followRedirects?: boolean;
}

export interface CaseExpected {
  backend?: string | null;
  namespace?: string | null;
  status: number;
  headers?: Record<string, string>;
  absentHeaders?: string[];
  backendRequest?: {
    path?: string;
    host?: string;
    headers?: Record<string, string>;
    absentHeaders?: string[];
  };
  redirect?: { scheme?: string; host?: string; port?: string | number; path?: string };
  mirroredTo?: Array<{ backend: string; namespace: string }>;
  backendSetResponseHeaders?: Record<string, string>;
  expectedWeights?: Record<string, number>;
}

export interface ConformanceCase {
  test: string;
  source: string;
  manifest: string;
  gateway: string;
  note?: string;
  requests: Array<{ request: CaseRequest; expected: CaseExpected }>;
}

/** What the echo backend answers (see echo-server.ts). */
export interface EchoBody {
  path: string;
  host: string;
  method: string;
  headers: Record<string, string[]>;
  namespace: string;
  pod: string;
}

export interface Captured {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  echo?: EchoBody;
}

/** Header values as the conformance suite compares them: several values joined with ",". */
function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * Everything that differs between a response and the case's expectation, as readable lines (empty = the
 * response conforms). Follows conformance/utils/http CompareRoundTrip: the backend (pod name prefix) and
 * namespace; the request the backend saw (by default: the request as sent); response headers that must
 * be equal or absent; and for a redirect the Location parts (`listenerPort` is where the request went:
 * an omitted port must stay the listener's, scheme http, path as sent).
 */
export function differences(
  sent: CaseRequest,
  exp: CaseExpected,
  got: Captured,
  listenerPort: number,
): string[] {
  const out: string[] = [];
  if (got.status !== exp.status) out.push(`status ${got.status}, want ${exp.status}`);
  for (const [name, want] of Object.entries(exp.headers ?? {})) {
    const v = joined(got.headers[name.toLowerCase()]);
    if (v !== want) out.push(`response header ${name}: ${JSON.stringify(v)}, want ${JSON.stringify(want)}`);
  }
  for (const name of exp.absentHeaders ?? []) {
    const v = got.headers[name.toLowerCase()];
    if (v !== undefined) out.push(`response header ${name} should be absent, got ${JSON.stringify(v)}`);
  }
  if (exp.redirect) {
    const loc = joined(got.headers.location);
    if (!loc) out.push('no Location header');
    else {
      const u = new URL(loc, `http://127.0.0.1:${listenerPort}`);
      const want = exp.redirect;
      const scheme = want.scheme ?? 'http';
      // Spec (HTTPRequestRedirectFilter.port): without a port or scheme, the listener's port; a scheme
      // alone implies its well-known port, which the Location then omits.
      const port = want.port !== undefined ? String(want.port) : want.scheme ? '' : String(listenerPort);
      const wellKnown = (scheme === 'http' && port === '80') || (scheme === 'https' && port === '443');
      if (u.protocol !== `${scheme}:`) out.push(`Location ${loc}: scheme ${u.protocol}, want ${scheme}:`);
      if (want.host !== undefined && u.hostname !== want.host)
        out.push(`Location ${loc}: host ${u.hostname}, want ${want.host}`);
      if (u.port !== (wellKnown ? '' : port))
        out.push(`Location ${loc}: port "${u.port}", want "${wellKnown ? '' : port}"`);
      const path = want.path ?? sent.path.split('?')[0];
      if (u.pathname !== path) out.push(`Location ${loc}: path ${u.pathname}, want ${path}`);
    }
  }
  if (exp.status !== 200 || got.status !== 200) return out;
  const echo = got.echo;
  if (!echo) return [...out, 'the answer is not the echo backend JSON'];
  if (exp.backend && !echo.pod.startsWith(exp.backend))
    out.push(`served by pod ${echo.pod}, want ${exp.backend}-*`);
  if (exp.namespace && echo.namespace !== exp.namespace)
    out.push(`served from namespace ${echo.namespace}, want ${exp.namespace}`);
  const br = exp.backendRequest ?? {
    path: sent.path,
    headers: sent.headers,
    ...(sent.host ? { host: sent.host } : {}),
  };
  if (echo.method !== sent.method) out.push(`backend saw method ${echo.method}, want ${sent.method}`);
  if (br.path !== undefined && echo.path !== br.path)
    out.push(`backend saw path ${echo.path}, want ${br.path}`);
  if (br.host !== undefined && echo.host !== br.host)
    out.push(`backend saw Host ${echo.host}, want ${br.host}`);
  for (const [name, want] of Object.entries(br.headers ?? {})) {
    // Node's parser (our echo server) folds repeated request header lines into one "a, b" value; upstream's
    // Go echo lists them apart and the suite joins them with ",". Same list (RFC 9110 5.3): drop the OWS.
    const v = joined(echo.headers[name.toLowerCase()])
      ?.split(',')
      .map((x) => x.trim())
      .join(',');
    if (v !== want)
      out.push(`backend saw header ${name}: ${JSON.stringify(v)}, want ${JSON.stringify(want)}`);
  }
  for (const name of br.absentHeaders ?? []) {
    const v = echo.headers[name.toLowerCase()];
    if (v !== undefined) out.push(`backend saw header ${name} (should be removed): ${JSON.stringify(v)}`);
  }
  return out;
}
