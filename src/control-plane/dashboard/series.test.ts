import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantile, Ring, toPoint, emptyWindow, addInto } from './series.js';
import { parseSamples } from './prom-parse.js';

test('quantile interpolates within the bucket, as histogram_quantile does', () => {
  const bounds = [10, 100, Infinity];
  assert.equal(quantile(0.5, bounds, [50, 100, 100]), 10); // rank 50 reaches bucket 1 exactly
  assert.equal(quantile(0.75, bounds, [50, 100, 100]), 55); // half way through 10..100
  assert.equal(quantile(0.99, bounds, [0, 0, 10]), 100); // +Inf: the last finite bound
  assert.equal(quantile(0.5, bounds, [0, 0, 0]), null);
});

test('a point: rate per second, success rate, percentiles; a ring keeps the newest', () => {
  const w = emptyWindow(3);
  addInto(w, { requests: 20, errors: 5, buckets: [10, 20, 20] });
  const p = toPoint(1000, 2, w, [10, 100, Infinity]);
  assert.equal(p.rps, 10);
  assert.equal(p.successRate, 0.75);
  assert.equal(p.p50, 10);
  const r = new Ring<number>(3);
  for (const v of [1, 2, 3, 4]) r.push(v);
  assert.deepEqual(r.all(), [2, 3, 4]);
  assert.deepEqual(r.last(2), [3, 4]);
});

test('parseSamples reads only the wanted metrics, with escaped label values', () => {
  const text = [
    '# HELP istio_requests_total Total requests.',
    '# TYPE istio_requests_total counter',
    'istio_requests_total{reporter="source",response_code="200",path="a\\"b"} 7',
    'istio_request_duration_milliseconds_bucket{reporter="source",le="+Inf"} 7',
    'process_cpu_seconds_total 3',
  ].join('\n');
  const s = parseSamples(
    text,
    new Set(['istio_requests_total', 'istio_request_duration_milliseconds_bucket']),
  );
  assert.equal(s.length, 2);
  assert.equal(s[0]!.value, 7);
  assert.equal(s[0]!.labels.path, 'a"b');
  assert.equal(s[1]!.labels.le, '+Inf');
});
