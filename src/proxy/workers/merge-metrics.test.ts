import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeExpositions } from './merge-metrics.js';
import { writeLines } from './worker.js';
import { Exposition } from '../telemetry/prom-text.js';
import { Histogram } from '../telemetry/histogram.js';
import { hasPromtool, ISTIO_UNIT_LINT, PROMTOOL_MISSING, promtoolCheck } from '../telemetry/testing.js';

function worker(requests: number, inflight: number, durations: number[], format: 'text' | 'openmetrics') {
  const e = new Exposition(format);
  e.counter('istio_requests_total', 'Requests.', [['response_code="200"', requests]]);
  const h = new Histogram([1, 10]);
  for (const d of durations) h.observe(d);
  e.histogram('istio_request_duration_milliseconds', 'Duration.', [['response_code="200"', h]]);
  e.gauge('weft_upstream_requests_active', 'In flight.', [['cluster_name="a"', inflight]]);
  e.gauge('weft_proxy_certificate_expiry_timestamp_seconds', 'Expiry.', [['', 1000]]);
  return e.text();
}

test('counters and histograms add up, per-process gauges add up, proxy facts are not multiplied', () => {
  const out = mergeExpositions([worker(3, 1, [0.5, 5], 'text'), worker(4, 2, [50], 'text')], 'text');
  assert.match(out, /^istio_requests_total\{response_code="200"\} 7$/m);
  assert.match(out, /^istio_request_duration_milliseconds_bucket\{response_code="200",le="1"\} 1$/m);
  assert.match(out, /^istio_request_duration_milliseconds_bucket\{response_code="200",le="10"\} 2$/m);
  assert.match(out, /^istio_request_duration_milliseconds_bucket\{response_code="200",le="\+Inf"\} 3$/m);
  assert.match(out, /^istio_request_duration_milliseconds_count\{response_code="200"\} 3$/m);
  assert.match(out, /^istio_request_duration_milliseconds_sum\{response_code="200"\} 55.5$/m);
  assert.match(out, /^weft_upstream_requests_active\{cluster_name="a"\} 3$/m);
  assert.match(out, /^weft_proxy_certificate_expiry_timestamp_seconds 1000$/m);
  assert.equal(out.match(/^# TYPE istio_requests_total counter$/gm)?.length, 1);
  assert.equal(out.match(/^# HELP /gm)?.length, 4);
});

test('a series only one worker has is kept; OpenMetrics ends with one # EOF', () => {
  const a = worker(1, 0, [], 'openmetrics');
  const b = new Exposition('openmetrics');
  b.counter('istio_requests_total', 'Requests.', [['response_code="503"', 2]]);
  const out = mergeExpositions([a, b.text()], 'openmetrics');
  assert.match(out, /^istio_requests_total\{response_code="200"\} 1$/m);
  assert.match(out, /^istio_requests_total\{response_code="503"\} 2$/m);
  assert.match(out, /^# TYPE istio_requests counter$/m);
  assert.equal(out.match(/# EOF/g)?.length, 1);
  assert.ok(out.endsWith('# EOF\n'));
});

test('the merged exposition passes promtool where it is installed', (t) => {
  if (!hasPromtool()) return t.skip(PROMTOOL_MISSING);
  const out = mergeExpositions([worker(3, 1, [0.5], 'text'), worker(4, 2, [50], 'text')], 'text');
  const check = promtoolCheck(out, [ISTIO_UNIT_LINT]);
  assert.ok(check.ok, check.problems.join('\n'));
});

test('access log batches are cut at line ends into writes a pipe keeps whole', () => {
  const writes: string[] = [];
  writeLines('short line', (c) => writes.push(c));
  assert.deepEqual(writes, ['short line\n']);
  writes.length = 0;
  const line = 'x'.repeat(1000);
  writeLines(Array(10).fill(line).join('\n'), (c) => writes.push(c));
  assert.ok(writes.length >= 3);
  for (const w of writes) {
    assert.ok(Buffer.byteLength(w) <= 4096, `write of ${Buffer.byteLength(w)} bytes`);
    assert.ok(w.endsWith('\n'));
  }
  assert.equal(writes.join(''), Array(10).fill(line).join('\n') + '\n');
});
