// One finished request -> one OpenTelemetry span, with the name and tags Envoy gives it under Istio, so
// Jaeger, Tempo or Zipkin show Weft's spans like Istio's: operation `<host>:<port>/*`, kind CLIENT on the
// outbound and gateway side and SERVER on the inbound side, Envoy's standard tags (`http.url`,
// `http.status_code`, `upstream_cluster`, `response_flags`, `guid:x-request-id`, …), Istio's
// (`istio.canonical_service`, `istio.mesh_id`, …) and the Telemetry custom tags; 5xx (or no response) is
// an error, as Envoy marks it.
//
// The span is built after the fact from the telemetry record, as a plain `ReadableSpan` (the SDK's export
// interface): its IDs were chosen when the request went upstream (trace-context.ts) and its times come
// from the record, so the SDK's live Tracer, which picks its own IDs and clocks, has no part to play.
import type { Attributes, HrTime, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ProxyIdentity } from '../../model/snapshot.js';
import type { TracingSettings, TracingSide } from '../../model/tracing.js';
import type { RequestRecord } from './events.js';

// OpenTelemetry's enum values (stable in its API): spelled out so that a proxy with tracing off never
// loads @opentelemetry/api at all (see tracing.ts on loading the SDK only when a provider is used).
const KIND_SERVER = 1 as SpanKind;
const KIND_CLIENT = 2 as SpanKind;
const STATUS_UNSET = 0 as SpanStatusCode;
const STATUS_ERROR = 2 as SpanStatusCode;
import type { SpanStart } from './trace-context.js';

/** What is the same on every span of one proxy (per snapshot). */
export interface SpanSelf {
  /** Istio's service cluster, the span's `service.name`: `<canonical service>.<namespace>`. */
  serviceName: string;
  /** `component`, `node_id` and (with istioTags) the `istio.*` tags. */
  tags: Attributes;
  /** Custom tags known without the request: literals and environment variables. */
  staticCustom: Attributes;
}

/** Istio's canonical service and revision of a workload's labels. */
export function canonicalOf(
  labels: Record<string, string>,
  workload: string,
): { service: string; revision: string } {
  return {
    service:
      labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workload,
    revision:
      labels['service.istio.io/canonical-revision'] ??
      labels['app.kubernetes.io/version'] ??
      labels.version ??
      'latest',
  };
}

/** Istio's node ID: `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local` (`router` for gateways). */
export function nodeId(p: ProxyIdentity, address: string): string {
  const id = p.id.endsWith(`.${p.namespace}`) ? p.id : `${p.id}.${p.namespace}`;
  return `${p.kind === 'gateway' ? 'router' : 'sidecar'}~${address}~${id}~${p.namespace}.svc.cluster.local`;
}

export function spanSelf(
  p: ProxyIdentity,
  settings: TracingSettings,
  side: TracingSide,
  address: string,
  env: NodeJS.ProcessEnv = process.env,
): SpanSelf {
  const canonical = canonicalOf(p.labels, p.workload);
  const tags: Attributes = { component: 'proxy', node_id: nodeId(p, address) };
  if (side.istioTags) {
    tags['istio.canonical_service'] = canonical.service;
    tags['istio.canonical_revision'] = canonical.revision;
    tags['istio.mesh_id'] = settings.meshId;
    tags['istio.namespace'] = p.namespace;
    tags['istio.cluster_id'] = settings.clusterId;
  }
  const staticCustom: Attributes = {};
  for (const t of side.customTags) {
    if (t.literal !== undefined) staticCustom[t.tag] = t.literal;
    else if (t.environment) {
      const v = env[t.environment.name] ?? t.environment.defaultValue;
      if (v !== undefined) staticCustom[t.tag] = v;
    }
  }
  return { serviceName: `${canonical.service}.${p.namespace}`, tags, staticCustom };
}

function header(r: RequestRecord, name: string): string | undefined {
  const v = r.requestHeaders[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Epoch milliseconds (fractional) -> OpenTelemetry's [seconds, nanoseconds]. */
export function hrTime(ms: number): HrTime {
  let s = Math.floor(ms / 1000);
  let ns = Math.round((ms - s * 1000) * 1e6);
  if (ns >= 1e9) {
    s += 1;
    ns -= 1e9;
  }
  return [s, ns];
}

// gRPC statuses Envoy counts as server errors (Unknown, DeadlineExceeded, Unimplemented, Internal,
// Unavailable, DataLoss).
const GRPC_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

/** Envoy's operation name: the destination `<host>:<port>/*`, else the route's name, else `<authority>/*`. */
export function spanName(r: RequestRecord): string {
  if (r.destination) return `${r.destination.service}:${r.destination.port}/*`;
  if (r.route) return r.route;
  return `${r.authority || '-'}/*`;
}

export function buildSpan(
  r: RequestRecord,
  s: SpanStart,
  side: TracingSide,
  self: SpanSelf,
  resource: Resource,
): ReadableSpan {
  const scheme = header(r, 'x-forwarded-proto') ?? 'http';
  let url = `${scheme}://${r.authority}${r.path}`;
  const max = side.provider.maxTagLength;
  if (max > 0 && url.length > max) url = url.slice(0, max);
  const grpcError = r.protocol === 'grpc' && r.grpcStatus !== undefined && GRPC_ERRORS.has(r.grpcStatus);
  const error = r.status === 0 || r.status >= 500 || grpcError;
  const upstream = s.upstreamCluster ?? r.upstreamCluster;
  // A literal, then the static tags copied in: object spread here was ~20x slower (V8 clones the
  // spread object's map, then adds each key in dictionary mode).
  const attributes: Attributes = {
    'guid:x-request-id': s.requestId ?? header(r, 'x-request-id') ?? '-',
    'http.url': url,
    'http.method': r.method,
    'http.protocol': r.httpVersion === '2.0' ? 'HTTP/2' : `HTTP/${r.httpVersion}`,
    'http.status_code': String(r.status),
    downstream_cluster: header(r, 'x-envoy-downstream-service-cluster') ?? '-',
    user_agent: header(r, 'user-agent') ?? '-',
    'peer.address': s.peerAddress ?? '-',
    request_size: String(r.requestBytes),
    response_size: String(r.responseBytes),
    response_flags: r.flags || '-',
  };
  Object.assign(attributes, self.tags, self.staticCustom);
  const clientTraceId = header(r, 'x-client-trace-id');
  if (clientTraceId) attributes['guid:x-client-trace-id'] = clientTraceId;
  if (upstream) {
    attributes.upstream_cluster = upstream;
    attributes['upstream_cluster.name'] = upstream;
  }
  if (r.grpcStatus !== undefined) attributes['grpc.status_code'] = String(r.grpcStatus);
  if (error) attributes.error = 'true';
  for (const t of side.customTags) {
    if (!t.header) continue;
    const v = header(r, t.header.name) ?? t.header.defaultValue;
    if (v !== undefined) attributes[t.tag] = v;
  }
  const start = hrTime(r.startTime);
  const end = hrTime(r.startTime + r.durationMs);
  const traceFlags = 1; // only sampled spans are built
  return {
    name: spanName(r),
    kind: s.kind === 'client' ? KIND_CLIENT : KIND_SERVER,
    spanContext: () => ({ traceId: s.traceId, spanId: s.spanId, traceFlags }),
    ...(s.parentId
      ? { parentSpanContext: { traceId: s.traceId, spanId: s.parentId, traceFlags, isRemote: true } }
      : {}),
    startTime: start,
    endTime: end,
    duration: hrTime(r.durationMs),
    status: error ? { code: STATUS_ERROR } : { code: STATUS_UNSET },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: { name: 'weft-proxy' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}
