import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootstrapTokens, type TokenBinding } from './tokens.js';

const binding: TokenBinding = {
  namespace: 'default',
  serviceAccount: 'reviews',
  workload: 'reviews-v1',
  instance: '0',
};

test('a token redeems once for its binding', () => {
  const tokens = new BootstrapTokens();
  const token = tokens.issue(binding);
  assert.match(token, /^[A-Za-z0-9_-]{43}$/, '32 bytes base64url');
  assert.deepEqual(tokens.redeem(token), binding);
  assert.equal(tokens.redeem(token), undefined, 'second use');
});

test('wrong and empty tokens fail', () => {
  const tokens = new BootstrapTokens();
  const token = tokens.issue(binding);
  assert.equal(tokens.redeem(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')), undefined);
  assert.equal(tokens.redeem(''), undefined);
  assert.deepEqual(tokens.redeem(token), binding, 'failed guesses do not burn the real token');
});

test('tokens expire after the TTL', () => {
  let now = 1_000_000;
  const tokens = new BootstrapTokens({ ttlMs: 60_000, now: () => now });
  const early = tokens.issue(binding);
  const late = tokens.issue(binding);
  now += 59_999;
  assert.deepEqual(tokens.redeem(early), binding);
  now += 1;
  assert.equal(tokens.redeem(late), undefined);
});

test('each issue is a distinct token and later edits to the binding do not leak in', () => {
  const tokens = new BootstrapTokens();
  const mutable = { ...binding };
  const a = tokens.issue(mutable);
  const b = tokens.issue(mutable);
  assert.notEqual(a, b);
  mutable.namespace = 'kube-system';
  assert.equal(tokens.redeem(a)?.namespace, 'default');
});
