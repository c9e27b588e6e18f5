// WorkloadEntry endpoints: workloads Weft does not run (a VM, a process on another host), selected by
// label like pods, by a ServiceEntry's workloadSelector or a Service's selector in the same namespace.
// As in Istio, they are reached in plaintext unless they carry `security.istio.io/tlsMode: istio` (a
// sidecar stands in front of them, at the port the entry names) or a DestinationRule says ISTIO_MUTUAL.
import type { Endpoint, Locality } from '../../model/snapshot.js';
import type { WorkloadEntry } from '../types.js';
import { labelsMatch, type MeshIndex } from './inputs.js';

export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/** Istio's `locality: region/zone/subzone`. */
function locality(s: string | undefined): Locality | undefined {
  if (!s) return undefined;
  const [region, zone, subzone] = s.split('/');
  const l: Locality = {
    ...(region ? { region } : {}),
    ...(zone ? { zone } : {}),
    ...(subzone ? { subzone } : {}),
  };
  return Object.keys(l).length ? l : undefined;
}

export interface EntrySelection {
  namespace: string;
  selector: Record<string, string>;
  /** A DestinationRule subset's labels. */
  subset?: Record<string, string> | undefined;
  /** The service port's name (an entry's `ports` maps names to its own port numbers) and the port
   *  used when the entry names none. */
  portName: string | undefined;
  port: number;
  /** DestinationRule tls.mode for the cluster, when one applies. */
  tlsMode?: string | undefined;
}

export function workloadEntryEndpoints(index: MeshIndex, s: EntrySelection): Endpoint[] {
  const out: Endpoint[] = [];
  for (const we of index.workloadEntries) {
    const labels = we.spec.labels ?? {};
    if (we.metadata.namespace !== s.namespace || !labelsMatch(s.selector, labels)) continue;
    if (s.subset && !labelsMatch(s.subset, labels)) continue;
    // An entry on another network, without an address here, is reached through that network's
    // gateway in Istio; Weft has one network.
    if (!we.spec.address || we.spec.address.startsWith('unix://')) continue;
    out.push(endpointOf(index, we, s));
  }
  return out;
}

function endpointOf(index: MeshIndex, we: WorkloadEntry, s: EntrySelection): Endpoint {
  const labels = we.spec.labels ?? {};
  const sa = we.spec.serviceAccount ?? 'default';
  const mtls =
    s.tlsMode === 'ISTIO_MUTUAL' || (s.tlsMode !== 'DISABLE' && labels[TLS_MODE_LABEL] === 'istio');
  const loc = locality(we.spec.locality);
  return {
    address: we.spec.address!,
    port: (s.portName !== undefined ? we.spec.ports?.[s.portName] : undefined) ?? s.port,
    identity: `spiffe://${index.mesh.trustDomain}/ns/${we.metadata.namespace}/sa/${sa}`,
    instance: `WorkloadEntry/${we.metadata.namespace}/${we.metadata.name}`,
    labels,
    healthy: true,
    ...(loc ? { locality: loc } : {}),
    ...(mtls ? {} : { plaintext: true as const }),
  };
}
