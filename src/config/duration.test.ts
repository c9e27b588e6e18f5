import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration, tryParseDuration } from './duration.js';

test('parseDuration reads the forms Istio users write', () => {
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('100ms'), 100);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('7s'), 7000);
  assert.equal(parseDuration('300s'), 300_000);
  assert.equal(parseDuration('0.250s'), 250); // protobuf JSON form
  assert.equal(parseDuration('.5s'), 500);
  assert.equal(parseDuration('1m0.5s'), 60_500);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('-1s'), -1000);
});

test('parseDuration keeps sub-millisecond units exact', () => {
  assert.equal(parseDuration('500us'), 0.5);
  assert.equal(parseDuration('500µs'), 0.5);
  assert.equal(parseDuration('1000000ns'), 1);
  assert.equal(parseDuration('0.1s') + parseDuration('0.2s'), 300);
});

test('parseDuration rejects what Go rejects, saying why', () => {
  for (const bad of ['', '10', '1.5', 's', '1d', '1 s', '1s 2m', 'abc', '1.2.3s', '--1s']) {
    assert.throws(() => parseDuration(bad), /invalid duration/, bad);
    assert.equal(tryParseDuration(bad), undefined);
  }
  assert.throws(() => parseDuration('10'), /missing unit/);
});

test('formatDuration writes the short form back', () => {
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(120_000), '2m');
  assert.equal(formatDuration(3_600_000), '1h');
  for (const ms of [1500, 250, 120_000, 3_600_000, 90_000])
    assert.equal(parseDuration(formatDuration(ms)), ms);
});
