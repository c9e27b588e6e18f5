import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDLE_BYTES_PER_S, IDLE_MS, QUIET_MS, idleStep, type IdleState } from './young-gen.js';

const MB = 1024 * 1024;
const grown: IdleState = {
  size: 8 * MB,
  initialSize: MB,
  sinceGcMs: QUIET_MS,
  allocated: 0,
  windowMs: QUIET_MS,
  primed: false,
  collected: false,
};

test('a quiet second after traffic asks for the first GC, 5.5 s of quiet after it for the second', () => {
  assert.equal(idleStep(grown), 'prime');
  assert.equal(idleStep({ ...grown, primed: true }), 'wait');
  assert.equal(idleStep({ ...grown, primed: true, sinceGcMs: IDLE_MS, windowMs: IDLE_MS }), 'collect');
});

test('still allocating: look again; after the first GC, wait for the next scavenge instead', () => {
  const busy = { ...grown, allocated: IDLE_BYTES_PER_S };
  assert.equal(idleStep(busy), 'wait');
  assert.equal(idleStep({ ...busy, primed: true, sinceGcMs: IDLE_MS, windowMs: QUIET_MS }), 'none');
});

test('nothing to give back: young generation at its initial size, or already collected', () => {
  assert.equal(idleStep({ ...grown, size: MB }), 'none');
  assert.equal(idleStep({ ...grown, primed: true, collected: true, sinceGcMs: IDLE_MS }), 'none');
});
