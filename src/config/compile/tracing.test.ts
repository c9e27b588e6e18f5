// Which tracing settings reach which proxy: Istio's Telemetry hierarchy (mesh, namespace, workload),
// providers from MeshConfig, sampling precedence, and the legacy MeshConfig path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Resource } from '../types.js';
import { MeshIndex } from './inputs.js';
import { compileTracing } from './tracing.js';
import type { ProxyIdentity } from '../../model/snapshot.js';

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

const proxy = (
  app: string,
  namespace = 'default',
  kind: 'sidecar' | 'gateway' = 'sidecar',
): ProxyIdentity => ({
  id: `${app}-0.${namespace}`,
  workload: app,
  namespace,
  serviceAccount: app,
  spiffeId: `spiffe://cluster.local/ns/${namespace}/sa/${app}`,
  labels: { app },
  kind,
});

const MESH = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  extensionProviders:
  - name: otel
    opentelemetry:
      service: 127.0.0.1
      port: 4318
      http: { path: /custom/traces, timeout: 2s, headers: [{ name: x-tenant, value: t1 }] }
  - name: zipkin
    zipkin: { service: 127.0.0.1, port: 9411 }
  - name: datadog
    datadog: { service: dd.example.com, port: 8126 }
`;

const tel = (name: string, ns: string, spec: string) => `---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: ${ns} }
spec:
${spec}
`;

const compile = (yaml: string, p = proxy('reviews')) =>
  compileTracing(new MeshIndex(parse(yaml), []), p).tracing;

test('no Telemetry and no tracing provider: nothing is traced (the default bookinfo mesh)', () => {
  assert.equal(compile(MESH), undefined);
  assert.equal(compile(''), undefined);
});

test('a mesh-wide Telemetry selects a provider; sampling defaults to defaultConfig, then 1%', () => {
  const t = compile(
    MESH + tel('mesh-default', 'istio-system', '  tracing:\n  - providers: [{ name: otel }]'),
  );
  assert.ok(t?.client && t.server);
  assert.equal(t.client.samplingPercentage, 1);
  assert.deepEqual(t.client.provider, {
    name: 'otel',
    kind: 'opentelemetry',
    host: '127.0.0.1',
    port: 4318,
    path: '/custom/traces',
    timeoutMs: 2000,
    headers: [{ name: 'x-tenant', value: 't1' }],
    maxTagLength: 256,
  });
  assert.equal(t.meshId, 'cluster.local');
  const sampled = compile(
    MESH.replace('spec:\n', 'spec:\n  defaultConfig: { tracing: { sampling: 25 }, meshId: mesh1 }\n') +
      tel('mesh-default', 'istio-system', '  tracing:\n  - providers: [{ name: zipkin }]'),
  );
  assert.equal(sampled?.client?.samplingPercentage, 25);
  assert.equal(sampled?.client?.provider.kind, 'zipkin');
  assert.equal(sampled?.client?.provider.path, '/api/v2/spans');
  assert.equal(sampled?.meshId, 'mesh1');
});

test('namespace and workload Telemetry override the mesh, field by field', () => {
  const yaml =
    MESH +
    tel(
      'mesh-default',
      'istio-system',
      '  tracing:\n  - providers: [{ name: otel }]\n    randomSamplingPercentage: 10',
    ) +
    tel('ns', 'default', '  tracing:\n  - randomSamplingPercentage: 50') +
    tel(
      'reviews',
      'default',
      '  selector: { matchLabels: { app: reviews } }\n  tracing:\n  - providers: [{ name: zipkin }]\n    customTags:\n      team: { literal: { value: books } }',
    );
  const reviews = compile(yaml);
  assert.equal(reviews?.client?.samplingPercentage, 50);
  assert.equal(reviews?.client?.provider.name, 'zipkin');
  assert.deepEqual(reviews?.client?.customTags, [{ tag: 'team', literal: 'books' }]);
  const ratings = compile(yaml, proxy('ratings'));
  assert.equal(ratings?.client?.provider.name, 'otel');
  assert.equal(ratings?.client?.samplingPercentage, 50);
  const other = compile(yaml, proxy('ratings', 'other'));
  assert.equal(other?.client?.samplingPercentage, 10);
});

test('match.mode picks the side; disableSpanReporting and unknown providers turn a side off', () => {
  const yaml =
    MESH +
    tel(
      'mesh-default',
      'istio-system',
      '  tracing:\n  - providers: [{ name: otel }]\n  - match: { mode: SERVER }\n    randomSamplingPercentage: 100',
    );
  const t = compile(yaml);
  assert.equal(t?.client?.samplingPercentage, 1);
  assert.equal(t?.server?.samplingPercentage, 100);
  const off = compile(
    yaml + tel('ns', 'default', '  tracing:\n  - match: { mode: CLIENT }\n    disableSpanReporting: true'),
  );
  assert.equal(off?.client, undefined);
  assert.ok(off?.server);
  assert.equal(
    compile(MESH + tel('m', 'istio-system', '  tracing:\n  - providers: [{ name: nope }]')),
    undefined,
  );
  // A provider kind Weft cannot export to is treated like a missing one.
  assert.equal(
    compile(MESH + tel('m', 'istio-system', '  tracing:\n  - providers: [{ name: datadog }]')),
    undefined,
  );
});

test('defaultProviders.tracing applies without any Telemetry', () => {
  const t = compile(MESH.replace('spec:\n', 'spec:\n  defaultProviders: { tracing: [zipkin] }\n'));
  assert.equal(t?.client?.provider.name, 'zipkin');
  assert.equal(t?.server?.provider.name, 'zipkin');
});

test('legacy MeshConfig: defaultConfig.tracing.zipkin.address and sampling; enableTracing false turns it off', () => {
  const legacy = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  defaultConfig:
    tracing:
      sampling: 200
      zipkin: { address: "127.0.0.1:9411" }
      custom_tags:
        env: { environment: { name: HOME, defaultValue: none } }
`;
  const t = compile(legacy);
  assert.equal(t?.client?.provider.kind, 'zipkin');
  assert.equal(t?.client?.provider.port, 9411);
  assert.equal(t?.client?.samplingPercentage, 1, 'istiod reads sampling above 100 as 1');
  assert.deepEqual(t?.client?.customTags, [
    { tag: 'env', environment: { name: 'HOME', defaultValue: 'none' } },
  ]);
  assert.equal(compile(legacy.replace('spec:\n', 'spec:\n  enableTracing: false\n')), undefined);
});

test('a provider that is a mesh service is reached through the mesh', () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: { name: zipkin, namespace: istio-system }
spec: { selector: { app: zipkin }, ports: [{ name: http, port: 9411 }] }
---
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  extensionProviders:
  - name: zipkin
    zipkin: { service: istio-system/zipkin.istio-system.svc.cluster.local, port: 9411 }
  defaultProviders: { tracing: [zipkin] }
`;
  const t = compile(yaml);
  assert.equal(t?.client?.provider.host, 'zipkin.istio-system.svc.cluster.local');
  assert.equal(t?.client?.provider.viaMesh, true);
  // The legacy default address counts only when it is a mesh service.
  const legacy = compile(yaml.replace(/---[\s\S]*$/, ''));
  assert.equal(legacy?.client?.provider.host, 'zipkin.istio-system');
});

test('a Telemetry targeting a Gateway API Gateway applies to its gateway proxy only', () => {
  const gw: ProxyIdentity = {
    ...proxy('gw', 'default', 'gateway'),
    labels: { 'gateway.networking.k8s.io/gateway-name': 'web' },
  };
  const yaml =
    MESH +
    tel(
      'gw',
      'default',
      '  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: web }]\n  tracing:\n  - providers: [{ name: otel }]',
    );
  assert.equal(compile(yaml, gw)?.client?.provider.name, 'otel');
  assert.equal(compile(yaml), undefined);
});
