// Istio Telemetry `accessLogging` and MeshConfig -> what one proxy writes to its access logs (the
// snapshot's `accessLog` field). The rules follow istiod (pilot/pkg/model/telemetry.go `mergeLogs`,
// pilot/pkg/networking/core/accesslog.go):
//
// - Telemetry resources apply root namespace first, then the proxy's namespace, then those selecting the
//   workload (or, for a gateway, naming its Gateway in targetRefs); their accessLogging rules are read in
//   that order, each for the side its `match.mode` names (CLIENT = outbound and gateway listeners,
//   SERVER = inbound; default both).
// - A rule's providers replace the inherited ones; a rule without providers acts on the inherited ones.
//   The inherited set starts as `defaultProviders.accessLogging`, else the mesh-wide log of
//   `accessLogFile`, else (MeshConfig says nothing about access logs) Weft's compact line on the proxy's
//   output. Only providers in the last named set stay; `disabled: true` removes them, `filter` applies
//   to them.
// - Providers: the built-in `envoy` (the proxy's stdout, Istio's default text format), MeshConfig
//   `extensionProviders[].envoyFileAccessLog` (`path`, `logFormat.text` or `logFormat.labels`) and
//   `envoyOtelAls` (OTLP/gRPC LogRecords, as istiod's buildOpenTelemetryAccessLogConfig: body =
//   `logFormat.text` or Istio's default text format, attributes = `logFormat.labels`, log name
//   `otel_envoy_accesslog` unless `logName`). Envoy's gRPC ALS (`envoyHttpAls`, `envoyTcpAls`) is not
//   implemented: such a sink is kept, marked `unsupported`, so that the proxy says it writes nothing.
// - No rule for the proxy: `defaultProviders.accessLogging`, else `accessLogFile` with
//   `accessLogEncoding` (TEXT|JSON) and `accessLogFormat`, else, when `accessLogFile` is not set at all,
//   Weft's compact line (the field stays absent from the snapshot). `accessLogFile: ""` is Istio's
//   default profile: no access log.
import type { ProxyIdentity } from '../../model/snapshot.js';
import type { AccessLogFormat, AccessLogSettings, AccessLogSink } from '../../model/access-log.js';
import type { TelemetryAccessLogging } from '../schemas/istio-telemetry.js';
import type { MeshIndex } from './inputs.js';
import { applicableTelemetries } from './tracing.js';
import { jsonLabels } from '../../proxy/telemetry/access-log/format.js';

/** Pseudo-provider: Weft's compact line on the proxy's output (nothing configured). */
export const WEFT_PROVIDER = 'weft';
/** Pseudo-provider: MeshConfig `accessLogFile`. */
export const MESH_FILE_PROVIDER = 'meshConfig.accessLogFile';
export const STDOUT = '/dev/stdout';

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function meshFileSink(mesh: Loose): AccessLogSink | undefined {
  const path = str(mesh.accessLogFile);
  if (!path) return undefined;
  const format = str(mesh.accessLogFormat);
  const json = mesh.accessLogEncoding === 'JSON';
  const f: AccessLogFormat = json
    ? { kind: 'json', labels: (format && jsonLabels(format)) || {} }
    : format
      ? { kind: 'text', text: format }
      : { kind: 'text', text: '' };
  return { provider: MESH_FILE_PROVIDER, path, format: f };
}

/** Istio's default logName for envoyOtelAls (pilot OtelEnvoyAccessLogFriendlyName). */
export const OTEL_LOG_NAME = 'otel_envoy_accesslog';
/** Access log provider kinds Istio knows and Weft does not export to. */
const UNSUPPORTED = ['envoyHttpAls', 'envoyTcpAls'];

function otelSink(name: string, als: Loose): AccessLogSink {
  const service = str(als.service) ?? '';
  // `<namespace>/<host>` names the host in a namespace, as for the other providers.
  const host = service.includes('/') ? service.slice(service.indexOf('/') + 1) : service;
  const port = typeof als.port === 'number' ? als.port : 0;
  const logFormat = obj(als.logFormat);
  return {
    provider: name,
    path: `grpc://${host.includes(':') ? `[${host}]` : host}:${port}`,
    format: { kind: 'text', text: str(logFormat?.text) ?? '' },
    otel: {
      host,
      port,
      logName: str(als.logName) ?? OTEL_LOG_NAME,
      attributes: obj(logFormat?.labels) ?? {},
    },
  };
}

/** An access log provider by name (or the built-in `envoy`); undefined for kinds that are not access logs. */
function providerSink(index: MeshIndex, name: string): AccessLogSink | undefined {
  if (name === WEFT_PROVIDER) return { provider: WEFT_PROVIDER, path: STDOUT, format: { kind: 'weft' } };
  const mesh = index.meshConfig as Loose;
  if (name === MESH_FILE_PROVIDER) return meshFileSink(mesh);
  const p = (index.meshConfig.extensionProviders ?? []).find(
    (e) => e.name.toLowerCase() === name.toLowerCase(),
  );
  if (!p) {
    return name.toLowerCase() === 'envoy'
      ? { provider: 'envoy', path: STDOUT, format: { kind: 'text', text: '' } }
      : undefined;
  }
  const otel = obj((p as Loose).envoyOtelAls);
  if (otel) return otelSink(p.name, otel);
  const file = obj((p as Loose).envoyFileAccessLog);
  if (!file) {
    const kind = UNSUPPORTED.find((k) => (p as Loose)[k] !== undefined);
    return kind
      ? { provider: p.name, path: '', format: { kind: 'text', text: '' }, unsupported: kind }
      : undefined;
  }
  const logFormat = obj(file.logFormat);
  const labels = obj(logFormat?.labels);
  const text = str(logFormat?.text);
  const omit = logFormat?.omitEmptyValues === true ? { omitEmptyValues: true } : {};
  const format: AccessLogFormat = labels
    ? { kind: 'json', labels, ...omit }
    : { kind: 'text', text: text ?? '', ...omit };
  return { provider: p.name, path: str(file.path) ?? STDOUT, format };
}

type Mode = 'CLIENT' | 'SERVER';

const names = (l: TelemetryAccessLogging) => (l.providers ?? []).map((p) => p.name).filter((n) => n !== '');
const inMode = (l: TelemetryAccessLogging, mode: Mode) => {
  const m = l.match?.mode ?? 'CLIENT_AND_SERVER';
  return m === 'CLIENT_AND_SERVER' || m === mode;
};

/** istiod's mergeLogs for one side: provider name -> filter expression ('' = none). */
export function mergeLogs(
  rules: TelemetryAccessLogging[],
  defaults: string[],
  mode: Mode,
): Map<string, string> {
  const providers = new Map<string, string>();
  if (rules.length === 0) {
    for (const d of defaults) providers.set(d, '');
    return providers;
  }
  let last = defaults;
  const filters = new Map<string, string>();
  for (const r of rules) {
    if (!inMode(r, mode)) continue;
    const n = names(r);
    if (n.length) last = n;
    const expr = r.filter?.expression;
    if (expr !== undefined) for (const p of last) filters.set(p, expr);
  }
  const inScope = new Set(last);
  let parent = defaults;
  for (const r of rules) {
    const n = names(r).length ? names(r) : parent;
    parent = n;
    if (!inMode(r, mode)) continue;
    for (const p of n) {
      if (!inScope.has(p)) continue;
      if (r.disabled === true) providers.delete(p);
      else providers.set(p, filters.get(p) ?? '');
    }
  }
  return providers;
}

function defaultProviders(index: MeshIndex): string[] {
  const mesh = index.meshConfig as Loose;
  const d = obj(mesh.defaultProviders)?.accessLogging;
  const listed = Array.isArray(d) ? d.filter((n): n is string => typeof n === 'string' && n !== '') : [];
  if (listed.length) return listed;
  if (str(mesh.accessLogFile)) return [MESH_FILE_PROVIDER];
  if (mesh.accessLogFile === undefined) return [WEFT_PROVIDER];
  return [];
}

export function compileAccessLog(index: MeshIndex, proxy: ProxyIdentity): { accessLog?: AccessLogSettings } {
  const rules = applicableTelemetries(index, proxy).flatMap((t) => t.spec.accessLogging ?? []);
  const defaults = defaultProviders(index);
  if (rules.length === 0 && defaults.length === 1 && defaults[0] === WEFT_PROVIDER) return {};
  const side = (mode: Mode): AccessLogSink[] => {
    const out: AccessLogSink[] = [];
    for (const [name, filter] of mergeLogs(rules, defaults, mode)) {
      const sink = providerSink(index, name);
      if (!sink) continue;
      out.push(filter ? { ...sink, filter } : sink);
    }
    return out.sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0));
  };
  return { accessLog: { client: side('CLIENT'), server: side('SERVER') } };
}
