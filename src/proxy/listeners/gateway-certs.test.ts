import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { keyPair, pickPairs, type KeyPair } from './gateway-certs.js';
import { testCa, testLeaf } from './gateway-testing.js';

const p: Record<string, KeyPair> = {};

before(async () => {
  const ca = await testCa();
  const leaf = async (cn: string, dns: string[], rsa = false) => {
    const c = await testLeaf(ca, { cn, dns, ...(rsa ? { rsa } : {}) });
    return keyPair(c.certPem, c.keyPem);
  };
  p.exactEc = await leaf('exact-ec', ['a.example.com']);
  p.exactRsa = await leaf('exact-rsa', ['a.example.com'], true);
  p.wild = await leaf('wild', ['*.example.com']);
  p.other = await leaf('other', ['b.test']);
});

test('keyPair: DNS names and key type', () => {
  assert.deepEqual([p.exactEc!.names, p.exactEc!.keyType], [['a.example.com'], 'ec']);
  assert.deepEqual([p.exactRsa!.keyType, p.wild!.names], ['rsa', ['*.example.com']]);
});

test('pickPairs: exact before wildcard, one per key type, everything when nothing matches', () => {
  const all = [p.other!, p.wild!, p.exactEc!, p.exactRsa!];
  assert.deepEqual(
    pickPairs(all, 'a.example.com').map((x) => x.names[0]),
    ['a.example.com', 'a.example.com'],
  );
  assert.deepEqual(
    pickPairs(all, 'A.EXAMPLE.COM').map((x) => x.keyType),
    ['ec', 'rsa'],
  );
  assert.deepEqual(pickPairs(all, 'c.example.com'), [p.wild!]);
  // *.example.com covers one label only.
  assert.deepEqual(pickPairs(all, 'x.c.example.com'), [p.other!, p.exactRsa!]);
  assert.deepEqual(pickPairs(all, undefined), [p.other!, p.exactRsa!]);
  assert.deepEqual(pickPairs([p.wild!], 'b.test'), [p.wild!]);
});
