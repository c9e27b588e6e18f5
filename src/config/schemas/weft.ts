// weft.dev/v1alpha1: Weft's own kinds. A Workload is a local process (or a set of replicas) that Weft
// starts or adopts and puts a sidecar in front of; its labels are what Services and Gateways select.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { RateLimitSpec, WorkloadSpec } from '../types.js';
import type { MeshConfigSpec } from '../security-types.js';
import { tryParseDuration } from '../duration.js';
import { localityLbSetting } from './istio-destination-rule-locality.js';
import { formatProblem, jsonLabels } from '../../proxy/telemetry/access-log/format.js';
import {
  dnsLabel,
  dnsSubdomain,
  duration as istioDuration,
  intRange,
  loose,
  nonEmptyString,
  nonNegativeInt,
  port,
  tcpKeepalive,
  resource,
  show,
  strict,
  stringMap,
  unknownFieldMessage,
} from './common.js';

export const WEFT_API_VERSIONS = ['weft.dev/v1alpha1'] as const;

// Environment values are strings, but YAML turns `PORT: 9080` into a number; accept and stringify scalars.
const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const workloadPort = strict({
  name: dnsLabel.optional(),
  containerPort: port,
  protocol: z.string().optional(),
});

const httpGetProbe = strict({
  path: z.string().optional(),
  port: z.union([port, nonEmptyString]).optional(),
});

export const workloadSpec = strict({
  serviceAccount: dnsSubdomain.optional(),
  replicas: nonNegativeInt.optional(),
  ports: z.array(workloadPort).optional(),
  command: z
    .array(z.string())
    .min(1, { error: 'must have at least one item (omit it to adopt a running process)' })
    .optional(),
  env: z.record(z.string(), envValue).optional(),
  readinessProbe: strict({
    httpGet: httpGetProbe.optional(),
    periodSeconds: intRange(1, 3600).optional(),
  }).optional(),
  sidecar: strict({
    outboundPort: port.optional(),
    inboundPort: port.optional(),
    adminPort: port.optional(),
  }).optional(),
});

const _check: z.ZodType<WorkloadSpec> = workloadSpec;
void _check;

export const workloadResource = resource('Workload', workloadSpec);

const duration = z.string().refine((v) => (tryParseDuration(v) ?? 0) > 0, {
  error: 'must be a positive duration such as "1s" or "500ms"',
});

export const rateLimitSpec = strict({
  selector: strict({ matchLabels: z.record(z.string(), z.string()) }).optional(),
  routes: z.array(strict({ virtualService: dnsSubdomain, route: nonEmptyString })).optional(),
  tokenBucket: strict({
    maxTokens: intRange(1, 1_000_000_000),
    tokensPerFill: intRange(1, 1_000_000_000).optional(),
    fillInterval: duration,
  }),
}).refine((s) => s.selector !== undefined || (s.routes?.length ?? 0) > 0, {
  error: 'set a selector (per workload) or routes (per route)',
});

const _checkRateLimit: z.ZodType<RateLimitSpec> = rateLimitSpec;
void _checkRateLimit;

export const rateLimitResource = resource('RateLimit', rateLimitSpec);

// ---- MeshConfig -------------------------------------------------------------------------------------
// Istio's MeshConfig (mesh/v1alpha1/config.proto) under the same names, so a `meshConfig:` block from an
// IstioOperator or the istio ConfigMap pastes in. The fields Weft acts on are checked like Istio's
// ValidateMeshConfig; the other Istio fields are accepted as they are.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Istio's ValidateTrustDomain: DNS-1123 labels separated by dots (a trailing dot is allowed). */
const trustDomain = z.string().superRefine((d, ctx) => {
  const labels = d.split('.');
  if (labels.at(-1) === '' && labels.length > 1) labels.pop();
  if (d === '' || labels.some((l) => l.length > 63 || !DNS1123_LABEL.test(l))) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid trust domain ${show(d)}: use lowercase DNS labels separated by dots, e.g. "cluster.local" or "example.org"`,
    });
  }
});

/** Istio's ValidateFQDN (wildcard: ValidateWildcardDomain): DNS-1123 labels, not an all-numeric last label. */
function isDomain(name: string, wildcard: boolean): boolean {
  const labels = name.split('.');
  if (labels.length > 1 && labels.at(-1) === '') labels.pop();
  if (wildcard && labels[0] === '*') labels.shift();
  return (
    name.length > 0 &&
    name.length <= 255 &&
    labels.length > 0 &&
    labels.every((l) => l.length <= 63 && DNS1123_LABEL.test(l)) &&
    !/^\d+$/.test(labels.at(-1) as string)
  );
}

/** Istio's validateExtensionProviderService: `<host>` (a DNS name or an IP) or `<namespace>/<FQDN>`. */
function providerServiceProblem(service: string): string | undefined {
  const hint =
    'use a host such as "ext-authz.foo.svc.cluster.local" or "ext-authz", or "<namespace>/<fully qualified host>"';
  if (service === '') return `must not be empty: ${hint}`;
  const slash = service.indexOf('/');
  if (slash < 0) {
    return isDomain(service, false) || isIP(service) ? undefined : `invalid host ${show(service)}: ${hint}`;
  }
  const ns = service.slice(0, slash);
  const host = service.slice(slash + 1);
  if (ns !== '*' && ns !== '.' && ns !== '~' && !DNS1123_LABEL.test(ns)) {
    return `invalid namespace ${show(ns)}: ${hint}`;
  }
  if (host !== '*' && (!host.includes('.') || !isDomain(host, true))) {
    return `invalid host ${show(host)} after "${ns}/": ${hint}`;
  }
  return undefined;
}

// Envoy's StatusCode enum: the HTTP statuses Istio accepts for statusOnError.
const ENVOY_STATUS_CODES = new Set([
  100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401,
  402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426,
  428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

const headerPatterns = z.array(nonEmptyString);

const providerService = z.string().superRefine((s, ctx) => {
  const p = providerServiceProblem(s);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

// A YAML number is reported here rather than as a type error, which would hide other problems.
const statusOnError = z
  .union([z.string(), z.number()])
  .superRefine((s, ctx) => {
    if (typeof s === 'number') {
      ctx.addIssue({ code: 'custom', message: `write the status as a string, e.g. "${s}"` });
    } else if (!/^\d+$/.test(s) || !ENVOY_STATUS_CODES.has(Number(s))) {
      ctx.addIssue({
        code: 'custom',
        message: `must be an HTTP status code such as "403" or "503" (got ${show(s)})`,
      });
    }
  })
  .transform(String);

const includeRequestBodyInCheck = strict({
  maxRequestBytes: intRange(0, 4294967295).optional(),
  allowPartialMessage: z.boolean().optional(),
  packAsBytes: z.boolean().optional(),
});

const envoyExtAuthzHttp = strict({
  service: providerService,
  port,
  timeout: istioDuration.optional(),
  pathPrefix: z
    .string()
    .refine((p) => p.startsWith('/'), {
      error: (iss) => `must start with "/", e.g. "/check" (got ${show(iss.input)})`,
    })
    .optional(),
  failOpen: z.boolean().optional(),
  clearRouteCache: z.boolean().optional(),
  statusOnError: statusOnError.optional(),
  includeHeadersInCheck: headerPatterns.optional(), // deprecated by Istio; read as includeRequestHeadersInCheck
  includeRequestHeadersInCheck: headerPatterns.optional(),
  includeAdditionalHeadersInCheck: stringMap.optional(),
  includeRequestBodyInCheck: includeRequestBodyInCheck.optional(),
  headersToUpstreamOnAllow: headerPatterns.optional(),
  headersToDownstreamOnAllow: headerPatterns.optional(),
  headersToDownstreamOnDeny: headerPatterns.optional(),
}).transform(({ includeHeadersInCheck, ...p }) =>
  includeHeadersInCheck && !p.includeRequestHeadersInCheck
    ? { ...p, includeRequestHeadersInCheck: includeHeadersInCheck }
    : p,
);

// Istio's EnvoyExternalAuthorizationGrpcProvider: Envoy's Authorization/Check gRPC service.
const envoyExtAuthzGrpc = strict({
  service: providerService,
  port,
  timeout: istioDuration.optional(),
  failOpen: z.boolean().optional(),
  clearRouteCache: z.boolean().optional(),
  statusOnError: statusOnError.optional(),
  includeRequestBodyInCheck: includeRequestBodyInCheck.optional(),
});

// Istio's EnvoyOpenTelemetryLogProvider: access log entries as OpenTelemetry LogRecords over OTLP/gRPC.
// Body is `logFormat.text` (Istio's default text format when unset), attributes are `logFormat.labels`.
const envoyOtelAls = strict({
  service: providerService,
  port,
  logName: z.string().optional(),
  logFormat: strict({
    text: z
      .string()
      .superRefine((t, ctx) => {
        const problem = formatProblem(t);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    labels: z
      .record(z.string(), z.unknown(), { error: 'must be a map of attribute names to Envoy format strings' })
      .superRefine((l, ctx) => {
        const problem = formatProblem(l);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
  }).optional(),
});

// The provider kinds of Istio's ExtensionProvider oneof that Weft reads elsewhere or accepts as they are.
const OTHER_PROVIDER_KINDS = [
  'zipkin',
  'lightstep',
  'datadog',
  'stackdriver',
  'opencensus',
  'skywalking',
  'opentelemetry',
  'prometheus',
  'envoyFileAccessLog',
  'envoyHttpAls',
  'envoyTcpAls',
] as const;
const PROVIDER_KINDS = ['envoyExtAuthzHttp', 'envoyExtAuthzGrpc', 'envoyOtelAls', ...OTHER_PROVIDER_KINDS];

const extensionProvider = strict({
  name: z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? 'an extension provider needs a name: AuthorizationPolicies refer to it as provider.name'
          : undefined,
    })
    .min(1, { error: 'must not be empty' }),
  envoyExtAuthzHttp: envoyExtAuthzHttp.optional(),
  envoyExtAuthzGrpc: envoyExtAuthzGrpc.optional(),
  envoyOtelAls: envoyOtelAls.optional(),
  ...Object.fromEntries(OTHER_PROVIDER_KINDS.map((k) => [k, loose.optional()])),
}).superRefine((p, ctx) => {
  const kinds = PROVIDER_KINDS.filter((k) => (p as Record<string, unknown>)[k] !== undefined);
  if (kinds.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: kinds.length ? [kinds[1] as string] : [],
      message:
        kinds.length === 0
          ? `extension provider ${show(p.name)} needs a provider kind, e.g. envoyExtAuthzHttp: { service: ext-authz, port: 8000 }`
          : `an extension provider has exactly one kind (found ${kinds.join(' and ')}): add another entry for the second`,
    });
  }
});

const MESH_FIELDS = {
  rootNamespace: dnsLabel.optional(),
  trustDomain: trustDomain.optional(),
  pathNormalization: strict({
    // DEFAULT is Istio's name for "currently BASE"; stored as BASE so later stages see one spelling.
    normalization: z
      .enum(['DEFAULT', 'NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'], {
        error: (iss) =>
          `must be one of DEFAULT, NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES (got ${show(iss.input)})`,
      })
      .transform((n) => (n === 'DEFAULT' ? 'BASE' : n))
      .optional(),
  }).optional(),
  outboundTrafficPolicy: strict({
    mode: z
      .enum(['ALLOW_ANY', 'REGISTRY_ONLY'], {
        error: (iss) => `must be ALLOW_ANY or REGISTRY_ONLY (got ${show(iss.input)})`,
      })
      .optional(),
  }).optional(),
  extensionProviders: z.array(extensionProvider).optional(),
  enableAutoMtls: z.boolean().optional(),
  // The default for DestinationRules that set none (Istio's meshConfig.localityLbSetting).
  localityLbSetting: localityLbSetting.optional(),
  // SO_KEEPALIVE on every upstream connection, unless a DestinationRule sets its own.
  tcpKeepalive: tcpKeepalive.optional(),
  // HTTP/1.1 between sidecars over their HTTP/2 session, unless a DestinationRule says otherwise.
  h2UpgradePolicy: z
    .enum(['DO_NOT_UPGRADE', 'UPGRADE'], {
      error: (iss) => `must be DO_NOT_UPGRADE or UPGRADE (got ${show(iss.input)})`,
    })
    .optional(),
};

// The rest of Istio's MeshConfig fields: accepted as they are (Weft does not act on them yet).
const OTHER_MESH_FIELDS = [
  'proxyListenPort',
  'proxyInboundListenPort',
  'proxyHttpPort',
  'connectTimeout',
  'protocolDetectionTimeout',
  'ingressClass',
  'ingressService',
  'ingressControllerMode',
  'ingressSelector',
  'enableTracing',
  'accessLogFile',
  'accessLogFormat',
  'accessLogEncoding',
  'enableEnvoyAccessLogService',
  'disableEnvoyListenerLog',
  'defaultConfig',
  'inboundTrafficPolicy',
  'configSources',
  'trustDomainAliases',
  'caCertificates',
  'defaultServiceExportTo',
  'defaultVirtualServiceExportTo',
  'defaultDestinationRuleExportTo',
  'dnsRefreshRate',
  'inboundClusterStatName',
  'outboundClusterStatName',
  'certificates',
  'serviceSettings',
  'enablePrometheusMerge',
  'verifyCertificateAtClient',
  'ca',
  'defaultProviders',
  'discoverySelectors',
  'defaultHttpRetryPolicy',
  'meshMTLS',
  'tlsDefaults',
  'compliancePolicy',
  'serviceScopeConfigs',
];
const KNOWN_MESH_FIELDS = [...Object.keys(MESH_FIELDS), ...OTHER_MESH_FIELDS];

type Issues = { addIssue: (i: { code: 'custom'; path: Array<string | number>; message: string }) => void };

/** Access log settings Weft cannot act on are refused here (file, line, field), not NACKed later. */
function accessLogProblems(spec: Record<string, unknown>, ctx: Issues): void {
  const add = (path: Array<string | number>, message: string) =>
    ctx.addIssue({ code: 'custom', path, message });
  const enc = spec.accessLogEncoding;
  if (enc !== undefined && enc !== 'TEXT' && enc !== 'JSON')
    add(['accessLogEncoding'], `must be TEXT or JSON (got ${show(enc)})`);
  if (spec.accessLogFile !== undefined && typeof spec.accessLogFile !== 'string')
    add(['accessLogFile'], 'must be a path such as /dev/stdout, or "" for no access log');
  const format = spec.accessLogFormat;
  if (format !== undefined && typeof format !== 'string') add(['accessLogFormat'], 'must be a string');
  else if (typeof format === 'string' && format !== '') {
    if (enc === 'JSON') {
      const labels = jsonLabels(format);
      if (!labels) add(['accessLogFormat'], 'with accessLogEncoding JSON, must be a JSON object of labels');
      else {
        const problem = formatProblem(labels);
        if (problem) add(['accessLogFormat'], problem);
      }
    } else {
      const problem = formatProblem(format);
      if (problem) add(['accessLogFormat'], problem);
    }
  }
  const providers = Array.isArray(spec.extensionProviders) ? spec.extensionProviders : [];
  providers.forEach((p: unknown, i: number) => {
    const file = (p as Record<string, unknown> | undefined)?.envoyFileAccessLog as
      Record<string, unknown> | undefined;
    if (file === undefined || file === null) return;
    const at = ['extensionProviders', i, 'envoyFileAccessLog'];
    if (typeof file !== 'object') return add(at, 'must be an object: { path, logFormat: { text | labels } }');
    for (const k of Object.keys(file)) {
      if (k !== 'path' && k !== 'logFormat') add([...at, k], unknownFieldMessage(k, ['path', 'logFormat']));
    }
    if (file.path !== undefined && typeof file.path !== 'string') add([...at, 'path'], 'must be a file path');
    const lf = file.logFormat as Record<string, unknown> | undefined;
    if (lf === undefined || lf === null) return;
    if (typeof lf !== 'object') return add([...at, 'logFormat'], 'must be { text: "…" } or { labels: {…} }');
    for (const k of Object.keys(lf)) {
      if (k !== 'text' && k !== 'labels' && k !== 'omitEmptyValues')
        add([...at, 'logFormat', k], unknownFieldMessage(k, ['text', 'labels', 'omitEmptyValues']));
    }
    if (lf.omitEmptyValues !== undefined && typeof lf.omitEmptyValues !== 'boolean')
      add([...at, 'logFormat', 'omitEmptyValues'], 'must be true or false');
    if (lf.text !== undefined && lf.labels !== undefined)
      add([...at, 'logFormat', 'labels'], 'set text or labels, not both');
    if (lf.text !== undefined) {
      if (typeof lf.text !== 'string') add([...at, 'logFormat', 'text'], 'must be an Envoy format string');
      else {
        const problem = formatProblem(lf.text);
        if (problem) add([...at, 'logFormat', 'text'], problem);
      }
    }
    if (lf.labels !== undefined) {
      if (typeof lf.labels !== 'object' || lf.labels === null || Array.isArray(lf.labels))
        add([...at, 'logFormat', 'labels'], 'must be a map of JSON keys to Envoy format strings');
      else {
        const problem = formatProblem(lf.labels as Record<string, unknown>);
        if (problem) add([...at, 'logFormat', 'labels'], problem);
      }
    }
  });
}

export const meshConfigSpec = z.looseObject(MESH_FIELDS).superRefine((spec, ctx) => {
  // Fields newer than this list are accepted, but a near miss of a known field is a typo worth reporting:
  // a misspelt trustDomain would otherwise be ignored without a word.
  for (const key of Object.keys(spec)) {
    if (KNOWN_MESH_FIELDS.includes(key)) continue;
    const message = unknownFieldMessage(key, KNOWN_MESH_FIELDS);
    if (message.includes('did you mean')) ctx.addIssue({ code: 'custom', path: [key], message });
  }
  accessLogProblems(spec as Record<string, unknown>, ctx);
  const seen = new Set<string>();
  spec.extensionProviders?.forEach((p, i) => {
    if (seen.has(p.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['extensionProviders', i, 'name'],
        message: `duplicate extension provider name ${show(p.name)}: names must be unique`,
      });
    }
    seen.add(p.name);
  });
});

const _checkMesh: z.ZodType<MeshConfigSpec> = meshConfigSpec;
void _checkMesh;

export const meshConfigResource = resource('MeshConfig', meshConfigSpec);
