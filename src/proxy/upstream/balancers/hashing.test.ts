import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../../model/snapshot.js';
import { murmur3 } from '../../../lib/hash.js';
import { RingHash } from './ring-hash.js';
import { Maglev } from './maglev.js';

const ep = (instance: string): Endpoint => ({
  address: '127.0.0.1',
  port: 1,
  identity: 'spiffe://cluster.local/ns/default/sa/x',
  instance,
  labels: {},
  healthy: true,
});

const keys = Array.from({ length: 20_000 }, (_, i) => murmur3(`user-${i}`));

for (const [name, make] of [
  ['ring hash', (eps: Endpoint[]) => new RingHash(eps, 4096)],
  ['maglev', (eps: Endpoint[]) => new Maglev(eps, 65537)],
] as const) {
  test(`${name}: the same key always lands on the same endpoint, spread evenly`, () => {
    const eps = ['a', 'b', 'c', 'd'].map(ep);
    const lb = make(eps);
    const counts = new Map<string, number>();
    for (const k of keys) {
      const e = lb.pick(k)!;
      assert.equal(lb.pick(k), e);
      counts.set(e.instance, (counts.get(e.instance) ?? 0) + 1);
    }
    for (const [, c] of counts)
      assert.ok(Math.abs(c / keys.length - 0.25) < 0.06, `share ${c / keys.length}`);
  });

  test(`${name}: removing one of five endpoints moves only its own keys (minimal disruption)`, () => {
    const five = ['a', 'b', 'c', 'd', 'e'].map(ep);
    const before = make(five);
    const after = make(five.filter((e) => e.instance !== 'c'));
    let moved = 0;
    let ownedByC = 0;
    for (const k of keys) {
      const b = before.pick(k)!.instance;
      const a = after.pick(k)!.instance;
      if (b === 'c') ownedByC++;
      else if (a !== b) moved++;
    }
    assert.ok(ownedByC > 0);
    // Keys that did not belong to c stay put (Maglev allows a little churn by design).
    assert.ok(moved / keys.length < 0.03, `moved ${moved} of ${keys.length}`);
  });
}
