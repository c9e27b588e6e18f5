// Istio Telemetry `tracing` and MeshConfig -> what one proxy traces (the snapshot's `tracing` field).
// The rules follow istiod (pilot/pkg/model/telemetry.go `Tracing`, pilot/pkg/networking/core/tracing.go):
//
// - Telemetry resources apply root namespace first (namespace-wide), then the proxy's namespace
//   (namespace-wide), then those whose selector matches the proxy; later rules override earlier ones
//   field by field (providers, randomSamplingPercentage, disableSpanReporting, customTags as a whole,
//   enableIstioTags), each for the side its `match.mode` names (CLIENT = outbound and gateway, SERVER =
//   inbound, default both).
// - The provider starts as `meshConfig.defaultProviders.tracing[0]`; a rule's first provider replaces it.
//   A side whose provider is missing, unknown or of a kind Weft cannot export to, or whose span reporting
//   is disabled, is not traced (istiod drops that side's tracing config the same way).
// - Sampling: the rule's randomSamplingPercentage, else `defaultConfig.tracing.sampling` (values above 100
//   mean 1), else Istio's default 1%.
// - No Telemetry tracing and no default provider: the legacy MeshConfig path. With `enableTracing` (default
//   true) the proxy reports to `defaultConfig.tracing.zipkin.address` (default `zipkin.istio-system:9411`,
//   used only when that is a mesh service here, since nothing else would answer).
import type { ProxyIdentity } from '../../model/snapshot.js';
import type { TracingCustomTag, TracingProvider, TracingSettings, TracingSide } from '../../model/tracing.js';
import { tryParseDuration } from '../duration.js';
import { fqdn } from '../hosts.js';
import type { Telemetry, TelemetryCustomTag, TelemetryTracing } from '../schemas/istio-telemetry.js';
import { labelsMatch, type MeshIndex } from './inputs.js';
import { rootNamespace } from './security.js';

/** Istio's PILOT_TRACE_SAMPLING default. */
export const DEFAULT_SAMPLING_PERCENTAGE = 1;
const LEGACY_ZIPKIN_ADDRESS = 'zipkin.istio-system:9411';
const DEFAULT_TIMEOUT_MS = 10_000;
/** Envoy's default max_path_tag_length. */
const DEFAULT_MAX_TAG_LENGTH = 256;
/** Istio's default cluster ID (istio.cluster_id). */
const DEFAULT_CLUSTER_ID = 'Kubernetes';

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

const hasTarget = (t: Telemetry) =>
  Object.keys(t.spec.selector?.matchLabels ?? {}).length > 0 ||
  t.spec.targetRef !== undefined ||
  (t.spec.targetRefs?.length ?? 0) > 0;

/** Gateway API attachment: a Gateway-kind targetRef selects the gateway proxy deployed for it. */
function targetsProxy(t: Telemetry, proxy: ProxyIdentity): boolean {
  const refs = [...(t.spec.targetRefs ?? []), ...(t.spec.targetRef ? [t.spec.targetRef] : [])];
  const gatewayName = proxy.labels['gateway.networking.k8s.io/gateway-name'];
  return refs.some(
    (r) => r.kind === 'Gateway' && r.group === 'gateway.networking.k8s.io' && r.name === gatewayName,
  );
}

/** The Telemetry resources that apply to a proxy, least specific first (istiod's applicableTelemetries):
 *  the root namespace's namespace-wide one, the proxy namespace's, then those selecting the workload. */
export function applicableTelemetries(index: MeshIndex, proxy: ProxyIdentity): Telemetry[] {
  const root = rootNamespace(index.meshConfig);
  const sorted = [...index.telemetries].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const namespaceWide = (ns: string) => sorted.find((t) => t.metadata.namespace === ns && !hasTarget(t));
  const out: Telemetry[] = [];
  const rootWide = namespaceWide(root);
  if (rootWide) out.push(rootWide);
  const nsWide = proxy.namespace !== root ? namespaceWide(proxy.namespace) : undefined;
  if (nsWide) out.push(nsWide);
  for (const t of sorted) {
    if (t.metadata.namespace !== proxy.namespace || !hasTarget(t)) continue;
    const sel = t.spec.selector?.matchLabels;
    const matches =
      sel && Object.keys(sel).length > 0 ? labelsMatch(sel, proxy.labels) : targetsProxy(t, proxy);
    if (matches) out.push(t);
  }
  return out;
}

/** The tracing rules that apply to a proxy, least specific first. */
export function applicableTracing(index: MeshIndex, proxy: ProxyIdentity): TelemetryTracing[] {
  return applicableTelemetries(index, proxy).flatMap((t) => t.spec.tracing ?? []);
}

/** defaultConfig.tracing.sampling, as istiod reads it: 0 or unset = the default, above 100 = 1. */
function proxyConfigSampling(tracing: Loose | undefined): number {
  const s = num(tracing?.sampling);
  if (s === undefined || s === 0) return DEFAULT_SAMPLING_PERCENTAGE;
  return s > 100 || s < 0 ? 1 : s;
}

function customTagsOf(tags: Record<string, TelemetryCustomTag | Loose> | undefined): TracingCustomTag[] {
  const out: TracingCustomTag[] = [];
  for (const [tag, raw] of Object.entries(tags ?? {})) {
    const t = raw as Loose;
    const literal = str(obj(t.literal)?.value);
    const env = obj(t.environment);
    const header = obj(t.header);
    if (literal !== undefined) out.push({ tag, literal });
    else if (str(env?.name)) {
      const d = str(env?.defaultValue) ?? str(env?.default_value);
      out.push({
        tag,
        environment: { name: str(env?.name)!, ...(d !== undefined ? { defaultValue: d } : {}) },
      });
    } else if (str(header?.name)) {
      const d = str(header?.defaultValue) ?? str(header?.default_value);
      out.push({
        tag,
        header: { name: str(header?.name)!.toLowerCase(), ...(d !== undefined ? { defaultValue: d } : {}) },
      });
    }
    // formatter tags (Envoy format strings) are not supported yet and are left out.
  }
  return out.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

function httpHeaders(v: unknown): TracingProvider['headers'] {
  if (!Array.isArray(v)) return [];
  const out: TracingProvider['headers'] = [];
  for (const h of v) {
    const o = obj(h);
    const name = str(o?.name);
    if (!name) continue;
    const value = typeof o?.value === 'string' ? o.value : undefined;
    const envName = str(o?.envName);
    out.push({ name, ...(value !== undefined ? { value } : {}), ...(envName ? { envName } : {}) });
  }
  return out;
}

/** `<host>` or `<namespace>/<host>` and a port; a mesh service is reached through the mesh. */
function endpoint(index: MeshIndex, service: string, port: number) {
  const host = service.includes('/') ? service.slice(service.indexOf('/') + 1) : service;
  const meshHost = fqdn(host, 'default', index.mesh.domain);
  return { host, port, ...(index.services.has(meshHost) ? { viaMesh: true } : {}) };
}

/** A MeshConfig extension provider Weft can export to: `opentelemetry` (OTLP/HTTP) or `zipkin`. */
export function resolveProvider(index: MeshIndex, name: string | undefined): TracingProvider | undefined {
  if (!name) return undefined;
  const p = (index.meshConfig.extensionProviders ?? []).find(
    (e) => e.name.toLowerCase() === name.toLowerCase(),
  );
  if (!p) return undefined;
  const otel = obj(p.opentelemetry);
  const zipkin = obj(p.zipkin);
  const cfg = otel ?? zipkin;
  const service = str(cfg?.service);
  const port = num(cfg?.port);
  if (!cfg || !service || port === undefined || port < 1 || port > 65535) return undefined;
  // OTLP: Istio's `http` block selects OTLP/HTTP; without it Istio speaks gRPC. Weft always exports
  // OTLP/HTTP, so point `port` at the collector's OTLP/HTTP receiver (4318) there.
  const http = otel ? obj(otel.http) : undefined;
  const rawPath = str(otel ? http?.path : zipkin?.path);
  const path = rawPath
    ? rawPath.startsWith('/')
      ? rawPath
      : `/${rawPath}`
    : otel
      ? '/v1/traces'
      : '/api/v2/spans';
  const timeout = str(otel ? http?.timeout : zipkin?.timeout);
  const timeoutMs = (timeout && tryParseDuration(timeout)) || DEFAULT_TIMEOUT_MS;
  const maxTagLength = num(cfg.maxTagLength);
  return {
    name: p.name,
    kind: otel ? 'opentelemetry' : 'zipkin',
    ...endpoint(index, service, port),
    path,
    timeoutMs,
    headers: httpHeaders(otel ? http?.headers : zipkin?.headers),
    maxTagLength: maxTagLength !== undefined && maxTagLength >= 0 ? maxTagLength : DEFAULT_MAX_TAG_LENGTH,
  };
}

/** The legacy `defaultConfig.tracing.zipkin.address` ("host:port"). */
function legacyZipkin(index: MeshIndex, tracing: Loose | undefined): TracingProvider | undefined {
  const configured = str(obj(tracing?.zipkin)?.address);
  const address = configured ?? LEGACY_ZIPKIN_ADDRESS;
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon) : address;
  const port = colon > 0 ? Number(address.slice(colon + 1)) : 9411;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const ep = endpoint(index, host, port);
  if (!configured && !ep.viaMesh) return undefined;
  const maxPath = num(tracing?.maxPathTagLength);
  return {
    name: 'zipkin',
    kind: 'zipkin',
    ...ep,
    path: '/api/v2/spans',
    timeoutMs: DEFAULT_TIMEOUT_MS,
    headers: [],
    maxTagLength: maxPath !== undefined && maxPath > 0 ? maxPath : DEFAULT_MAX_TAG_LENGTH,
  };
}

interface Spec {
  providerName?: string;
  disabled: boolean;
  sampling?: number;
  customTags?: Record<string, TelemetryCustomTag>;
  istioTags: boolean;
}

export function compileTracing(index: MeshIndex, proxy: ProxyIdentity): { tracing?: TracingSettings } {
  const mesh = index.meshConfig;
  const defaultConfig = obj(mesh.defaultConfig);
  const proxyTracing = obj(defaultConfig?.tracing);
  const base = {
    meshId: str(defaultConfig?.meshId) ?? str(mesh.trustDomain) ?? index.mesh.trustDomain,
    clusterId: DEFAULT_CLUSTER_ID,
  };
  const rules = applicableTracing(index, proxy);
  const defaults = Array.isArray(obj(mesh.defaultProviders)?.tracing)
    ? (obj(mesh.defaultProviders)!.tracing as unknown[]).filter((n): n is string => typeof n === 'string')
    : [];

  if (rules.length === 0 && defaults.length === 0) {
    if (mesh.enableTracing === false) return {};
    const provider = legacyZipkin(index, proxyTracing);
    if (!provider) return {};
    const side: TracingSide = {
      samplingPercentage: proxyConfigSampling(proxyTracing),
      provider,
      istioTags: proxyTracing?.enableIstioTags !== false,
      customTags: customTagsOf(
        (obj(proxyTracing?.customTags) ?? obj(proxyTracing?.custom_tags)) as
          Record<string, Loose> | undefined,
      ),
    };
    return { tracing: { ...base, client: side, server: side } };
  }

  const client: Spec = { providerName: defaults[0], disabled: false, istioTags: true };
  const server: Spec = { providerName: defaults[0], disabled: false, istioTags: true };
  for (const r of rules) {
    const mode = r.match?.mode ?? 'CLIENT_AND_SERVER';
    const specs = mode === 'CLIENT' ? [client] : mode === 'SERVER' ? [server] : [client, server];
    const name = r.providers?.[0]?.name;
    for (const s of specs) {
      if (name) s.providerName = name;
      if (r.disableSpanReporting !== undefined) s.disabled = r.disableSpanReporting;
      if (r.customTags !== undefined) s.customTags = r.customTags;
      if (r.randomSamplingPercentage !== undefined) s.sampling = r.randomSamplingPercentage;
      if (r.enableIstioTags !== undefined) s.istioTags = r.enableIstioTags;
    }
  }
  const side = (s: Spec): TracingSide | undefined => {
    const provider = resolveProvider(index, s.providerName);
    if (!provider || s.disabled) return undefined;
    return {
      samplingPercentage: s.sampling ?? proxyConfigSampling(proxyTracing),
      provider,
      istioTags: s.istioTags,
      customTags: customTagsOf(
        s.customTags ??
          ((obj(proxyTracing?.customTags) ?? obj(proxyTracing?.custom_tags)) as
            Record<string, Loose> | undefined),
      ),
    };
  };
  const c = side(client);
  const sv = side(server);
  if (!c && !sv) return {};
  return { tracing: { ...base, ...(c ? { client: c } : {}), ...(sv ? { server: sv } : {}) } };
}
