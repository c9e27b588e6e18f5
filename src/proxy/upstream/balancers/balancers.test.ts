import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../../model/snapshot.js';
import { RoundRobin } from './round-robin.js';
import { RandomBalancer } from './random.js';

const ep = (instance: string): Endpoint => ({
  address: '127.0.0.1',
  port: 1,
  identity: 'spiffe://cluster.local/ns/default/sa/x',
  instance,
  labels: {},
  healthy: true,
});

test('round robin visits every endpoint in turn', () => {
  const eps = [ep('a'), ep('b'), ep('c')];
  const rr = new RoundRobin();
  const picks = Array.from({ length: 6 }, () => rr.pick(eps)?.instance);
  assert.deepEqual(picks, ['a', 'b', 'c', 'a', 'b', 'c']);
  assert.equal(rr.pick([]), undefined);
});

test('random picks within range', () => {
  const eps = [ep('a'), ep('b')];
  assert.equal(new RandomBalancer(() => 0.99).pick(eps)?.instance, 'b');
  assert.equal(new RandomBalancer(() => 0).pick(eps)?.instance, 'a');
});
