import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from './token-bucket.js';

test('a bucket allows its burst, refuses, then refills per interval up to the max', () => {
  let now = 0;
  const b = new TokenBucket(3, 2, 1000, () => now);
  assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()], [true, true, true, false]);
  now = 999;
  assert.equal(b.tryTake(), false);
  now = 1000;
  assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake()], [true, true, false]);
  now = 60_000; // a long idle time refills only to maxTokens
  assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()], [true, true, true, false]);
});
