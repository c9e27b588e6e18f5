import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from './registry.js';

function inst(id: string) {
  return {
    id,
    workload: 'reviews-v1',
    namespace: 'default',
    labels: { app: 'reviews' },
    serviceAccount: 'bookinfo-reviews',
    spiffeId: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
    kind: 'sidecar' as const,
    address: '127.0.0.1',
    inboundPort: 1000,
    ready: false,
  };
}

test('an instance that stops heartbeating leaves after the TTL', () => {
  let now = 0;
  const r = new Registry({ ttlMs: 5000, now: () => now });
  let changes = 0;
  r.on('change', () => changes++);
  r.upsert(inst('a'));
  r.upsert(inst('b'));
  now = 4000;
  r.heartbeat('a');
  now = 6000;
  assert.deepEqual(r.sweep(), ['b']);
  assert.deepEqual(
    r.list().map((i) => i.id),
    ['a'],
  );
  now = 9500;
  assert.deepEqual(r.sweep(), ['a']);
  assert.equal(changes, 4);
});

test('readiness changes are events only when they change', () => {
  const r = new Registry();
  let changes = 0;
  r.upsert(inst('a'));
  r.on('change', () => changes++);
  r.setReady('a', true);
  r.setReady('a', true);
  r.setReady('a', false);
  assert.equal(changes, 2);
  assert.equal(r.get('a')?.ready, false);
});
