// Which access logs reach which proxy: Istio's Telemetry hierarchy (mesh, namespace, workload), match
// modes, disabling, filters, providers from MeshConfig, the mesh-wide accessLogFile and Weft's default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Resource } from '../types.js';
import { MeshIndex } from './inputs.js';
import { compileAccessLog } from './access-log.js';
import type { ProxyIdentity } from '../../model/snapshot.js';

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

const proxy = (app: string, namespace = 'default'): ProxyIdentity => ({
  id: `${app}-0.${namespace}`,
  workload: app,
  namespace,
  serviceAccount: app,
  spiffeId: `spiffe://cluster.local/ns/${namespace}/sa/${app}`,
  labels: { app },
  kind: 'sidecar',
});

const MESH = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  extensionProviders:
  - name: json-file
    envoyFileAccessLog:
      path: /tmp/weft-access.json
      logFormat:
        labels: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' }
  - name: text-file
    envoyFileAccessLog:
      path: /tmp/weft-access.log
      logFormat: { text: '%RESPONSE_CODE% %REQ(:PATH)%', omitEmptyValues: true }
  - name: als
    envoyOtelAls: { service: otel.example.com, port: 4317 }
  - name: http-als
    envoyHttpAls: { service: als.example.com, port: 9001 }
`;

const tel = (name: string, ns: string, spec: string) => `---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: ${ns} }
spec:
${spec}
`;

const compile = (yaml: string, p = proxy('reviews')) =>
  compileAccessLog(new MeshIndex(parse(yaml), []), p).accessLog;
const providers = (yaml: string, p = proxy('reviews')) => {
  const a = compile(yaml, p);
  if (!a) return undefined;
  const show = (s: { provider: string; filter?: string }) =>
    s.filter ? `${s.provider} if ${s.filter}` : s.provider;
  return { client: a.client.map(show), server: a.server.map(show) };
};

test("nothing configured: the field stays absent (Weft's compact line)", () => {
  assert.equal(compile(''), undefined);
  assert.equal(compile(MESH), undefined);
});

test('MeshConfig accessLogFile: the mesh-wide log, TEXT or JSON; "" turns logging off', () => {
  const text = compile(`apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec: { accessLogFile: /dev/stdout }
`);
  assert.deepEqual(text?.client, [
    { provider: 'meshConfig.accessLogFile', path: '/dev/stdout', format: { kind: 'text', text: '' } },
  ]);
  const json = compile(`apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec: { accessLogFile: /tmp/x.log, accessLogEncoding: JSON, accessLogFormat: '{"c":"%RESPONSE_CODE%"}' }
`);
  assert.deepEqual(json?.server[0]?.format, { kind: 'json', labels: { c: '%RESPONSE_CODE%' } });
  const off = compile(`apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec: { accessLogFile: "" }
`);
  assert.deepEqual(off, { client: [], server: [] });
});

test('mesh-wide Telemetry with the envoy provider and a filter', () => {
  const t = tel(
    'mesh-default',
    'istio-system',
    `  accessLogging:
  - providers: [{ name: envoy }]
    filter: { expression: 'response.code >= 400' }`,
  );
  assert.deepEqual(providers(MESH + t), {
    client: ['envoy if response.code >= 400'],
    server: ['envoy if response.code >= 400'],
  });
  const a = compile(MESH + t);
  assert.deepEqual(a?.client[0], {
    provider: 'envoy',
    path: '/dev/stdout',
    format: { kind: 'text', text: '' },
    filter: 'response.code >= 400',
  });
});

test('namespace and workload Telemetry override the mesh one; other namespaces keep it', () => {
  const yaml =
    MESH +
    tel('mesh-default', 'istio-system', `  accessLogging:\n  - providers: [{ name: envoy }]`) +
    tel('ns', 'default', `  accessLogging:\n  - providers: [{ name: json-file }]`) +
    tel(
      'w',
      'default',
      `  selector: { matchLabels: { app: ratings } }\n  accessLogging:\n  - providers: [{ name: text-file }]\n    match: { mode: SERVER }`,
    );
  assert.deepEqual(providers(yaml), { client: ['json-file'], server: ['json-file'] });
  assert.deepEqual(providers(yaml, proxy('ratings')), { client: ['json-file'], server: ['text-file'] });
  assert.deepEqual(providers(yaml, proxy('x', 'other')), { client: ['envoy'], server: ['envoy'] });
  const json = compile(yaml)?.client[0];
  assert.deepEqual(json, {
    provider: 'json-file',
    path: '/tmp/weft-access.json',
    format: { kind: 'json', labels: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } },
  });
});

test('disabled: per workload, per side, and of the default line', () => {
  const mesh = tel('mesh-default', 'istio-system', `  accessLogging:\n  - providers: [{ name: envoy }]`);
  const off = tel(
    'w',
    'default',
    `  selector: { matchLabels: { app: reviews } }\n  accessLogging:\n  - disabled: true`,
  );
  assert.deepEqual(providers(MESH + mesh + off), { client: [], server: [] });
  const clientOff = tel(
    'w',
    'default',
    `  selector: { matchLabels: { app: reviews } }\n  accessLogging:\n  - disabled: true\n    match: { mode: CLIENT }`,
  );
  assert.deepEqual(providers(MESH + mesh + clientOff), { client: [], server: ['envoy'] });
  // Without any provider configured, disabling turns Weft's own line off.
  assert.deepEqual(providers(MESH + off), { client: [], server: [] });
  // A filter with no provider applies to Weft's own line.
  const filtered = tel(
    'mesh-default',
    'istio-system',
    `  accessLogging:\n  - filter: { expression: 'response.code >= 500' }`,
  );
  assert.deepEqual(providers(MESH + filtered), {
    client: ['weft if response.code >= 500'],
    server: ['weft if response.code >= 500'],
  });
});

test('defaultProviders.accessLogging: file and OpenTelemetry providers', () => {
  const d = MESH.replace('spec:\n', 'spec:\n  defaultProviders: { accessLogging: [text-file, als] }\n');
  assert.deepEqual(providers(d), { client: ['als', 'text-file'], server: ['als', 'text-file'] });
  assert.deepEqual(compile(d)?.client[1]?.format, {
    kind: 'text',
    text: '%RESPONSE_CODE% %REQ(:PATH)%',
    omitEmptyValues: true,
  });
  // istiod's buildOpenTelemetryAccessLogConfig: Istio's default text body, no attributes, its log name.
  assert.deepEqual(compile(d)?.client[0], {
    provider: 'als',
    path: 'grpc://otel.example.com:4317',
    format: { kind: 'text', text: '' },
    otel: { host: 'otel.example.com', port: 4317, logName: 'otel_envoy_accesslog', attributes: {} },
  });
});

test('envoyOtelAls: logName, text body and labels as attributes; <namespace>/<host> services', () => {
  const mesh = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  defaultProviders: { accessLogging: [otel] }
  extensionProviders:
  - name: otel
    envoyOtelAls:
      service: observability/otel-collector.observability.svc.cluster.local
      port: 4317
      logName: mesh-logs
      logFormat:
        text: '%REQ(:METHOD)% %RESPONSE_CODE%'
        labels: { code: '%RESPONSE_CODE%', team: payments, n: 3 }
`;
  assert.deepEqual(compile(mesh)?.server[0], {
    provider: 'otel',
    path: 'grpc://otel-collector.observability.svc.cluster.local:4317',
    format: { kind: 'text', text: '%REQ(:METHOD)% %RESPONSE_CODE%' },
    otel: {
      host: 'otel-collector.observability.svc.cluster.local',
      port: 4317,
      logName: 'mesh-logs',
      attributes: { code: '%RESPONSE_CODE%', team: 'payments', n: 3 },
    },
  });
});

test('a Telemetry rule selects an envoyOtelAls provider like a file provider (mode, filter, disabled)', () => {
  const rules = tel(
    'mesh-default',
    'istio-system',
    `  accessLogging:
  - providers: [{ name: als }]
    match: { mode: SERVER }
    filter: { expression: 'response.code >= 500' }`,
  );
  assert.deepEqual(providers(MESH + rules), { client: [], server: ['als if response.code >= 500'] });
  const off = tel(
    'reviews-off',
    'default',
    `  selector: { matchLabels: { app: reviews } }\n  accessLogging:\n  - disabled: true`,
  );
  assert.deepEqual(providers(MESH + rules + off), { client: [], server: [] });
});

test('envoyHttpAls/envoyTcpAls reach the proxy marked unsupported (it says they write nothing)', () => {
  const mesh = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  defaultProviders: { accessLogging: [http-als, tcp-als] }
  extensionProviders:
  - name: http-als
    envoyHttpAls: { service: als.example.com, port: 9001 }
  - name: tcp-als
    envoyTcpAls: { service: als.example.com, port: 9001 }
`;
  const a = compile(mesh);
  assert.deepEqual(
    a?.client.map((s) => [s.provider, s.unsupported]),
    [
      ['http-als', 'envoyHttpAls'],
      ['tcp-als', 'envoyTcpAls'],
    ],
  );
});

test('bad formats and filters are refused at load with the field', () => {
  const bad = (yaml: string) => parseDocuments(yaml, 'bad.yaml').problems.map(formatProblem).join('\n');
  assert.match(
    bad(MESH.replace("'%RESPONSE_CODE% %REQ(:PATH)%'", "'%RESPONSE_CODE% %NOT_AN_OP%'")),
    /bad\.yaml:\d+: .*extensionProviders\[1\]\.envoyFileAccessLog\.logFormat\.text: unknown access log operator %NOT_AN_OP%/,
  );
  assert.match(
    bad(MESH.replace('port: 4317 }', "port: 4317, logFormat: { labels: { x: '%NOT_AN_OP%' } } }")),
    /extensionProviders\[2\]\.envoyOtelAls\.logFormat\.labels: x: unknown access log operator %NOT_AN_OP%/,
  );
  assert.match(
    bad(MESH.replace('port: 4317 }', 'port: 4317, logFomat: {} }')),
    /extensionProviders\[2\]\.envoyOtelAls.*logFomat/,
  );
  assert.match(
    bad(`apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec: { accessLogFile: /dev/stdout, accessLogEncoding: YAML }
`),
    /accessLogEncoding: must be TEXT or JSON/,
  );
  assert.match(
    bad(tel('t', 'default', `  accessLogging:\n  - filter: { expression: 'response.status >= 400' }`)),
    /accessLogging\[0\]\.filter\.expression: .*unknown attribute response\.status/,
  );
});

test('weft analyze warns about access log providers that write nothing', async () => {
  const { analyze } = await import('../analyze.js');
  const problems = analyze(
    parse(
      MESH +
        tel(
          'mesh-default',
          'istio-system',
          `  accessLogging:\n  - providers: [{ name: envoy }, { name: missing }, { name: http-als }, { name: json-file }]`,
        ),
    ),
  ).map(formatProblem);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(
    problems[0]!,
    /providers\[1\]\.name: access log provider "missing" is neither the built-in envoy/,
  );
  assert.match(problems[1]!, /providers\[2\]\.name: access log provider "http-als" is of kind envoyHttpAls;/);
});

test("Istio's Telemetry validation fixture (telemetry-valid.yaml): CLIENT-only, filter 'true', provider stdout", async () => {
  const { readFile } = await import('node:fs/promises');
  const { fixture } = await import('../testing.js');
  const yaml = await readFile(fixture('istio-validation/crds/telemetry-valid.yaml'), 'utf8');
  const withProvider = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  extensionProviders:
  - name: stdout
    envoyFileAccessLog: { path: /dev/stdout }
---
${yaml}`;
  assert.deepEqual(providers(withProvider), { client: ['stdout if true'], server: [] });
  // Without the provider defined, istiod (and Weft) write nothing for it.
  assert.deepEqual(providers(yaml), { client: [], server: [] });
});
