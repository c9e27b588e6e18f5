import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BUSY_PROMOTED_BYTES_PER_S,
  BUSY_PROMOTION_WINDOWS,
  BUSY_SCAVENGE_SHARE,
  BUSY_SCAVENGE_WINDOWS,
  IDLE_BYTES_PER_S,
  IDLE_MS,
  QUIET_MS,
  nextStreaks,
  idleStep,
  mayGrow,
  type BusyStreaks,
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

test('the young generation grows past half the cap only while a small one costs, for a few seconds', () => {
  let s: BusyStreaks = { promoted: 0, scavenging: 0 };
  // A start as traced (KB/s promoted, % of the time scavenging), then a sidecar at 1,000 req/s.
  const start: Array<[number, number]> = [
    [892, 2.33],
    [1215, 2.79],
    [361, 0.17],
    [31, 0.14],
    [4073, 5.28],
    [6, 0.01],
    [908, 3.58],
    [55, 0.33],
    [121, 1.06],
    [21, 0.45],
  ];
  for (const [kb, pct] of start) {
    s = nextStreaks(s, kb * 1024, pct / 100);
    assert.equal(mayGrow(4 * MB, 8 * MB, s), false, `${kb} KB/s, ${pct} %`);
  }
  assert.equal(mayGrow(2 * MB, 8 * MB, s), true, 'below half the cap V8 grows as it likes');
  // Sustained promotion (3,000 req/s with 4 MB): growth, as V8 sees fit, while it lasts.
  for (let i = 0; i < BUSY_PROMOTION_WINDOWS; i++) s = nextStreaks(s, BUSY_PROMOTED_BYTES_PER_S + 1, 0);
  assert.equal(mayGrow(6 * MB, 8 * MB, s), true);
  s = nextStreaks(s, BUSY_PROMOTED_BYTES_PER_S - 1, 0);
  assert.equal(mayGrow(6 * MB, 8 * MB, s), false);
  // Scavenging (gRPC: every call in flight is copied at each scavenge; wrk at full speed): sooner.
  for (let i = 0; i < BUSY_SCAVENGE_WINDOWS; i++) s = nextStreaks(s, 0, BUSY_SCAVENGE_SHARE * 3);
  assert.equal(mayGrow(6 * MB, 8 * MB, s), true);
  assert.equal(mayGrow(8 * MB, 8 * MB, s), false, 'never past the cap');
});
