// Istio's Sidecar resource, as it narrows what one workload's sidecar knows (SidecarScope):
//  - which Sidecar applies: one in the workload's namespace whose workloadSelector matches its labels,
//    else the one in its namespace without a selector, else the one without a selector in the root
//    namespace (MeshConfig rootNamespace, istio-system); several candidates: the first by name (Istio
//    takes the oldest; Weft keeps no creation time for these);
//  - egress[].hosts "ns/dnsName": a Service (or ServiceEntry host) is known when one host matches its
//    namespace ("*" any, "." the workload's own, "~" none, else that namespace) and its name ("*", the
//    FQDN, or "*.suffix"). A listener with a port covers that service port only; the listener without a
//    port covers the other ports. A Sidecar without egress knows everything;
//  - a VirtualService is used when one of its hosts is known that way, in its own namespace, and then
//    the services its routes send to are known too (Istio adds VirtualService destinations);
//  - outboundTrafficPolicy.mode replaces the mesh's for this workload. Hosts the sidecar does not know
//    follow it: REGISTRY_ONLY answers 502, ALLOW_ANY passes the request to the host it names.
import type { OutboundTrafficPolicy } from '../../model/snapshot.js';
import type { Sidecar, SidecarEgress } from '../schemas/istio-sidecar.js';
import type { VirtualService } from '../types.js';
import { hostMatches } from '../hosts.js';
import { labelsMatch, type MeshIndex } from './inputs.js';
import { rootNamespace } from './security.js';

export interface SidecarScope {
  /** The Sidecar that applies, "ns/name". */
  name: string;
  policy?: OutboundTrafficPolicy;
  /** Does the sidecar know this host (FQDN, lower-case) of a resource in `ns` on `port`? */
  knows(ns: string, host: string, port: number): boolean;
  /** Is this VirtualService used by the sidecar? */
  uses(vs: VirtualService): boolean;
}

const byName = (a: Sidecar, b: Sidecar) => a.metadata.name.localeCompare(b.metadata.name);

/** The Sidecar that applies to a workload, or undefined (Istio's default scope: everything). */
export function sidecarFor(
  index: MeshIndex,
  namespace: string,
  labels: Record<string, string>,
): Sidecar | undefined {
  const inNs = index.sidecars.filter((s) => s.metadata.namespace === namespace).sort(byName);
  const selecting = inNs.find((s) => {
    const sel = s.spec.workloadSelector?.labels;
    return sel && Object.keys(sel).length > 0 && labelsMatch(sel, labels);
  });
  if (selecting) return selecting;
  const nsWide = inNs.find((s) => !s.spec.workloadSelector);
  if (nsWide) return nsWide;
  const root = rootNamespace(index.meshConfig);
  return index.sidecars
    .filter((s) => s.metadata.namespace === root && !s.spec.workloadSelector)
    .sort(byName)[0];
}

interface EgressHost {
  ns: string; // "*", "~" or a namespace ("." already resolved)
  host: string; // lower-case
}

function hostsOf(listener: SidecarEgress, workloadNs: string): EgressHost[] {
  return listener.hosts.map((h) => {
    const [ns, host] = h.split('/') as [string, string];
    return { ns: ns === '.' ? workloadNs : ns, host: host.toLowerCase() };
  });
}

function matches(hosts: EgressHost[], ns: string, host: string): boolean {
  return hosts.some(
    (e) => e.ns !== '~' && (e.ns === '*' || e.ns === ns) && (e.host === host || hostMatches(e.host, host)),
  );
}

/** Destinations of a VirtualService's routes (http, tcp, tls), as FQDNs. */
function destinations(vs: VirtualService, index: MeshIndex): string[] {
  const rules = [...(vs.spec.http ?? []), ...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])] as Array<{
    route?: Array<{ destination?: { host?: string } }>;
  }>;
  return rules.flatMap((r) =>
    (r.route ?? []).flatMap((d) =>
      d.destination?.host ? [index.resolve(d.destination.host, vs.metadata.namespace)] : [],
    ),
  );
}

/** The scope of a workload's sidecar, or undefined when no Sidecar applies. */
export function sidecarScope(
  index: MeshIndex,
  namespace: string,
  labels: Record<string, string>,
): SidecarScope | undefined {
  const sc = sidecarFor(index, namespace, labels);
  if (!sc) return undefined;
  const mode = sc.spec.outboundTrafficPolicy?.mode;
  const name = `${sc.metadata.namespace}/${sc.metadata.name}`;
  const egress = sc.spec.egress ?? [];
  if (egress.length === 0)
    return { name, ...(mode ? { policy: mode } : {}), knows: () => true, uses: () => true };
  const byPort = new Map<number, EgressHost[]>();
  let rest: EgressHost[] = [];
  for (const l of egress)
    if (l.port) byPort.set(l.port.number, hostsOf(l, namespace));
    else rest = hostsOf(l, namespace);
  const all = [...rest, ...[...byPort.values()].flat()];
  const direct = (ns: string, host: string, port: number) => matches(byPort.get(port) ?? rest, ns, host);
  const used = new Set(
    index.virtualServices.filter((vs) =>
      (vs.spec.hosts ?? []).some((h) =>
        matches(all, vs.metadata.namespace, index.resolve(h, vs.metadata.namespace)),
      ),
    ),
  );
  const implied = new Set([...used].flatMap((vs) => destinations(vs, index)));
  return {
    name,
    ...(mode ? { policy: mode } : {}),
    knows: (ns, host, port) => direct(ns, host, port) || implied.has(host),
    uses: (vs) => used.has(vs),
  };
}
