// Telemetry metrics overrides as a proxy applies them: REMOVE and UPSERT (constant and per request, with
// "unknown" for an error value), disabled metrics per side, a side turned off, TCP metrics, a config
// change starting the series afresh, promtool-clean output and the cost of the override path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { ProxySnapshot } from '../../model/snapshot.js';
import type { MetricsSettings } from '../../model/metrics-config.js';
import { openSecurity } from '../../model/security.js';
import { ProxyState } from '../state.js';
import { ProxyMetrics } from './metrics.js';
import { applyTags } from './metric-overrides.js';
import {
  hasPromtool,
  ISTIO_UNIT_LINT,
  parseLabels,
  PRODUCTPAGE,
  promtoolCheck,
  PROMTOOL_MISSING,
  record,
} from './testing.js';

const snapshot = (version: string, metrics?: MetricsSettings): ProxySnapshot => ({
  version,
  proxy: PRODUCTPAGE,
  trustDomain: 'cluster.local',
  outbound: { virtualHosts: [] },
  inbound: { routes: [], containerPorts: [9080] },
  security: openSecurity(),
  gateways: [],
  clusters: [],
  ...(metrics ? { metrics } : {}),
});

function setup(metrics?: MetricsSettings) {
  const holder = { state: new ProxyState(snapshot('v1', metrics)) };
  return { m: new ProxyMetrics({ state: () => holder.state }), holder };
}

function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.push({ labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return out;
}

const side = (metrics: MetricsSettings['client']['metrics'] = {}) => ({ providers: ['prometheus'], metrics });
const inbound = (over = {}) =>
  record({ reporter: 'destination', listener: 'inbound', peerIdentity: PRODUCTPAGE.spiffeId, ...over });

test('REMOVE drops a label, UPSERT replaces one in place or appends one, per metric', () => {
  const { m } = setup({
    client: side({
      REQUEST_COUNT: {
        tags: { grpc_response_status: null, request_protocol: '"h"', ua: "request.headers['user-agent']" },
      },
    }),
    server: side(),
  });
  m.record(record({ requestHeaders: { 'user-agent': 'curl/8' } }));
  m.record(record({ requestHeaders: { 'user-agent': 'curl/8' }, path: '/other' }));
  m.record(record({ requestHeaders: { 'user-agent': 'wget' } }));
  m.record(record({ requestHeaders: {} })); // no header: Istio's "unknown"
  const text = m.render('text');
  const reqs = samples(text, 'istio_requests_total');
  assert.deepEqual(
    reqs.map((r) => [r.labels.ua, r.value]),
    [
      ['curl/8', 2],
      ['wget', 1],
      ['unknown', 1],
    ],
  );
  for (const r of reqs) {
    assert.equal(r.labels.grpc_response_status, undefined);
    assert.equal(r.labels.request_protocol, 'h');
  }
  assert.match(
    text,
    /^istio_requests_total\{reporter="source",.*,request_protocol="h",.*,ua="curl\/8"\} 2$/m,
  );
  // The other metrics keep Istio's labels: one series for all four requests.
  const d = samples(text, 'istio_request_duration_milliseconds_count');
  assert.deepEqual(
    d.map((x) => [x.labels.ua, x.labels.grpc_response_status, x.value]),
    [[undefined, '', 4]],
  );
});

test('a disabled metric vanishes for its side only; a side without provider exports nothing', () => {
  const { m } = setup({ client: side(), server: side({ REQUEST_DURATION: { disabled: true } }) });
  m.record(record());
  m.record(inbound());
  const text = m.render('text');
  const reporters = (name: string) => samples(text, name).map((s) => s.labels.reporter);
  assert.deepEqual(reporters('istio_request_duration_milliseconds_count'), ['source']);
  assert.deepEqual(reporters('istio_requests_total'), ['source', 'destination']);
  const off = setup({ client: { providers: [], metrics: {} }, server: side() }).m;
  off.record(record({ attempts: 3 }));
  off.record(inbound());
  const t2 = off.render('text');
  assert.deepEqual(
    samples(t2, 'istio_requests_total').map((s) => s.labels.reporter),
    ['destination'],
  );
  // Proxy internals are not Istio metrics: retries still count.
  assert.equal(samples(t2, 'weft_upstream_retries_total')[0]?.value, 2);
});

test('TCP metrics: overrides apply, request attributes are unknown on a stream', () => {
  const { m } = setup({
    client: side({ TCP_SENT_BYTES: { tags: { host: 'request.host', security: null } } }),
    server: side({ TCP_OPENED_CONNECTIONS: { disabled: true } }),
  });
  const dest = record().destination;
  m.recordTcp({
    reporter: 'source',
    event: 'open',
    sentBytes: 0,
    receivedBytes: 0,
    flags: '',
    destination: dest,
  });
  m.recordTcp({
    reporter: 'source',
    event: 'close',
    sentBytes: 10,
    receivedBytes: 4,
    flags: '',
    destination: dest,
  });
  m.recordTcp({ reporter: 'destination', event: 'open', sentBytes: 0, receivedBytes: 0, flags: '' });
  const text = m.render('text');
  const sent = samples(text, 'istio_tcp_sent_bytes_total').filter((s) => s.labels.reporter === 'source');
  assert.deepEqual(
    sent.map((s) => [s.labels.host, s.value]),
    [['unknown', 10]],
  );
  assert.deepEqual(
    samples(text, 'istio_tcp_connections_opened_total').map((s) => s.labels.reporter),
    ['source'],
  );
  assert.equal(samples(text, 'istio_tcp_received_bytes_total')[0]!.labels.host, undefined);
});

test('a change of the metrics config starts the istio series afresh; other snapshots keep them', () => {
  const { m, holder } = setup();
  m.record(record());
  holder.state = new ProxyState(snapshot('v2'));
  m.record(record());
  assert.equal(samples(m.render('text'), 'istio_requests_total')[0]!.value, 2);
  holder.state = new ProxyState(
    snapshot('v3', { client: side({ REQUEST_COUNT: { tags: { x: '"1"' } } }), server: side() }),
  );
  m.record(record());
  let reqs = samples(m.render('text'), 'istio_requests_total');
  assert.deepEqual(
    reqs.map((r) => [r.labels.x, r.value]),
    [['1', 1]],
  );
  holder.state = new ProxyState(snapshot('v4'));
  m.record(record());
  reqs = samples(m.render('text'), 'istio_requests_total');
  assert.deepEqual(
    reqs.map((r) => [r.labels.x, r.value]),
    [[undefined, 1]],
  );
});

test('applyTags keeps Istio order, replaces in place, appends new tags', () => {
  const base: Array<[string, string]> = [
    ['a', '1'],
    ['b', '2'],
    ['c', '3'],
  ];
  assert.deepEqual(
    applyTags(
      base,
      [
        { name: 'b', op: 'remove' },
        { name: 'c', op: 'const', value: 'x' },
        { name: 'd', op: 'dyn', index: 0 },
      ],
      ['k0', 'v'],
      1,
    ),
    [
      ['a', '1'],
      ['c', 'x'],
      ['d', 'v'],
    ],
  );
});

test(
  'promtool check metrics passes with overrides (escaped request values, removed and added labels)',
  { skip: !hasPromtool() && PROMTOOL_MISSING },
  () => {
    const { m } = setup({
      client: side({
        REQUEST_COUNT: { tags: { ua: "request.headers['user-agent']" } },
      }),
      server: side({
        REQUEST_SIZE: { disabled: true },
        RESPONSE_SIZE: { tags: { reporter: null, h: 'request.host' } },
      }),
    });
    m.record(record({ requestHeaders: { 'user-agent': 'a "quoted" \\ value\nnext' } }));
    m.record(record({ requestHeaders: {} }));
    m.record(inbound({ requestHeaders: { ':authority': 'reviews:9080' } }));
    m.record(inbound({ status: 503, flags: 'UF' }));
    const r = promtoolCheck(m.render('text'), [ISTIO_UNIT_LINT]);
    assert.ok(r.ok, `promtool found:\n${r.problems.join('\n')}\n${m.render('text')}`);
  },
);

test('hot path cost with a request-dependent tag: a few closures more than the default path', (t) => {
  const { m } = setup({
    client: side({ REQUEST_COUNT: { tags: { ua: "request.headers['user-agent']", m: 'request.method' } } }),
    server: side(),
  });
  const recs = ['curl', 'wget', 'node'].map((ua) => record({ requestHeaders: { 'user-agent': ua } }));
  for (const r of recs) m.record(r);
  const n = 300_000;
  const start = performance.now();
  for (let i = 0; i < n; i++) m.record(recs[i % 3]!);
  const nsPerRecord = ((performance.now() - start) * 1e6) / n;
  t.diagnostic(`${nsPerRecord.toFixed(0)} ns per record with overrides (${n} records)`);
  assert.ok(nsPerRecord < 5000, `${nsPerRecord} ns per record`);
  assert.equal(samples(m.render('text'), 'istio_requests_total').length, 3);
});
