// Which Istio metrics a proxy exports: the Telemetry hierarchy (mesh, namespace, workload), providers
// (inherited, replaced, none), match modes, ALL_METRICS, disabled and tag overrides merged as istiod does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Resource } from '../types.js';
import { MeshIndex } from './inputs.js';
import { compileMetrics } from './telemetry-metrics.js';
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

const tel = (name: string, ns: string, spec: string) => `---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: ${ns} }
spec:
${spec}
`;
const mesh = (spec: string) => `---
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
${spec}
`;

const compile = (yaml: string, p = proxy('reviews')) =>
  compileMetrics(new MeshIndex(yaml ? parse(yaml) : [], []), p).metrics;

test('nothing configured, or only providers that change nothing: the field stays absent', () => {
  assert.equal(compile(''), undefined);
  assert.equal(
    compile(tel('m', 'istio-system', '  metrics:\n  - providers: [{ name: prometheus }]')),
    undefined,
  );
  assert.equal(compile(mesh('  defaultProviders: { metrics: [prometheus] }')), undefined);
});

test('mesh, namespace and workload overrides merge in that order, tag by tag', () => {
  const yaml =
    tel(
      'mesh',
      'istio-system',
      `  metrics:
  - overrides:
    - match: { metric: REQUEST_COUNT }
      tagOverrides:
        grpc_response_status: { operation: REMOVE }
        team: { value: '"mesh"' }`,
    ) +
    tel(
      'ns',
      'default',
      `  metrics:
  - overrides:
    - match: { metric: REQUEST_COUNT, mode: SERVER }
      tagOverrides:
        team: { value: '"default-ns"' }`,
    ) +
    tel(
      'wl',
      'default',
      `  selector: { matchLabels: { app: reviews } }
  metrics:
  - overrides:
    - match: { metric: REQUEST_DURATION, mode: CLIENT }
      disabled: true
    - match: { metric: REQUEST_COUNT }
      tagOverrides:
        request_host: { value: request.host }`,
    );
  const m = compile(yaml)!;
  assert.deepEqual(m.client, {
    providers: ['prometheus'],
    metrics: {
      REQUEST_COUNT: { tags: { grpc_response_status: null, request_host: 'request.host', team: '"mesh"' } },
      REQUEST_DURATION: { disabled: true },
    },
  });
  assert.deepEqual(m.server.metrics, {
    REQUEST_COUNT: {
      tags: { grpc_response_status: null, request_host: 'request.host', team: '"default-ns"' },
    },
  });
  // Another workload of the namespace gets the mesh and namespace rules only.
  assert.deepEqual(compile(yaml, proxy('ratings'))!.client.metrics, {
    REQUEST_COUNT: { tags: { grpc_response_status: null, team: '"mesh"' } },
  });
  // A proxy in another namespace: the mesh rule only.
  assert.deepEqual(compile(yaml, proxy('ratings', 'other'))!.server.metrics, {
    REQUEST_COUNT: { tags: { grpc_response_status: null, team: '"mesh"' } },
  });
});

test('ALL_METRICS: disabled turns a side off, a more specific rule turns it on again', () => {
  const off = tel(
    'mesh',
    'istio-system',
    `  metrics:
  - overrides:
    - match: { mode: CLIENT }
      disabled: true`,
  );
  const m = compile(off)!;
  assert.deepEqual(m.client, { providers: [], metrics: {} });
  assert.deepEqual(m.server, { providers: ['prometheus'], metrics: {} });
  const on =
    off +
    tel(
      'wl',
      'default',
      `  selector: { matchLabels: { app: reviews } }
  metrics:
  - overrides:
    - match: { metric: ALL_METRICS, mode: CLIENT }
      disabled: false`,
    );
  assert.equal(compile(on), undefined);
  assert.deepEqual(compile(on, proxy('ratings'))!.client.providers, []);
});

test('providers: replaced by the more specific rule; none of kind prometheus = no Istio metrics', () => {
  const yaml =
    mesh('  extensionProviders:\n  - name: sd\n    stackdriver: {}\n  - name: prom2\n    prometheus: {}') +
    tel('mesh', 'istio-system', '  metrics:\n  - providers: [{ name: sd }]');
  const m = compile(yaml)!;
  assert.deepEqual([m.client.providers, m.server.providers], [[], []]);
  const ns = yaml + tel('ns', 'default', '  metrics:\n  - providers: [{ name: prom2 }]');
  assert.equal(compile(ns), undefined);
  // defaultProviders.metrics names the inherited providers; an empty list means none.
  assert.deepEqual(compile(mesh('  defaultProviders: { metrics: [] }'))!.client.providers, []);
  // A rule without providers works on the defaults; only providers of the last named set stay.
  const noProm =
    mesh('  defaultProviders: { metrics: [] }') +
    tel(
      'm',
      'istio-system',
      '  metrics:\n  - overrides: [{ match: { metric: REQUEST_COUNT }, disabled: true }]',
    );
  assert.deepEqual(compile(noProm)!.server.providers, []);
});

test('reportingInterval is kept (shown by proxy-config) and changes nothing else', () => {
  const m = compile(tel('m', 'istio-system', '  metrics:\n  - reportingInterval: 30s'))!;
  assert.equal(m.reportingInterval, '30s');
  assert.deepEqual(m.client, { providers: ['prometheus'], metrics: {} });
});
