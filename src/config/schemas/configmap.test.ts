import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { configMapValue, type ConfigMap } from './configmap.js';

const one = (yaml: string) => parseDocuments(yaml, 'cm.yaml');

test('ConfigMap: Kubernetes form and the stored form, data and binaryData', () => {
  const k = one(`apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: certs}
data: {ca.crt: "PEM"}
binaryData: {raw.bin: ${Buffer.from('bytes').toString('base64')}}
`);
  assert.deepEqual(k.problems, []);
  const cm = k.resources[0] as ConfigMap;
  assert.deepEqual([cm.metadata.namespace, configMapValue(cm.spec, 'ca.crt')], ['certs', 'PEM']);
  assert.equal(configMapValue(cm.spec, 'raw.bin'), 'bytes');
  assert.equal(configMapValue(cm.spec, 'nope'), undefined);
  const stored = one(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ca}\nspec: {data: {ca.crt: PEM}}\n`);
  assert.deepEqual(stored.problems, []);
  assert.equal(configMapValue((stored.resources[0] as ConfigMap).spec, 'ca.crt'), 'PEM');
});

test('ConfigMap: the API server checks, with the field and line', () => {
  const bad = one(`apiVersion: v1
kind: ConfigMap
metadata: {name: ca}
data:
  "bad key": x
  dup: y
binaryData: {dup: eA==, other: "not base64!"}
extra: 1
`);
  const got = bad.problems.map((p) => `${p.line} ${p.field}: ${p.message}`).join('\n');
  assert.match(got, /unknown field "extra"/);
  const again = one(`apiVersion: v1
kind: ConfigMap
metadata: {name: ca}
data:
  "bad key": x
  dup: y
binaryData: {dup: eA==, other: "not base64!"}
`);
  const msgs = again.problems.map((p) => `${p.line} ${p.field}: ${p.message}`).join('\n');
  assert.match(msgs, /5 data\["bad key"\]: invalid key "bad key"/);
  assert.match(msgs, /binaryData\.dup: duplicate of key "dup" present in data/);
  assert.match(msgs, /binaryData\.other: illegal base64 data/);
});
