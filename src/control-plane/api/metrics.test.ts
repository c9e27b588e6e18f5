import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PushServer, ProxyStatus } from '../push/server.js';
import { Histogram } from '../../proxy/telemetry/histogram.js';
import { hasPromtool, promtoolCheck, PROMTOOL_MISSING } from '../../proxy/telemetry/testing.js';
import { controlPlaneMetrics, metricsUrl, prometheusTargets } from './metrics.js';

const STATUSES: ProxyStatus[] = [
  {
    id: 'reviews-v1-0.default',
    workload: 'reviews-v1',
    namespace: 'default',
    kind: 'sidecar',
    identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
    connectedAt: new Date(0).toISOString(),
    served: 'a',
    acked: 'a',
    metricsPort: 41000,
    inbound: { address: '127.0.0.1', port: 40000 },
  },
  {
    id: 'old-0.default',
    workload: 'old',
    namespace: 'default',
    kind: 'gateway',
    identity: 'spiffe://cluster.local/ns/default/sa/old',
    connectedAt: new Date(0).toISOString(),
    served: 'b',
    inbound: { address: '127.0.0.1', port: 0 },
  },
];

function fakePush(): PushServer {
  const pushTime = new Histogram([0.001, 0.01, 0.1]);
  const pushSize = new Histogram([1e3, 1e4]);
  pushTime.observe(0.004);
  pushSize.observe(2500);
  return {
    statuses: () => STATUSES,
    pushes: 4,
    pushErrors: 1,
    nacks: 2,
    csrs: 5,
    csrAuthFailures: 1,
    pushTime,
    pushSize,
  } as unknown as PushServer;
}

test('http_sd targets: one group per proxy that reported a metrics port', () => {
  assert.deepEqual(prometheusTargets(STATUSES), [
    {
      targets: ['127.0.0.1:41000'],
      labels: {
        __metrics_path__: '/stats/prometheus',
        proxy: 'reviews-v1-0.default',
        workload: 'reviews-v1',
        namespace: 'default',
        kind: 'sidecar',
      },
    },
  ]);
  assert.equal(metricsUrl(STATUSES[0]!), 'http://127.0.0.1:41000/stats/prometheus');
  assert.equal(metricsUrl(STATUSES[1]!), undefined);
});

test('control plane metrics use istiod names', () => {
  const text = controlPlaneMetrics(fakePush(), undefined, '0.1.0');
  assert.match(text, /^pilot_xds\{version="0\.1\.0"\} 2$/m);
  assert.match(text, /^pilot_xds_pushes\{type="snapshot"\} 4$/m);
  assert.match(text, /^weft_control_plane_proxies_connected\{kind="sidecar"\} 1$/m);
  assert.match(text, /^weft_control_plane_proxies_unsynced 1$/m);
  assert.match(text, /^pilot_xds_push_time_bucket\{le="0\.01"\} 1$/m);
  assert.match(text, /^pilot_xds_config_size_bytes_sum 2500$/m);
  assert.match(text, /^pilot_total_xds_rejects 2$/m);
  assert.match(text, /^pilot_total_xds_internal_errors 1$/m);
  assert.match(text, /^citadel_server_csr_count 5$/m);
});

test(
  'promtool check metrics passes on the control plane exposition',
  { skip: !hasPromtool() && PROMTOOL_MISSING },
  () => {
    // istiod's counters carry no _total suffix (and citadel's end in _count); keeping their names is the
    // point, so exactly those lint findings are expected.
    const r = promtoolCheck(controlPlaneMetrics(fakePush(), undefined, '0.1.0'), [
      /^(pilot_xds_pushes|pilot_total_xds_\w+|citadel_server_\w+_count) counter metrics should have "_total" suffix$/,
      /^citadel_server_\w+_count non-histogram and non-summary metrics should not have "_count" suffix$/,
    ]);
    assert.ok(r.ok, `promtool found:\n${r.problems.join('\n')}`);
  },
);
