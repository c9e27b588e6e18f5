import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BUSY_PROMOTED_BYTES_PER_S,
  BUSY_WINDOWS,
  IDLE_BYTES_PER_S,
  IDLE_MS,
  QUIET_MS,
  busyStreak,
  idleStep,
  youngCap,
  type IdleState,
} from './young-gen.js';

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

test('the young generation stays at half the cap until BUSY_WINDOWS windows in a row promote much', () => {
  let streak = 0;
  // A start: 2–3 s of compiling into the old space, then a sidecar's 20–40 KB/s at 1,000 req/s.
  for (const kbPerS of [3722, 845, 349, 28, 24, 96, 21]) streak = busyStreak(streak, kbPerS * 1024);
  assert.equal(streak, 0);
  assert.equal(youngCap(8 * MB, streak), 4 * MB);
  // Sustained promotion (3,000 req/s with 4 MB): the full cap.
  for (let i = 0; i < BUSY_WINDOWS; i++) {
    assert.equal(youngCap(8 * MB, streak), 4 * MB);
    streak = busyStreak(streak, BUSY_PROMOTED_BYTES_PER_S + 1);
  }
  assert.equal(youngCap(8 * MB, streak), 8 * MB);
});
