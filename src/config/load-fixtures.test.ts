// Loading real configuration written by others: Istio's samples and validation cases, Kubernetes and
// Gateway API manifests. Position and message details are tested in load.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadPaths, parseDocuments, validateObject } from './load.js';
import { fixture } from './testing.js';
import { formatProblem, type ConfigProblem } from './types.js';

const errors = (ps: ConfigProblem[]) => ps.filter((p) => p.severity === 'error');
const show = (ps: ConfigProblem[]) => ps.map(formatProblem).join('\n');

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

test('Gateway API conformance manifests: Services load, Gateway API Gateways are not mistaken for Istio ones', async () => {
  const { resources, problems } = await loadPaths([fixture('gateway-api/base-manifests.yaml')]);
  assert.deepEqual(errors(problems), [], show(problems));
  assert.ok(resources.filter((r) => r.kind === 'Service').length > 5);
  const gateways = resources.filter((r) => r.kind === 'KubernetesGateway');
  assert.ok(gateways.length > 0, 'gateway.networking.k8s.io Gateways load as KubernetesGateway');
  assert.ok(!resources.some((r) => r.kind === 'Gateway'), 'none is read as an Istio Gateway');
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
const OUR_KINDS = new Set([
  'VirtualService',
  'DestinationRule',
  'Gateway',
  'ServiceEntry',
  'WorkloadEntry',
  'PeerAuthentication',
  'AuthorizationPolicy',
  'RequestAuthentication',
  'Telemetry',
]);
// Invalid cases we cannot detect yet, by "<file>#<index>". None today; add with a reason when needed.
const knownGaps = new Set<string>([]);
// Valid for Istio's CRD but refused by Weft on purpose, by "<file>#<index>" -> the field Weft names.
const refusedByWeft = new Map<string, string>([]);

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
      if (refusedByWeft.has(id)) {
        assert.deepEqual(
          errors(problems).map((p) => p.field),
          [refusedByWeft.get(id)],
          `${id}:\n${show(problems)}`,
        );
      } else if (!invalid) {
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

test("Istio's AuthorizationPolicy builder inputs load cleanly (ALLOW, DENY, CUSTOM, templates, every condition key)", async () => {
  const dir = fixture('istio-samples/authz-policies');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.length >= 6, `found ${files.length} files`);
  let policies = 0;
  for (const f of files) {
    const { resources, problems } = parseDocuments(await readFile(path.join(dir, f), 'utf8'), f);
    assert.deepEqual(problems, [], `${f}:\n${show(problems)}`);
    assert.ok(resources.length > 0 && resources.every((r) => r.kind === 'AuthorizationPolicy'), f);
    policies += resources.length;
  }
  assert.ok(policies >= 15, `${policies} policies`);
});

test("Istio's JWT samples: the README's RequestAuthentication and the sample JWKS inline load cleanly", async () => {
  const dir = fixture('istio-samples/jwt');
  const readme = await readFile(path.join(dir, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const fromReadme = blocks.filter((b) => /kind:\s*RequestAuthentication/.test(b));
  assert.ok(fromReadme.length > 0, 'the README shows a RequestAuthentication');
  const jwks = (await readFile(path.join(dir, 'jwks.json'), 'utf8')).trim();
  const inline = `apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: { name: jwt-inline, namespace: foo }
spec:
  selector: { matchLabels: { app: httpbin } }
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: ${JSON.stringify(jwks)}
    fromHeaders: [{ name: authorization, prefix: "Bearer " }]
    outputClaimToHeaders: [{ header: x-jwt-sub, claim: sub }]
    forwardOriginalToken: true
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: require-jwt, namespace: foo }
spec:
  selector: { matchLabels: { app: httpbin } }
  rules:
  - from: [{ source: { requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"] } }]
    when: [{ key: "request.auth.claims[foo]", values: ["bar"] }]
`;
  for (const [i, text] of [...fromReadme, inline].entries()) {
    const { resources, problems } = parseDocuments(text, `jwt-${i}.yaml`);
    assert.deepEqual(problems, [], show(problems));
    const ra = resources.find((r) => r.kind === 'RequestAuthentication');
    assert.ok(
      ra?.kind === 'RequestAuthentication' && ra.spec.jwtRules?.[0]?.issuer === 'testing@secure.istio.io',
    );
  }
});
