// Istio's standard metric labels for one request record, from this proxy's identity (the snapshot) and
// what the record says about the other side. Resolved once per distinct label set and cached by the
// caller; nothing here may put a path, an authority or an instance id into a label value, so the
// number of series stays bounded by the mesh's config, not by its traffic. (A Telemetry tag override may
// add request values on purpose: metric-overrides.ts edits a copy of these pairs.)
//
// What we know about the peer, compared with Istio:
// - source reporter (outbound, gateway): the endpoint the snapshot told us about (instance id, labels,
//   SPIFFE ID the TLS handshake verified), so every destination_* label is exact.
// - destination reporter (inbound): the caller's certificate (principal, namespace) and what its sidecar
//   said in the peer metadata header (workload, app, version), as Istio's metadata exchange does;
//   "unknown" where a caller sent none.
import type { ProxyIdentity } from '../../model/snapshot.js';
import { parseSpiffeId } from '../../lib/spiffe.js';
import type { RequestRecord, TcpRecord } from './events.js';
import { renderLabels } from './prom-text.js';

const UNKNOWN = 'unknown';
/** Istio's cluster id when none is configured; a local Weft mesh is one cluster. */
export const DEFAULT_CLUSTER = 'Kubernetes';

export interface PeerLabels {
  workload: string;
  namespace: string;
  principal: string;
  app: string;
  version: string;
  canonicalService: string;
  canonicalRevision: string;
  cluster: string;
}

export const UNKNOWN_PEER: PeerLabels = {
  workload: UNKNOWN,
  namespace: UNKNOWN,
  principal: UNKNOWN,
  app: UNKNOWN,
  version: UNKNOWN,
  canonicalService: UNKNOWN,
  canonicalRevision: UNKNOWN,
  cluster: UNKNOWN,
};

/** Istio's canonical service/revision rules: the explicit label, then the k8s recommended one, then app/version. */
function canonical(labels: Record<string, string>, workload: string) {
  return {
    canonicalService:
      labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workload,
    canonicalRevision:
      labels['service.istio.io/canonical-revision'] ??
      labels['app.kubernetes.io/version'] ??
      labels.version ??
      'latest',
  };
}

function fromLabels(
  workload: string,
  namespace: string,
  principal: string,
  labels: Record<string, string>,
): PeerLabels {
  return {
    workload,
    namespace,
    principal,
    app: labels.app ?? UNKNOWN,
    version: labels.version ?? UNKNOWN,
    ...canonical(labels, workload),
    cluster: DEFAULT_CLUSTER,
  };
}

export function selfPeer(p: ProxyIdentity | undefined): PeerLabels {
  return p ? fromLabels(p.workload, p.namespace, p.spiffeId, p.labels) : UNKNOWN_PEER;
}

/** "reviews-v2-0.default" → reviews-v2 in default: the replica index is an id and never a label. */
export function workloadOfInstance(instance: string): { workload: string; namespace: string } | undefined {
  const m = /^(.+)-\d+\.([^.]+)$/.exec(instance);
  return m ? { workload: m[1]!, namespace: m[2]! } : undefined;
}

/** The endpoint a source-side record went to. */
export function endpointPeer(d: NonNullable<RequestRecord['destination']>): PeerLabels {
  if (!d.instance && !d.identity) return UNKNOWN_PEER;
  const w = d.instance ? workloadOfInstance(d.instance) : undefined;
  const ns = w?.namespace ?? (d.identity ? parseSpiffeId(d.identity)?.namespace : undefined) ?? UNKNOWN;
  return fromLabels(w?.workload ?? UNKNOWN, ns, d.identity || UNKNOWN, d.labels ?? {});
}

/** The caller of an inbound request, as far as its certificate tells (see the header comment). */
export function principalPeer(principal: string | undefined): PeerLabels {
  if (!principal) return UNKNOWN_PEER;
  return { ...UNKNOWN_PEER, principal, namespace: parseSpiffeId(principal)?.namespace ?? UNKNOWN };
}

/** "reviews.default.svc.cluster.local" → name reviews, namespace default; other hosts keep their name. */
export function serviceParts(fqdn: string | undefined): { service: string; name: string; namespace: string } {
  if (!fqdn) return { service: UNKNOWN, name: UNKNOWN, namespace: UNKNOWN };
  const m = /^([^.]+)\.([^.]+)\.svc(?:\.|$)/.exec(fqdn);
  return m
    ? { service: fqdn, name: m[1]!, namespace: m[2]! }
    : { service: fqdn, name: fqdn, namespace: UNKNOWN };
}

/** Length of the key `fillKey` writes. */
export const KEY_PARTS = 7;

/**
 * The cache key: every record field the labels depend on, and nothing else (no path, no timing), written
 * into a reused array for a KeyTree. Parts are numbers and the very string objects the snapshot and the
 * TLS socket hold, so lookups hash nothing new; one concatenated string key cost ~10x more per request.
 */
export function fillKey(r: RequestRecord, out: unknown[]): void {
  const d = r.destination;
  out[0] =
    ((r.status * 32 + (r.grpcStatus ?? 31)) * 2 + (r.protocol === 'grpc' ? 1 : 0)) * 2 +
    (r.reporter === 'source' ? 1 : 0);
  out[1] = d?.service;
  out[2] = d?.instance;
  out[3] = d?.identity;
  out[4] = r.peerIdentity;
  out[5] = r.flags;
  out[6] = r.peerMetadata?.workload;
}

/** Source and destination peers and the security policy, as one reporter sees them. */
function peers(
  r: Pick<RequestRecord, 'reporter' | 'destination' | 'peerIdentity' | 'peerMetadata'>,
  self: PeerLabels,
): { src: PeerLabels; dst: PeerLabels; security: string } {
  const d = r.destination;
  let src: PeerLabels;
  let dst: PeerLabels;
  let security: string;
  if (r.reporter === 'destination') {
    src = principalPeer(r.peerIdentity);
    if (r.peerMetadata && src !== UNKNOWN_PEER) {
      const m = r.peerMetadata;
      src = {
        ...fromLabels(m.workload, src.namespace, src.principal, {
          ...(m.app ? { app: m.app } : {}),
          ...(m.version ? { version: m.version } : {}),
        }),
      };
    }
    dst = self;
    // mTLS connections carry a verified peer identity; plaintext ones (PERMISSIVE/DISABLE) do not.
    security = r.peerIdentity ? 'mutual_tls' : 'none';
  } else {
    src = self;
    dst = d ? endpointPeer(d) : UNKNOWN_PEER;
    // Istio leaves this "unknown" on the source side; Weft's client verified the peer's SPIFFE ID over
    // mTLS, so it can say mutual_tls whenever a mesh endpoint was reached.
    security = d?.identity ? 'mutual_tls' : UNKNOWN;
  }
  return { src, dst, security };
}

/** The reporter and both peers' labels, in Istio's order; shared by request and TCP metrics. */
function peerPairs(
  reporter: string,
  src: PeerLabels,
  dst: PeerLabels,
  service: string | undefined,
): LabelPairs {
  const svc = serviceParts(service);
  return [
    ['reporter', reporter],
    ['source_workload', src.workload],
    ['source_canonical_service', src.canonicalService],
    ['source_canonical_revision', src.canonicalRevision],
    ['source_workload_namespace', src.namespace],
    ['source_principal', src.principal],
    ['source_app', src.app],
    ['source_version', src.version],
    ['source_cluster', src.cluster],
    ['destination_workload', dst.workload],
    ['destination_workload_namespace', dst.namespace],
    ['destination_principal', dst.principal],
    ['destination_app', dst.app],
    ['destination_version', dst.version],
    ['destination_service', svc.service],
    ['destination_canonical_service', dst.canonicalService],
    ['destination_canonical_revision', dst.canonicalRevision],
    ['destination_service_name', svc.name],
    ['destination_service_namespace', svc.namespace],
    ['destination_cluster', dst.cluster],
  ];
}

export type LabelPairs = Array<[string, string]>;

/** Istio's TCP metric labels (no response code or gRPC status): request_protocol is "tcp". */
export function tcpPairs(r: TcpRecord, self: PeerLabels): LabelPairs {
  const { src, dst, security } = peers(r, self);
  return [
    ...peerPairs(r.reporter, src, dst, r.destination?.service),
    ['request_protocol', 'tcp'],
    ['response_flags', r.flags || '-'],
    ['connection_security_policy', security],
  ];
}

export function tcpLabels(r: TcpRecord, self: PeerLabels): string {
  return renderLabels(tcpPairs(r, self));
}

/** Istio's label set for one record, in Istio's order (Telemetry tag overrides edit a copy). */
export function istioPairs(r: RequestRecord, self: PeerLabels): LabelPairs {
  const { src, dst, security } = peers(r, self);
  return [
    ...peerPairs(r.reporter, src, dst, r.destination?.service),
    ['request_protocol', r.protocol],
    ['response_code', String(r.status)],
    // Istio leaves it empty for plain HTTP; for gRPC it is the numeric grpc-status.
    ['grpc_response_status', r.grpcStatus === undefined ? '' : String(r.grpcStatus)],
    ['response_flags', r.flags || '-'],
    ['connection_security_policy', security],
  ];
}

/** Istio's label set for one record, rendered in Istio's order. */
export function istioLabels(r: RequestRecord, self: PeerLabels): string {
  return renderLabels(istioPairs(r, self));
}
