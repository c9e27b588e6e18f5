// Loading core/v1 Secrets: what `kubectl create secret tls|generic … -o yaml` writes loads, stringData
// is merged into data as the API server does, and what the API server would reject is reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Secret } from '../types.js';
import { secretValue } from './secret.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function load(yaml: string) {
  const r = parseDocuments(yaml, 's.yaml');
  return { secrets: r.resources as Secret[], problems: r.problems.map(formatProblem) };
}

test('a kubernetes.io/tls Secret loads with base64 data; stringData is merged in and wins', () => {
  const { secrets, problems } = load(`
apiVersion: v1
kind: Secret
metadata: { name: httpbin-credential, namespace: istio-system }
type: kubernetes.io/tls
data:
  tls.crt: ${b64('CERT')}
  tls.key: ${b64('OLD')}
stringData:
  tls.key: KEY
  ca.crt: CA
`);
  assert.deepEqual(problems, []);
  const s = secrets[0]!;
  assert.equal(s.kind, 'Secret');
  assert.equal(s.metadata.namespace, 'istio-system');
  assert.equal(s.spec.type, 'kubernetes.io/tls');
  assert.equal(secretValue(s.spec, 'tls.crt')?.toString(), 'CERT');
  assert.equal(secretValue(s.spec, 'tls.key')?.toString(), 'KEY');
  assert.equal(secretValue(s.spec, 'ca.crt')?.toString(), 'CA');
  assert.equal(secretValue(s.spec, 'nope'), undefined);
  assert.equal(Object.hasOwn(s.spec, 'stringData'), false);
});

test('a generic Secret defaults to type Opaque; the stored form (spec) loads back unchanged', () => {
  const first = load(`
apiVersion: v1
kind: Secret
metadata: { name: c }
stringData: { key: K, cert: C }
`);
  assert.deepEqual(first.problems, []);
  const s = first.secrets[0]!;
  assert.equal(s.spec.type, 'Opaque');
  const again = load(
    JSON.stringify({ apiVersion: s.apiVersion, kind: s.kind, metadata: s.metadata, spec: s.spec }),
  );
  assert.deepEqual(again.problems, []);
  assert.deepEqual(again.secrets[0]!.spec, s.spec);
});

test('mistakes the API server rejects are reported at their field', () => {
  const { problems } = load(`
apiVersion: v1
kind: Secret
metadata: { name: bad }
type: kubernetes.io/tls
data:
  tls.crt: "not base64!"
  "bad key": ${b64('x')}
strinData: {}
`);
  const text = problems.join('\n');
  assert.match(text, /strinData.*unknown field "strinData" \(did you mean "stringData"\?\)/);
  // An unknown field stops the parse before the data is looked at; fix it and look again.
  const second = load(`
apiVersion: v1
kind: Secret
metadata: { name: bad }
type: kubernetes.io/tls
data:
  tls.crt: "not base64!"
  "bad key": ${b64('x')}
`).problems.join('\n');
  assert.match(second, /s\.yaml:7: .*data\["tls\.crt"\]: illegal base64 data at input byte 3/);
  assert.match(second, /invalid key "bad key"/);
  assert.match(second, /a kubernetes\.io\/tls Secret needs "tls\.key" in data or stringData/);
});
