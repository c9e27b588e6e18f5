import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Cluster, ProxySnapshot } from '../../model/snapshot.js';
import { ProxyState } from '../state.js';
import { publishRequest } from './events.js';
import { ProxyMetrics, type ControlStats } from './metrics.js';
import { createMetricsServer } from './metrics-server.js';
import { openSecurity } from '../../model/security.js';
import {
  hasPromtool,
  ISTIO_UNIT_LINT,
  parseLabels,
  PRODUCTPAGE,
  promtoolCheck,
  PROMTOOL_MISSING,
  record,
} from './testing.js';

const REVIEWS_V2 = 'outbound|9080|v2|reviews.default.svc.cluster.local';
const RATINGS = 'outbound|9080||ratings.default.svc.cluster.local';

function cluster(name: string, service: string): Cluster {
  return {
    name,
    service,
    port: 9080,
    lbPolicy: 'ROUND_ROBIN',
    protocol: 'http',
    sni: `outbound_.9080_._.${service}`,
    endpoints: [],
  };
}

function snapshot(version: string, labels = PRODUCTPAGE.labels): ProxySnapshot {
  return {
    version,
    proxy: { ...PRODUCTPAGE, labels },
    trustDomain: 'cluster.local',
    outbound: { virtualHosts: [] },
    inbound: { routes: [], containerPorts: [9080] },
    security: openSecurity(),
    gateways: [],
    clusters: [
      cluster(REVIEWS_V2, 'reviews.default.svc.cluster.local'),
      cluster(RATINGS, 'ratings.default.svc.cluster.local'),
    ],
  };
}

/** A metrics instance over a swappable state, with fixed control stats and certificate. */
function setup() {
  const holder = { state: new ProxyState(snapshot('v1')) };
  const control: ControlStats = { connected: true, version: 'v1', acks: 3, nacks: 1 };
  const m = new ProxyMetrics({
    state: () => holder.state,
    control: () => control,
    certificateNotAfter: () => new Date(1_000_000_000 + 3600_000),
    now: () => 1_000_000_000,
  });
  return { m, holder, control };
}

/** Samples of one metric name from a text exposition: labels and value. */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.push({ labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return out;
}

const running: ProxyMetrics[] = [];
after(() => running.forEach((m) => m.stop()));

test('records arrive through the diagnostics channel and stop after stop()', () => {
  const { m } = setup();
  m.start();
  running.push(m);
  publishRequest(() => record());
  publishRequest(() => record({ path: '/reviews/1' }));
  m.stop();
  publishRequest(() => record());
  const reqs = samples(m.render('text'), 'istio_requests_total');
  assert.equal(reqs.length, 1, 'different paths share one series');
  assert.equal(reqs[0]!.value, 2);
  assert.equal(reqs[0]!.labels.destination_workload, 'reviews-v2');
});

test('histograms get one observation per request, in Istio units', () => {
  const { m } = setup();
  m.record(record({ durationMs: 7, requestBytes: 0, responseBytes: 120 }));
  m.record(record({ durationMs: 30, requestBytes: 50, responseBytes: 5000 }));
  const text = m.render('text');
  const buckets = samples(text, 'istio_request_duration_milliseconds_bucket');
  const at = (le: string) => buckets.find((b) => b.labels.le === le)!.value;
  assert.equal(at('5'), 0);
  assert.equal(at('10'), 1);
  assert.equal(at('50'), 2);
  assert.equal(at('+Inf'), 2);
  assert.equal(samples(text, 'istio_request_duration_milliseconds_sum')[0]!.value, 37);
  assert.equal(samples(text, 'istio_response_bytes_count')[0]!.value, 2);
  assert.equal(samples(text, 'istio_request_bytes_sum')[0]!.value, 50);
});

test('status codes and flags split series; a new snapshot keeps counts and picks up new labels', () => {
  const { m, holder } = setup();
  m.record(record());
  m.record(record({ status: 503, flags: 'UH' }));
  holder.state = new ProxyState(snapshot('v2')); // same identity: same series continue
  m.record(record());
  holder.state = new ProxyState(snapshot('v3', { app: 'productpage', version: 'v9' }));
  m.record(record());
  const reqs = samples(m.render('text'), 'istio_requests_total');
  const find = (code: string, version: string) =>
    reqs.find((r) => r.labels.response_code === code && r.labels.source_version === version)?.value;
  assert.equal(find('200', 'v1'), 2);
  assert.equal(find('503', 'v1'), 1);
  assert.equal(find('200', 'v9'), 1);
  assert.equal(reqs.length, 3);
  assert.equal(m.seriesCount, 3);
});

test('proxy internals: retries, overflows, cluster gauges, config and certificate', () => {
  const { m } = setup();
  m.record(record({ attempts: 3 }));
  m.record(record({ status: 503, flags: 'UO', attempts: 0 }));
  m.record(record({ status: 503, flags: 'UO', attempts: 0 }));
  const text = m.render('text');
  const byCluster = (name: string) =>
    Object.fromEntries(samples(text, name).map((s) => [s.labels.cluster_name!, s.value]));
  assert.deepEqual(byCluster('weft_upstream_retries_total'), { [RATINGS]: 0, [REVIEWS_V2]: 2 });
  assert.deepEqual(byCluster('weft_upstream_overflows_total'), { [RATINGS]: 0, [REVIEWS_V2]: 2 });
  assert.deepEqual(byCluster('weft_upstream_ejections_active'), { [RATINGS]: 0, [REVIEWS_V2]: 0 });
  assert.equal(samples(text, 'weft_proxy_config_info')[0]!.labels.version, 'v1');
  assert.equal(samples(text, 'weft_proxy_config_nacks_total')[0]!.value, 1);
  assert.equal(samples(text, 'weft_proxy_config_acks_total')[0]!.value, 3);
  assert.equal(samples(text, 'weft_proxy_control_plane_connected')[0]!.value, 1);
  assert.equal(samples(text, 'weft_proxy_certificate_expiry_seconds')[0]!.value, 3600);
  assert.ok(samples(text, 'process_resident_memory_bytes')[0]!.value > 0);
});

test('OpenMetrics rendering names counters the OpenMetrics way and ends with # EOF', () => {
  const { m } = setup();
  m.record(record());
  const text = m.render('openmetrics');
  assert.match(text, /^# TYPE istio_requests counter$/m);
  assert.match(text, /^istio_requests_total\{reporter="source",/m);
  assert.match(text, /^# TYPE weft_upstream_retries counter$/m);
  assert.match(text, /^istio_request_duration_milliseconds_bucket\{.*,le="1\.0"\} 0$/m);
  assert.ok(text.endsWith('# EOF\n'));
});

test(
  'promtool check metrics passes on the proxy exposition',
  { skip: !hasPromtool() && PROMTOOL_MISSING },
  () => {
    const { m } = setup();
    m.record(record());
    m.record(record({ reporter: 'destination', listener: 'inbound', peerIdentity: PRODUCTPAGE.spiffeId }));
    m.record(record({ status: 404, flags: 'NR', destination: undefined, upstreamCluster: undefined }));
    const r = promtoolCheck(m.render('text'), [ISTIO_UNIT_LINT]);
    assert.ok(r.ok, `promtool found:\n${r.problems.join('\n')}`);
  },
);

test('the metrics listener serves /stats/prometheus with content negotiation', async () => {
  const { m } = setup();
  m.record(record());
  const server = createMetricsServer((f) => m.render(f));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const text = await fetch(`${base}/stats/prometheus`);
    assert.equal(text.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(await text.text(), /^istio_requests_total\{/m);
    const om = await fetch(`${base}/stats/prometheus`, {
      headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
    });
    assert.equal(
      om.headers.get('content-type'),
      'application/openmetrics-text; version=1.0.0; charset=utf-8',
    );
    assert.ok((await om.text()).endsWith('# EOF\n'));
    assert.equal((await fetch(`${base}/other`)).status, 404);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('hot path cost: a cached series costs a key, a lookup and four increments', (t) => {
  const { m } = setup();
  const recs = [
    record(),
    record({ status: 503, flags: 'UF' }),
    record({ durationMs: 120, responseBytes: 9000 }),
  ];
  for (const r of recs) m.record(r); // resolve once
  const n = 300_000;
  const start = performance.now();
  for (let i = 0; i < n; i++) m.record(recs[i % 3]!);
  const nsPerRecord = ((performance.now() - start) * 1e6) / n;
  t.diagnostic(`${nsPerRecord.toFixed(0)} ns per record (${n} records)`);
  // Generous bound: catches a regression to per-request label building, not machine noise.
  assert.ok(nsPerRecord < 5000, `${nsPerRecord} ns per record`);
});
