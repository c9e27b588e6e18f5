import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BUSY_PROMOTED_BYTES_PER_S,
  BUSY_SCAVENGE_SHARE,
  BUSY_WINDOWS,
  IDLE_BYTES_PER_S,
  IDLE_MS,
  QUIET_MS,
  busyStreak,
  idleStep,
  mayGrow,
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

test('the young generation grows past the hold only after BUSY_WINDOWS windows in a row promote much', () => {
  let streak = 0;
  // A start: 2–3 s of compiling into the old space, then a sidecar's 20–40 KB/s at 1,000 req/s.
  for (const kbPerS of [3722, 845, 349, 28, 24, 96, 21]) streak = busyStreak(streak, kbPerS * 1024);
  assert.equal(streak, 0);
  assert.equal(mayGrow(2 * MB, 4 * MB, streak), true);
  assert.equal(mayGrow(4 * MB, 4 * MB, streak), false);
  // Sustained promotion (3,000 req/s, or gRPC): growth as V8 sees fit, while it lasts.
  for (let i = 0; i < BUSY_WINDOWS; i++) {
    assert.equal(mayGrow(4 * MB, 4 * MB, streak), false);
    streak = busyStreak(streak, BUSY_PROMOTED_BYTES_PER_S + 1);
  }
  assert.equal(mayGrow(8 * MB, 4 * MB, streak), true);
  streak = busyStreak(streak, BUSY_PROMOTED_BYTES_PER_S - 1);
  assert.equal(mayGrow(8 * MB, 4 * MB, streak), false);
  // Scavenges taking more than BUSY_SCAVENGE_SHARE of the time count as busy too (gRPC: every call in
  // flight is copied at each scavenge), 0.3 % (HTTP/1.1 at 1,000 req/s) does not.
  for (let i = 0; i < BUSY_WINDOWS; i++) streak = busyStreak(streak, 0, BUSY_SCAVENGE_SHARE * 2);
  assert.equal(mayGrow(8 * MB, 4 * MB, streak), true);
  assert.equal(busyStreak(streak, 30 * 1024, 0.003), 0);
});
