import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadPaths, parseDocuments, validateObject } from './load.js';
import { fixture } from './testing.js';
import { formatProblem, type ConfigProblem } from './types.js';

const errors = (ps: ConfigProblem[]) => ps.filter((p) => p.severity === 'error');
const show = (ps: ConfigProblem[]) => ps.map(formatProblem).join('\n');

// ---- real Istio and Kubernetes YAML ------------------------------------------------------------------

test('every Istio bookinfo networking sample loads without errors', async () => {
  const dir = fixture('istio-bookinfo');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.length >= 20, `found ${files.length} files`);
  for (const f of files) {
    const { resources, problems } = parseDocuments(await readFile(path.join(dir, f), 'utf8'), f);
    assert.deepEqual(errors(problems), [], `${f}:\n${show(problems)}`);
    for (const w of problems) assert.equal(w.code, 'WEFT_ERR_CONFIG_UNKNOWN_KIND', formatProblem(w));
    assert.ok(resources.length > 0, f);
  }
});

test('bookinfo.yaml: Services load, Deployments and ServiceAccounts are skipped with a warning', async () => {
  const { resources, problems } = await loadPaths([fixture('istio-bookinfo/platform-kube/bookinfo.yaml')]);
  assert.deepEqual(errors(problems), [], show(problems));
  assert.deepEqual(
    resources.map((r) => `${r.kind}/${r.metadata.name}`),
    ['Service/details', 'Service/ratings', 'Service/reviews', 'Service/productpage'],
  );
  const details = resources[0];
  assert.ok(details?.kind === 'Service');
  assert.deepEqual(details.spec, { ports: [{ port: 9080, name: 'http' }], selector: { app: 'details' } });
  assert.deepEqual(details.metadata, {
    name: 'details',
    namespace: 'default',
    labels: { app: 'details', service: 'details' },
  });
  // The first document comes after a long comment header: source points at its first key.
  assert.equal(details.source?.line, 32);
  const skipped = problems.map((p) => p.message);
  assert.ok(skipped.some((m) => m === 'Deployment (apps/v1) is not supported yet and was skipped'));
  assert.ok(skipped.some((m) => m === 'ServiceAccount (v1) is not supported yet and was skipped'));
  assert.ok(problems.every((p) => p.severity === 'warning' && p.code === 'WEFT_ERR_CONFIG_UNKNOWN_KIND'));
});

test('Gateway API conformance manifests: Services load, Gateway API kinds are not mistaken for Istio ones', async () => {
  const { resources, problems } = await loadPaths([fixture('gateway-api/base-manifests.yaml')]);
  assert.deepEqual(errors(problems), [], show(problems));
  assert.ok(resources.length > 5 && resources.every((r) => r.kind === 'Service'));
  assert.ok(
    problems.some(
      (p) => p.message === 'Gateway (gateway.networking.k8s.io/v1) is not supported yet and was skipped',
    ),
  );
});

test('schema-valid analyzer inputs from Istio load cleanly (tcp and tls routes, named matches)', async () => {
  const files = [
    'virtualservice_dupmatches.yaml',
    'virtualservice_overlappingmatches.yaml',
    'conflicting-gateways.yaml',
  ];
  for (const f of files) {
    const { resources, problems } = await loadPaths([fixture('istio-validation/analyzers', f)]);
    assert.deepEqual(problems, [], `${f}:\n${show(problems)}`);
    assert.ok(resources.length > 0);
  }
});

test('what Istio would reject in the analyzer inputs is rejected here too', async () => {
  const { problems } = await loadPaths([fixture('istio-validation/analyzers/virtualservice_gateways.yaml')]);
  const got = problems.map((p) => `${p.name} ${p.field}: ${p.message}`);
  assert.ok(
    got.includes('default/httpbin-gateway spec.servers: missing required field "servers"'),
    got.join('\n'),
  );
  assert.ok(got.includes('default/httpbin spec: a VirtualService needs at least one http, tcp or tls route'));
  assert.ok(got.some((m) => m.startsWith('default/httpbin-mesh spec.hosts[0]: the wildcard host "*"')));
});

// Istio's own validation cases (pkg/config/validation/testdata/crds). Each `*-invalid.yaml` document
// carries `_err`, a piece of Istio's message, which starts with the field path when there is one.
const OUR_KINDS = new Set(['VirtualService', 'DestinationRule', 'Gateway']);
// Invalid cases we cannot detect yet, by "<file>#<index>". None today; add with a reason when needed.
const knownGaps = new Set<string>([]);

test("Istio's CRD validation cases: valid ones are accepted, invalid ones rejected at the same field", async () => {
  const dir = fixture('istio-validation/crds');
  let checked = 0;
  for (const f of (await readdir(dir)).sort()) {
    const invalid = f.endsWith('-invalid.yaml');
    const docs = parseAllDocuments(await readFile(path.join(dir, f), 'utf8'));
    assert.ok(Array.isArray(docs));
    docs.forEach((doc, i) => {
      const obj = doc.toJS() as Record<string, unknown> | null;
      if (!obj) return;
      const expected = typeof obj._err === 'string' ? obj._err : undefined;
      delete obj._err;
      const { resource, problems } = validateObject(obj, { file: f, line: 1 });
      const id = `${f}#${i}`;
      if (!OUR_KINDS.has(String(obj.kind))) {
        // Kinds Weft does not model yet are skipped with a warning, never an error.
        assert.deepEqual(errors(problems), [], `${id}:\n${show(problems)}`);
        return;
      }
      checked++;
      if (!invalid) {
        assert.deepEqual(problems, [], `${id} should be valid:\n${show(problems)}`);
        assert.ok(resource);
      } else if (knownGaps.has(id)) {
        assert.equal(
          errors(problems).length,
          0,
          `${id} is listed as a known gap but is now rejected; remove it`,
        );
      } else {
        assert.ok(errors(problems).length > 0, `${id} should be rejected (Istio: ${expected})`);
        const field = expected?.match(/^(spec\.[\w.[\]]+):/)?.[1];
        if (field)
          assert.ok(
            problems.some((p) => p.field === field),
            `${id}: want ${field}, got:\n${show(problems)}`,
          );
      }
    });
  }
  assert.ok(checked >= 7, `checked ${checked} documents of our kinds`);
});

// ---- positions and messages -------------------------------------------------------------------------

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
