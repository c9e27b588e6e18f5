import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Aggregator } from './aggregator.js';
import { createLogger } from '../../lib/logger.js';
import type { ProxyStatus } from '../push/server.js';

const LABELS =
  'reporter="source",source_workload="productpage-v1",source_workload_namespace="default",' +
  'destination_workload="ratings-v1",destination_workload_namespace="default",' +
  'destination_service="ratings.default.svc.cluster.local",connection_security_policy="mutual_tls"';

function exposition(ok: number, failed: number): string {
  const lines = [
    `istio_requests_total{${LABELS},response_code="200",response_flags="-"} ${ok}`,
    `istio_requests_total{${LABELS},response_code="500",response_flags="FI"} ${failed}`,
  ];
  // Every request took between 5 and 10 ms.
  for (const [le, n] of [
    ['5', 0],
    ['10', ok + failed],
    ['+Inf', ok + failed],
  ] as const)
    lines.push(`istio_request_duration_milliseconds_bucket{${LABELS},response_code="200",le="${le}"} ${n}`);
  return lines.join('\n') + '\n';
}

test('edges from counter deltas between scrapes: rate, error rate, p99, mTLS; a stop forgets baselines', async () => {
  let counts = { ok: 100, failed: 0 };
  const server = http.createServer((_q, res) => res.end(exposition(counts.ok, counts.failed)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const status = {
    id: 'productpage-v1-0.default',
    workload: 'productpage-v1',
    namespace: 'default',
    metricsPort: (server.address() as AddressInfo).port,
  } as ProxyStatus;
  const agg = new Aggregator({ statuses: () => [status], log: createLogger('test', { write: () => {} }) });
  try {
    await agg.tick(); // baseline: nothing counted
    assert.equal(agg.graphEdges().length, 0);
    counts = { ok: 130, failed: 10 };
    await agg.tick();
    const edges = agg.graphEdges(1);
    const e = edges.find((x) => x.id === 'wl:default/productpage-v1->svc:ratings.default.svc.cluster.local')!;
    assert.ok(e, JSON.stringify(edges));
    assert.equal(e.requests, 40);
    assert.equal(e.errorRate, 0.25);
    assert.ok(e.mtls);
    assert.deepEqual(e.flags, ['FI']);
    assert.ok(e.p99! > 5 && e.p99! <= 10, String(e.p99));
    assert.ok(edges.some((x) => x.id === 'svc:ratings.default.svc.cluster.local->wl:default/ratings-v1'));
    const [svc] = agg.nodeSeries('service', 1);
    assert.equal(svc!.node, 'svc:ratings.default.svc.cluster.local');
    assert.equal(svc!.series.length, 2);
    agg.stop();
    counts = { ok: 10_000, failed: 10 };
    await agg.tick();
    assert.equal(agg.graphEdges().length, 0, 'after a stop the next scrape is a baseline again');
  } finally {
    agg.stop();
    server.close();
  }
});

test('with a Prometheus URL the edges come from rate() queries and the proxy gauges from its samples', async () => {
  const queries: string[] = [];
  const edge = {
    reporter: 'source',
    source_workload: 'productpage-v1',
    source_workload_namespace: 'default',
    destination_service: 'ratings.default.svc.cluster.local',
    destination_workload: 'ratings-v1',
    destination_workload_namespace: 'default',
    connection_security_policy: 'mutual_tls',
  };
  const prom = http.createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
    queries.push(q);
    let result: unknown[] = [];
    if (q.includes('rate(istio_requests_total'))
      result = [
        { metric: { ...edge, response_code: '200', response_flags: '-' }, value: [0, '3'] },
        { metric: { ...edge, response_code: '503', response_flags: 'UF' }, value: [0, '1'] },
      ];
    else if (q.includes('rate(istio_request_duration_milliseconds_bucket'))
      result = ['10', '+Inf'].map((le) => ({ metric: { ...edge, le }, value: [0, '4'] }));
    else if (q.includes('__name__'))
      result = [
        {
          metric: {
            __name__: 'weft_proxy_certificate_expiry_timestamp_seconds',
            proxy: 'productpage-v1-0.default',
            workload: 'productpage-v1',
            namespace: 'default',
          },
          value: [0, '2000000000'],
        },
      ];
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
  await new Promise<void>((r) => prom.listen(0, '127.0.0.1', r));
  const agg = new Aggregator({
    statuses: () => [],
    log: createLogger('test', { write: () => {} }),
    prometheus: `http://127.0.0.1:${(prom.address() as AddressInfo).port}/`,
  });
  try {
    await agg.tick();
    assert.equal(agg.source, 'prometheus');
    assert.equal(agg.prometheusError, undefined);
    assert.ok(queries.some((q) => q.startsWith('sum by (reporter,source_workload,')));
    const e = agg.graphEdges(1).find((x) => x.target === 'svc:ratings.default.svc.cluster.local')!;
    assert.equal(e.rps, 4); // rate() per second, whatever the tick length
    assert.equal(e.errorRate, 0.25);
    assert.ok(e.mtls);
    assert.ok(e.p99! > 0 && e.p99! <= 10);
    const [p] = agg.proxyScrapes();
    assert.equal(p!.id, 'productpage-v1-0.default');
    assert.equal(p!.certExpiry, 2e12);
  } finally {
    agg.stop();
    prom.close();
  }
});
