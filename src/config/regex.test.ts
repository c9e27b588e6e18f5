import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileIstioRegex } from './regex.js';

test('Istio regexes match the whole string, as Envoy does', () => {
  const re = compileIstioRegex('/api/v[0-9]+');
  assert.ok(re.test('/api/v2'));
  assert.ok(!re.test('/api/v2/users'));
  assert.ok(compileIstioRegex('a|b').test('b'));
  assert.ok(!compileIstioRegex('a|b').test('ab'));
});

test('a leading RE2 flag group becomes a JavaScript flag', () => {
  assert.ok(compileIstioRegex('(?i)jason').test('Jason'));
  assert.ok(!compileIstioRegex('jason').test('Jason'));
  assert.throws(() => compileIstioRegex('(?U)a+'), /ungreedy/);
});

test('invalid regexes are rejected with the reason and the text', () => {
  assert.throws(() => compileIstioRegex('a(b'), /^Error: Unterminated group in "a\(b"$/);
  assert.throws(() => compileIstioRegex('a)|(b'), /Unmatched '\)'/); // valid only once wrapped
  assert.throws(() => compileIstioRegex(''), /must not be empty/);
  assert.throws(() => compileIstioRegex('a'.repeat(1025)), /too long/);
});
