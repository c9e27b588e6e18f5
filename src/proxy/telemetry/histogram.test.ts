import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, ISTIO_BYTES_BUCKETS, ISTIO_DURATION_MS_BUCKETS } from './histogram.js';

test("Istio's buckets, exactly", () => {
  assert.deepEqual(
    [...ISTIO_DURATION_MS_BUCKETS],
    [
      0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
      3600000,
    ],
  );
  assert.deepEqual(
    [...ISTIO_BYTES_BUCKETS],
    [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000],
  );
});

test('a value equal to a bound counts in that bucket (le means less or equal)', () => {
  const h = new Histogram([1, 5, 10]);
  h.observe(1);
  h.observe(5);
  h.observe(5.0001);
  h.observe(0);
  assert.deepEqual(h.cumulative(), [2, 3, 4, 4]);
  assert.equal(h.count, 4);
  assert.equal(h.sum, 11.0001);
});

test('values above the last bound land in +Inf only', () => {
  const h = new Histogram(ISTIO_DURATION_MS_BUCKETS);
  h.observe(4_000_000);
  const cum = h.cumulative();
  assert.equal(cum.length, ISTIO_DURATION_MS_BUCKETS.length + 1);
  assert.equal(cum[ISTIO_DURATION_MS_BUCKETS.length - 1], 0);
  assert.equal(cum.at(-1), 1);
});

test('bounds must increase', () => {
  assert.throws(() => new Histogram([1, 1]));
  assert.throws(() => new Histogram([5, 1]));
});
