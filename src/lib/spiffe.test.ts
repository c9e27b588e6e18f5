import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PeerCertificate } from 'node:tls';
import { certSpiffeId, parseSpiffeId, spiffeId, verifyChain } from './spiffe.js';

test('spiffeId and parseSpiffeId round-trip', () => {
  const id = spiffeId('cluster.local', 'default', 'reviews');
  assert.equal(id, 'spiffe://cluster.local/ns/default/sa/reviews');
  assert.deepEqual(parseSpiffeId(id), {
    trustDomain: 'cluster.local',
    namespace: 'default',
    serviceAccount: 'reviews',
  });
});

test('spiffeId refuses names that would not parse back', () => {
  assert.throws(() => spiffeId('cluster.local', 'a/sa/b', 'c'), { code: 'WEFT_ERR_CONFIG_INVALID' });
  assert.throws(() => spiffeId('Cluster.Local', 'a', 'b'), { code: 'WEFT_ERR_CONFIG_INVALID' });
  assert.throws(() => spiffeId('td', '..', 'b'), { code: 'WEFT_ERR_CONFIG_INVALID' });
});

test('parseSpiffeId rejects malformed IDs', () => {
  for (const bad of [
    'https://td/ns/a/sa/b',
    'spiffe://td/ns/a/sa/b/extra',
    'spiffe://td/ns/a/sa/',
    'spiffe://td/sa/b/ns/a',
    'spiffe://TD/ns/a/sa/b',
    'spiffe://td/ns/../sa/b',
    'spiffe://td/ns/a b/sa/c',
  ]) {
    assert.equal(parseSpiffeId(bad), undefined, bad);
  }
});

test('certSpiffeId reads a PeerCertificate subjectaltname', () => {
  const peer = (san: string) => ({ subjectaltname: san }) as PeerCertificate;
  assert.equal(
    certSpiffeId(peer('DNS:x, URI:spiffe://td/ns/a/sa/b, IP Address:127.0.0.1')),
    'spiffe://td/ns/a/sa/b',
  );
  // Node JSON-quotes values containing delimiters; a crafted value must stay a single entry.
  assert.equal(
    certSpiffeId(peer('URI:"spiffe://td/ns/a/sa/b\\u002c URI:spiffe://evil"')),
    'spiffe://td/ns/a/sa/b, URI:spiffe://evil',
  );
  assert.equal(
    certSpiffeId(peer('URI:spiffe://td/ns/a/sa/b, URI:spiffe://td/ns/c/sa/d')),
    undefined,
    'two URI SANs',
  );
  assert.equal(certSpiffeId(peer('URI:https://example.com')), undefined);
  assert.equal(certSpiffeId({} as PeerCertificate), undefined, 'peer sent no certificate');
  assert.equal(certSpiffeId('not a pem'), undefined);
});

test('verifyChain is false for garbage input', () => {
  assert.equal(verifyChain('garbage', 'garbage'), false);
});
