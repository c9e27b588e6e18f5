// Cross-reference checks over a whole set of resources, like `istioctl analyze`: each resource may be
// valid alone and still point at something that does not exist. Follows Istio's analyzers
// (pkg/config/analysis/analyzers/virtualservice/*.go) and names their codes in the messages.
import { ErrorCodes } from '../lib/errors.js';
import { DEFAULT_DOMAIN, fqdn, serviceFqdn } from './hosts.js';
import { problem } from './issues.js';
import { fieldLine } from './positions.js';
import { analyzeSecurity, type SecurityReport } from './analyze-security.js';
import {
  checkConflictingGateways,
  checkGatewaysWithoutRoutes,
  checkHostsInGateways,
  checkMeshHostConflicts,
  checkRouteRules,
} from './analyze-routes.js';
import { analyzeTelemetry } from './analyze-telemetry.js';
import { analyzeSidecars } from './analyze-sidecar.js';
import { checkServiceEntryProtocols } from './analyze-serviceentry.js';
import { knownNamespaces, workloadLabels, type KubeObject, type WorkloadLabels } from './analyze-kube.js';
import type { ConfigProblem, Destination, Resource, Service, ServiceEntry, VirtualService } from './types.js';

const NOT_FOUND = '(IST0101 ReferencedResourceNotFound)';
const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';
// `weft up` always runs these two gateways itself, so Gateways may select them without a Workload.
const BUILTIN_GATEWAY_LABELS = [{ istio: 'ingressgateway' }, { istio: 'egressgateway' }];

type Path = Array<string | number>;

interface Index {
  services: Map<string, Service>; // by FQDN
  /** ServiceEntry hosts (FQDN as Istio expands them) with the namespaces they are visible in ("*" = all). */
  entryHosts: Array<{ host: string; scopes: string[]; se: ServiceEntry }>;
  namespaces: Set<string>;
  subsets: Map<string, Set<string>>; // DestinationRule host FQDN -> subset names
  gateways: Set<string>; // ns/name
  workloads: WorkloadLabels[];
  /** Labels of WorkloadEntries, by namespace: Services select them like Workloads. */
  entryLabels: Array<{ ns: string; labels: Record<string, string> | undefined }>;
}

/**
 * Cross-reference checks over a whole set of resources, like `istioctl analyze`. `kube`: the Kubernetes
 * documents loaded alongside that Weft does not model (Pods, Deployments, Namespaces; see analyze-kube.ts):
 * what runs and which namespaces exist.
 */
export function analyze(resources: Resource[], kube: KubeObject[] = []): ConfigProblem[] {
  const ix = buildIndex(resources, kube);
  const out: ConfigProblem[] = [];
  for (const r of resources) {
    const report = (
      code: string,
      message: string,
      path: Path,
      severity: ConfigProblem['severity'] = 'error',
    ) => {
      const line = fieldLine(r, path);
      const source = r.source ? { file: r.source.file, line: line ?? r.source.line } : undefined;
      const name = `${r.metadata.namespace}/${r.metadata.name}`;
      out.push(problem({ source, kind: r.kind, name }, code, message, path, severity));
    };
    if (r.kind === 'VirtualService') checkVirtualService(r, ix, report);
    else if (r.kind === 'Service') checkServiceSelector(r, ix, report);
    else if (r.kind === 'Gateway') checkGatewaySelector(r.spec.selector, ix, report);
  }
  const crossReport: SecurityReport = (r, code, message, path, severity = 'error') => {
    const line = fieldLine(r, path);
    const source = r.source ? { file: r.source.file, line: line ?? r.source.line } : undefined;
    out.push(
      problem(
        { source, kind: r.kind, name: `${r.metadata.namespace}/${r.metadata.name}` },
        code,
        message,
        path,
        severity,
      ),
    );
  };
  const vss = resources.filter((r): r is VirtualService => r.kind === 'VirtualService');
  for (const vs of vss) checkRouteRules(vs, crossReport);
  checkMeshHostConflicts(vss, crossReport);
  checkGatewaysWithoutRoutes(resources, crossReport);
  checkHostsInGateways(resources, crossReport);
  checkConflictingGateways(resources, crossReport);
  checkServiceEntryProtocols(resources, crossReport);
  analyzeSecurity(resources, crossReport, ix.workloads, ix.namespaces);
  analyzeTelemetry(resources, crossReport);
  analyzeSidecars(resources, crossReport, ix.workloads);
  return out;
}

type Report = (code: string, message: string, path: Path, severity?: ConfigProblem['severity']) => void;

function buildIndex(resources: Resource[], kube: KubeObject[]): Index {
  const ix: Index = {
    services: new Map(),
    entryHosts: [],
    namespaces: knownNamespaces(resources, kube),
    subsets: new Map(),
    gateways: new Set(),
    workloads: workloadLabels(resources, kube),
    entryLabels: [],
  };
  for (const r of resources) {
    const ns = r.metadata.namespace;
    if (r.kind === 'Service') ix.services.set(serviceFqdn(r.metadata.name, ns), r);
    else if (r.kind === 'Gateway') ix.gateways.add(`${ns}/${r.metadata.name}`);
    else if (r.kind === 'ServiceEntry') {
      const exportTo = r.spec.exportTo ?? [];
      const scopes =
        exportTo.length === 0 || exportTo.includes('*') ? ['*'] : exportTo.map((e) => (e === '.' ? ns : e));
      for (const h of r.spec.hosts ?? []) ix.entryHosts.push({ host: istioFqdn(h, ns), scopes, se: r });
    } else if (r.kind === 'WorkloadEntry') ix.entryLabels.push({ ns, labels: r.spec.labels });
    else if (r.kind === 'DestinationRule') {
      const host = fqdn(r.spec.host, ns);
      const set = ix.subsets.get(host) ?? new Set<string>();
      for (const s of r.spec.subsets ?? []) set.add(s.name);
      ix.subsets.set(host, set);
    }
  }
  return ix;
}

/** Every destination a VirtualService sends traffic to, with the field path that names it. */
function destinations(
  vs: VirtualService,
): Array<{ dest: Partial<Destination> | undefined; path: Path; mirror: boolean }> {
  const out: Array<{ dest: Partial<Destination> | undefined; path: Path; mirror: boolean }> = [];
  (vs.spec.http ?? []).forEach((h, i) => {
    (h.route ?? []).forEach((d, j) =>
      out.push({ dest: d?.destination, path: ['spec', 'http', i, 'route', j, 'destination'], mirror: false }),
    );
    if (h.mirror) out.push({ dest: h.mirror, path: ['spec', 'http', i, 'mirror'], mirror: true });
    const mirrors = (h as { mirrors?: Array<{ destination?: Destination }> }).mirrors ?? [];
    mirrors.forEach((m, j) =>
      out.push({
        dest: m?.destination,
        path: ['spec', 'http', i, 'mirrors', j, 'destination'],
        mirror: true,
      }),
    );
  });
  for (const section of ['tcp', 'tls'] as const) {
    const routes = (vs.spec[section] ?? []) as Array<{ route?: Array<{ destination?: Destination }> }>;
    routes.forEach((t, i) =>
      (t?.route ?? []).forEach((d, j) =>
        out.push({
          dest: d?.destination,
          path: ['spec', section, i, 'route', j, 'destination'],
          mirror: false,
        }),
      ),
    );
  }
  return out;
}

/**
 * The Service a host names, if it is a cluster host. `undefined` = external (or wildcard): unless a
 * ServiceEntry declares it, Weft cannot tell a typo from a real outside name and says nothing.
 */
function clusterHost(host: string, ns: string, ix: Index): string | undefined {
  if (host.startsWith('*')) return undefined;
  const full = fqdn(host, ns);
  if (!full.endsWith(`.svc.${DEFAULT_DOMAIN}`)) return undefined;
  const labels = host.split('.');
  // `name.namespace` and `example.org` look alike; only a namespace we know makes it a cluster host.
  if (labels.length === 2 && !ix.namespaces.has(labels[1] as string)) return undefined;
  return full;
}

/** A host as Istio's analyzers key it: short names are in `ns`, anything with a dot is kept as written. */
const istioFqdn = (host: string, ns: string) =>
  host.startsWith('*') || host.includes('.') ? host.toLowerCase() : fqdn(host, ns);

/** Does ServiceEntry host `entry` (already expanded) cover destination `host` written in `ns`? */
function entryMatches(entry: string, host: string, ns: string): boolean {
  const full = istioFqdn(host, ns);
  if (entry === full) return true;
  return entry.startsWith('*') && full.replace(/^\*/, '').endsWith(entry.slice(1));
}

/**
 * A ServiceEntry that declares the host but is not exported to the VirtualService: the most specific one
 * (exact, then wildcard); a bare "*" explains only names that are not cluster hosts.
 */
function hiddenEntry(host: string, ns: string, clusterName: boolean, ix: Index) {
  const full = istioFqdn(host, ns);
  return (
    ix.entryHosts.find((e) => e.host === full) ??
    ix.entryHosts.find((e) => (e.host !== '*' || !clusterName) && entryMatches(e.host, host, ns))
  );
}

/**
 * The ServiceEntry a destination host resolves to, as Istio's GetDestinationHost finds it: an exact
 * host exported everywhere or to a namespace the VirtualService is exported to, else a wildcard host
 * exported everywhere or to the VirtualService's own namespace.
 */
function visibleEntry(host: string, ns: string, vsScopes: string[], ix: Index): ServiceEntry | undefined {
  const full = istioFqdn(host, ns);
  const seen = (scopes: string[], from: string[]) =>
    scopes.includes('*') || from.some((s) => scopes.includes(s));
  const exact = ix.entryHosts.find((e) => e.host === full && seen(e.scopes, vsScopes));
  if (exact) return exact.se;
  return ix.entryHosts.find(
    (e) => e.host.startsWith('*') && seen(e.scopes, [ns]) && entryMatches(e.host, host, ns),
  )?.se;
}

/** Namespaces a Service is visible in, from its networking.istio.io/exportTo annotation ("*" = all). */
function serviceScopes(svc: Service): string[] {
  const anno = svc.metadata.annotations?.[EXPORT_TO_ANNOTATION];
  if (!anno) return ['*'];
  return anno.split(',').map((s) => (s.trim() === '.' ? svc.metadata.namespace : s.trim()));
}

function checkVirtualService(vs: VirtualService, ix: Index, report: Report) {
  const ns = vs.metadata.namespace;
  // Istio checks visibility from the namespaces the VirtualService is exported to (its own by default).
  const vsScopes = (vs.spec.exportTo?.length ? vs.spec.exportTo : ['.']).map((e) => (e === '.' ? ns : e));

  for (const { dest, path, mirror } of destinations(vs)) {
    const what = mirror ? 'mirror host' : 'host';
    const host = dest?.host;
    // Istio's checkServiceEntryPorts, for Services and ServiceEntries alike.
    const checkPort = (port: number | undefined, ports: number[], owner: string) => {
      if (port === undefined && ports.length > 1) {
        const msg = `${what} "${host}" names no port, and ${owner} has several (${ports.join(', ')}): set destination.port.number (IST0112 VirtualServiceDestinationPortSelectorRequired)`;
        report(ErrorCodes.ANALYZE_PORT_REQUIRED, msg, path);
      }
      if (port !== undefined && ports.length && !ports.includes(port)) {
        const msg = `${what} "${host}" has no port ${port}; ${owner} has ${ports.join(', ')} ${NOT_FOUND}`;
        report(ErrorCodes.ANALYZE_UNKNOWN_HOST, msg, [...path, 'port', 'number']);
      }
    };
    if (!host) {
      report(ErrorCodes.ANALYZE_UNKNOWN_HOST, `route destination has no host ${NOT_FOUND}`, path);
      continue;
    }
    const full = clusterHost(host, ns, ix);
    const svc = full ? ix.services.get(full) : undefined;
    const se = svc ? undefined : visibleEntry(host, ns, vsScopes, ix);
    const hidden = svc || se ? undefined : hiddenEntry(host, ns, full !== undefined, ix);
    if (hidden) {
      const owner = `${hidden.se.metadata.namespace}/${hidden.se.metadata.name}`;
      const msg = `${what} "${host}" is not visible from namespace ${vsScopes.join(', ')}: ServiceEntry ${owner} is exported only to ${hidden.scopes.join(', ')}; add the namespace to its exportTo ${NOT_FOUND}`;
      report(ErrorCodes.ANALYZE_UNKNOWN_HOST, msg, [...path, 'host']);
    } else if (full && !svc && !se) {
      report(
        ErrorCodes.ANALYZE_UNKNOWN_HOST,
        `${what} "${host}" (${full}) does not match any Service or ServiceEntry ${NOT_FOUND}`,
        [...path, 'host'],
      );
    } else if (svc) {
      const scopes = serviceScopes(svc);
      if (!scopes.includes('*') && !vsScopes.some((s) => scopes.includes(s))) {
        const msg = `${what} "${host}" is not visible from namespace ${vsScopes.join(', ')}: Service ${svc.metadata.namespace}/${svc.metadata.name} is exported only to ${scopes.join(', ')} (${EXPORT_TO_ANNOTATION}) ${NOT_FOUND}`;
        report(ErrorCodes.ANALYZE_UNKNOWN_HOST, msg, [...path, 'host']);
      }
      // `??`: analyze also runs on raw, unvalidated input
      const ports = (svc.spec.ports ?? []).map((p) => p.port);
      checkPort(dest.port?.number, ports, `Service ${svc.metadata.name}`);
    } else if (se) {
      const ports = (se.spec.ports ?? []).map((p) => p?.number);
      checkPort(dest.port?.number, ports, `ServiceEntry ${se.metadata.namespace}/${se.metadata.name}`);
    }
    // Subsets are checked for every non-wildcard host, as Istio does, whether or not a Service exists.
    if (dest.subset && !host.startsWith('*')) {
      const drHost = fqdn(host, ns);
      if (!ix.subsets.get(drHost)?.has(dest.subset)) {
        const msg = `subset "${dest.subset}" of ${what} "${host}" is not defined by any DestinationRule for ${drHost} ${NOT_FOUND}`;
        report(ErrorCodes.ANALYZE_UNKNOWN_SUBSET, msg, [...path, 'subset']);
      }
    }
  }

  const refs: Array<{ name: string; path: Path }> = (vs.spec.gateways ?? []).map((g, i) => ({
    name: g,
    path: ['spec', 'gateways', i],
  }));
  (vs.spec.http ?? []).forEach((h, i) =>
    (h.match ?? []).forEach((m, j) =>
      (m.gateways ?? []).forEach((g, k) =>
        refs.push({ name: g, path: ['spec', 'http', i, 'match', j, 'gateways', k] }),
      ),
    ),
  );
  for (const { name, path } of refs) {
    if (name === 'mesh') continue; // the sidecars, not a Gateway resource
    const key = gatewayKey(name, ns);
    if (!ix.gateways.has(key)) {
      report(
        ErrorCodes.ANALYZE_UNKNOWN_GATEWAY,
        `gateway "${name}" (${key}) does not exist ${NOT_FOUND}`,
        path,
      );
    }
  }
}

/** `name` is in the VirtualService's namespace, `ns/name` is explicit, legacy `name.ns` is Istio's old form. */
function gatewayKey(ref: string, ns: string): string {
  if (ref.includes('/')) return ref;
  const [name, legacyNs] = ref.split('.');
  return `${legacyNs ?? ns}/${name}`;
}

function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function checkServiceSelector(svc: Service, ix: Index, report: Report) {
  const selector = svc.spec.selector;
  if (!selector || Object.keys(selector).length === 0) return; // no selector: endpoints are managed elsewhere
  const ns = svc.metadata.namespace;
  if (ix.workloads.some((w) => w.ns === ns && selects(selector, w.labels))) return;
  if (ix.entryLabels.some((e) => e.ns === ns && selects(selector, e.labels))) return;
  const sel = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  report(
    ErrorCodes.ANALYZE_NO_WORKLOADS,
    `selector ${sel} matches no Workload in namespace ${ns}, so the Service has no endpoints`,
    ['spec', 'selector'],
    'warning',
  );
}

function checkGatewaySelector(selector: Record<string, string> | undefined, ix: Index, report: Report) {
  if (!selector || Object.keys(selector).length === 0) return;
  if (BUILTIN_GATEWAY_LABELS.some((labels) => selects(selector, labels))) return;
  if (ix.workloads.some((w) => selects(selector, w.labels))) return; // gateways select across namespaces
  const sel = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const hint = 'Weft runs gateways labelled istio=ingressgateway and istio=egressgateway';
  report(
    ErrorCodes.ANALYZE_GATEWAY_NO_WORKLOAD,
    `selector ${sel} matches no Workload; ${hint} ${NOT_FOUND}`,
    ['spec', 'selector'],
    'warning',
  );
}
