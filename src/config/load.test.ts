// Loading: where problems point (file, line, field), what they say, and how files and folders are read.
// Real-world YAML from Istio, Kubernetes and the Gateway API is loaded in load-fixtures.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadPaths, parseDocuments, validateObject } from './load.js';
import { formatProblem, type ConfigProblem } from './types.js';

const show = (ps: ConfigProblem[]) => ps.map(formatProblem).join('\n');

const VS = `# routes for reviews
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
  uid: 4c5e0c7e-1111-2222-3333-444455556666
  resourceVersion: "1234"
  creationTimestamp: "2024-01-01T00:00:00Z"
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 90
    - destination:
        host: reviews
        subset: v2
      weight: 150
status:
  observedGeneration: 2
`;

test('a bad weight is reported at its line and field, in plain words', () => {
  const { resources, problems } = parseDocuments(VS, 'reviews.yaml');
  assert.equal(resources.length, 0);
  assert.deepEqual(problems, [
    {
      code: 'WEFT_ERR_CONFIG_INVALID',
      severity: 'error',
      file: 'reviews.yaml',
      line: 21,
      kind: 'VirtualService',
      name: 'shop/reviews',
      field: 'spec.http[0].route[1].weight',
      message: 'must be an integer between 0 and 100 (got 150)',
    },
  ]);
  assert.equal(
    formatProblem(problems[0] as ConfigProblem),
    'reviews.yaml:21: VirtualService shop/reviews: spec.http[0].route[1].weight: must be an integer between 0 and 100 (got 150) [WEFT_ERR_CONFIG_INVALID]',
  );
});

test('a valid document keeps apiVersion and kind, drops server-set metadata and status, records its line', () => {
  const { resources, problems } = parseDocuments(VS.replace('weight: 150', 'weight: 10'), 'reviews.yaml');
  assert.deepEqual(problems, []);
  const [vs] = resources;
  assert.ok(vs?.kind === 'VirtualService');
  assert.equal(vs.apiVersion, 'networking.istio.io/v1');
  assert.deepEqual(vs.metadata, { name: 'reviews', namespace: 'shop' });
  assert.deepEqual(vs.source, { file: 'reviews.yaml', line: 2 });
  assert.equal(vs.spec.http?.[0]?.route?.[1]?.weight, 10);
  assert.ok(!('status' in vs));
});

test('a typo in a field name is an unknown field, reported at the typo with a suggestion', () => {
  const yaml = VS.replace('weight: 150', 'wieght: 10');
  const { problems } = parseDocuments(yaml, 'f.yaml');
  assert.equal(problems.length, 1, show(problems));
  assert.equal(problems[0]?.line, 21);
  assert.equal(problems[0]?.field, 'spec.http[0].route[1].wieght');
  assert.equal(problems[0]?.message, 'unknown field "wieght" (did you mean "weight"?)');
});

test('a YAML syntax error is reported at its line; other documents still load', () => {
  const text = [
    'apiVersion: v1',
    'kind: Service',
    'metadata: {name: ok}',
    'spec: {ports: [{port: 80}]}',
    '---',
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    '  name: broken',
    'spec:',
    '  ports: [ {port: 80}',
    '  selector: {app: x}',
  ].join('\n');
  const { resources, problems } = parseDocuments(text, 'svc.yaml');
  assert.deepEqual(
    resources.map((r) => r.metadata.name),
    ['ok'],
  );
  assert.equal(problems.length >= 1, true);
  const p = problems[0] as ConfigProblem;
  assert.equal(p.code, 'WEFT_ERR_CONFIG_PARSE');
  assert.equal(p.file, 'svc.yaml');
  assert.ok(p.line !== undefined && p.line >= 11 && p.line <= 12, `line ${p.line}`);
  assert.match(p.message, /^YAML syntax error: /);
});

test('tabs and duplicate keys are syntax errors with lines', () => {
  const dup = parseDocuments('kind: Service\nkind: Service\n', 'dup.yaml').problems;
  assert.deepEqual(
    dup.map((p) => [p.code, p.line]),
    [['WEFT_ERR_CONFIG_PARSE', 2]],
  );
  const tabs = parseDocuments('apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n', 'tabs.yaml').problems;
  assert.deepEqual(
    tabs.map((p) => [p.line, p.message]),
    [[4, 'YAML syntax error: Tabs are not allowed as indentation']],
  );
});

test('value checks Istio makes: matches, regexes, routes, durations, gateways', () => {
  const vs = (http: string) =>
    `apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: [a]\n  http:\n${http}`;
  const cases: Array<[string, string, string]> = [
    [
      '  - match: [{uri: {exact: /a, prefix: /b}}]\n    route: [{destination: {host: a}}]',
      'spec.http[0].match[0].uri',
      'set only one of exact, prefix or regex (got exact and prefix)',
    ],
    [
      '  - match: [{uri: {}}]\n    route: [{destination: {host: a}}]',
      'spec.http[0].match[0].uri',
      'set one of exact, prefix or regex',
    ],
    [
      '  - match: [{uri: {regex: "a(b"}}]\n    route: [{destination: {host: a}}]',
      'spec.http[0].match[0].uri.regex',
      'invalid regular expression: Unterminated group in "a(b"',
    ],
    [
      '  - match: [{uri: {prefix: /}}]',
      'spec.http[0]',
      'an http route needs one of route, redirect, directResponse or delegate',
    ],
    [
      '  - route: [{destination: {subset: v1}}]',
      'spec.http[0].route[0].destination.host',
      'missing required field "host"',
    ],
    [
      '  - route: [{destination: {host: a}}]\n    timeout: 5',
      'spec.http[0].timeout',
      'expected a string, got number 5',
    ],
    [
      '  - route: [{destination: {host: a}}]\n    timeout: 5x',
      'spec.http[0].timeout',
      'invalid duration "5x": use a number and a unit, e.g. "1.5s", "100ms", "2m", "1h"',
    ],
    [
      '  - route: [{destination: {host: a, port: {number: 70000}}}]',
      'spec.http[0].route[0].destination.port.number',
      'must be an integer between 1 and 65535 (got 70000)',
    ],
    [
      '  - route: [{destination: {host: a}}]\n    retries: {attempts: 3, retryOn: "5xx,bogus"}',
      'spec.http[0].retries.retryOn',
      '"bogus" is not a valid retryOn policy',
    ],
  ];
  for (const [http, field, message] of cases) {
    const { problems } = parseDocuments(vs(http), 'v.yaml');
    assert.deepEqual(
      problems.map((p) => [p.field, p.message]),
      [[field, message]],
      http,
    );
  }
  // Case-insensitive RE2 regexes are common in Istio YAML and must not be rejected.
  assert.deepEqual(
    parseDocuments(
      vs(
        '  - match: [{headers: {x-user: {regex: "(?i)jason.*"}, x-flag: {}}}]\n    route: [{destination: {host: a}}]',
      ),
      'v.yaml',
    ).problems,
    [],
  );

  const gw = `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: []\n`;
  assert.deepEqual(
    parseDocuments(gw, 'g.yaml').problems.map((p) => [p.line, p.field, p.message]),
    [[8, 'spec.servers[0].hosts', 'a server needs at least one host (use "*" for any)']],
  );
});

test('kind List is expanded; the same resource twice is an error; empty documents are skipped', () => {
  const text = `---
# nothing here
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {ports: [{port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: default}
  spec: {ports: [{port: 81}]}
---
`;
  const { resources, problems } = parseDocuments(text, 'list.yaml');
  assert.equal(resources.length, 1);
  assert.deepEqual(resources[0]?.source, { file: 'list.yaml', line: 7 });
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.line, 11);
  assert.match(
    problems[0]?.message ?? '',
    /Service default\/a is defined twice; the first definition at list\.yaml:7 is used/,
  );
});

test('JSON files load like YAML, with lines', () => {
  const json = JSON.stringify(
    {
      apiVersion: 'weft.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'w', labels: { app: 'w' } },
      spec: { ports: [{ containerPort: 0 }] },
    },
    null,
    2,
  );
  const { problems } = parseDocuments(json, 'w.json');
  assert.deepEqual(
    problems.map((p) => [p.line, p.field, p.message]),
    [[13, 'spec.ports[0].containerPort', 'must be an integer between 1 and 65535 (got 0)']],
  );
});

test('validateObject checks API input the same way, without lines', () => {
  const ok = validateObject({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'x' },
    spec: { ports: [{ port: 80, targetPort: 'http' }] },
  });
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.resource?.metadata.namespace, 'default');
  assert.equal(ok.resource?.source, undefined);
  const bad = validateObject({
    apiVersion: 'networking.istio.io/v2',
    kind: 'Gateway',
    metadata: { name: 'x' },
    spec: {},
  });
  assert.equal(bad.resource, undefined);
  assert.deepEqual(
    bad.problems.map((p) => [p.field, p.message]),
    [
      [
        'apiVersion',
        'apiVersion "networking.istio.io/v2" is not supported for Gateway; use networking.istio.io/v1 or networking.istio.io/v1beta1 or networking.istio.io/v1alpha3',
      ],
    ],
  );
  assert.match(validateObject('nope').problems[0]?.message ?? '', /must be a mapping/);
  assert.equal(
    validateObject({ kind: 'Service' }).problems[0]?.message,
    'missing required field "apiVersion"',
  );
  const badName = validateObject({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'Bad_Name' },
    spec: { ports: [] },
  });
  assert.equal(badName.problems[0]?.field, 'metadata.name');
});

test('loadPaths walks folders recursively in sorted order and reports missing paths', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-load-'));
  try {
    const svc = (name: string) =>
      `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: 80}]}\n`;
    await mkdir(path.join(dir, 'b', 'deep'), { recursive: true });
    await mkdir(path.join(dir, '.hidden'));
    await writeFile(path.join(dir, 'z.yml'), svc('z'));
    await writeFile(path.join(dir, 'a.yaml'), svc('a'));
    await writeFile(
      path.join(dir, 'b', 'deep', 'c.json'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'c' },
        spec: { ports: [{ port: 80 }] },
      }),
    );
    await writeFile(path.join(dir, 'notes.txt'), 'not config');
    await writeFile(path.join(dir, '.hidden', 'h.yaml'), svc('h'));
    const missing = path.join(dir, 'missing.yaml');
    const { resources, problems } = await loadPaths([dir, missing]);
    assert.deepEqual(
      resources.map((r) => r.metadata.name),
      ['a', 'c', 'z'],
    );
    assert.equal(resources[1]?.source?.file, path.join(dir, 'b', 'deep', 'c.json'));
    assert.deepEqual(problems, [
      {
        code: 'WEFT_ERR_FILE_NOT_FOUND',
        severity: 'error',
        file: missing,
        message: 'no such file or directory',
      },
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
