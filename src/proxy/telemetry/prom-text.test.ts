import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exposition, escapeLabelValue, formatValue, negotiate, renderLabels } from './prom-text.js';
import { Histogram, ISTIO_BYTES_BUCKETS, ISTIO_DURATION_MS_BUCKETS } from './histogram.js';
import { hasPromtool, promtoolCheck, PROMTOOL_MISSING } from './testing.js';

const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

test('negotiation: OpenMetrics only when asked for, text otherwise', () => {
  assert.equal(negotiate(PROMETHEUS_ACCEPT), 'openmetrics');
  assert.equal(negotiate('application/openmetrics-text'), 'openmetrics');
  assert.equal(negotiate(undefined), 'text');
  assert.equal(negotiate('*/*'), 'text');
  assert.equal(negotiate('text/plain;version=0.0.4'), 'text');
  assert.equal(negotiate('text/plain, application/openmetrics-text;q=0.5'), 'text');
  assert.equal(negotiate('application/openmetrics-text;q=0'), 'text');
});

test('label values are escaped; label names are checked', () => {
  assert.equal(escapeLabelValue('plain'), 'plain');
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.equal(
    renderLabels([
      ['a', 'x'],
      ['b', 'say "hi"'],
    ]),
    'a="x",b="say \\"hi\\""',
  );
  assert.throws(() => renderLabels([['bad-name', 'x']]));
  assert.throws(() => renderLabels([['__reserved', 'x']]));
});

test('special values use the exposition spelling', () => {
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(0.25), '0.25');
});

test('text format: counter keeps its name; histogram buckets are cumulative and end with +Inf', () => {
  const e = new Exposition('text');
  const h = new Histogram([1, 10]);
  for (const v of [0.5, 1, 5, 50]) h.observe(v);
  e.counter('x_requests_total', 'Requests.', [['code="200"', 3]]);
  e.histogram('x_size', 'Size.', [['code="200"', h]]);
  assert.equal(
    e.text(),
    [
      '# HELP x_requests_total Requests.',
      '# TYPE x_requests_total counter',
      'x_requests_total{code="200"} 3',
      '# HELP x_size Size.',
      '# TYPE x_size histogram',
      'x_size_bucket{code="200",le="1"} 2',
      'x_size_bucket{code="200",le="10"} 3',
      'x_size_bucket{code="200",le="+Inf"} 4',
      'x_size_count{code="200"} 4',
      'x_size_sum{code="200"} 56.5',
      '',
    ].join('\n'),
  );
});

test('OpenMetrics: counter family without _total, samples with it, canonical le, # EOF', () => {
  const e = new Exposition('openmetrics');
  const h = new Histogram([0.5, 1]);
  h.observe(0.7);
  e.counter('x_requests_total', 'Requests.', [['', 1]]);
  e.counter('pilot_xds_pushes', 'Pushes.', [['', 2]]);
  e.histogram('x_ms', 'Help with "quotes".', [['', h]]);
  const text = e.text();
  assert.match(text, /^# TYPE x_requests counter\nx_requests_total 1$/m);
  assert.match(text, /^# TYPE pilot_xds_pushes counter\npilot_xds_pushes_total 2$/m);
  assert.match(text, /^# HELP x_ms Help with \\"quotes\\"\.$/m);
  assert.match(text, /^x_ms_bucket\{le="0\.5"\} 0$/m);
  assert.match(text, /^x_ms_bucket\{le="1\.0"\} 1$/m);
  assert.ok(text.endsWith('\n# EOF\n'));
});

test(
  'promtool accepts an exposition with Istio-sized histograms',
  { skip: !hasPromtool() && PROMTOOL_MISSING },
  () => {
    const e = new Exposition('text');
    const d = new Histogram(ISTIO_DURATION_MS_BUCKETS);
    const b = new Histogram(ISTIO_BYTES_BUCKETS);
    d.observe(3.2);
    b.observe(1234);
    const labels = renderLabels([
      ['reporter', 'source'],
      ['grpc_response_status', ''],
    ]);
    e.counter('weft_things_total', 'Things.', [[labels, 1]]);
    e.histogram('weft_latency_seconds', 'Latency.', [[labels, d]]);
    e.histogram('weft_size_bytes', 'Size.', [[labels, b]]);
    const r = promtoolCheck(e.text());
    assert.ok(r.ok, r.output);
  },
);
