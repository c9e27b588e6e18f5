import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Aggregator } from './aggregator.js';
import { createLogger } from '../../lib/logger.js';
import type { ProxyStatus } from '../push/server.js';

const LABELS =
  'reporter="source",source_workload="client",source_workload_namespace="default",' +
  'destination_workload="tcp-echo",destination_workload_namespace="default",' +
  'destination_service="tcp-echo.default.svc.cluster.local",request_protocol="tcp",' +
  'response_flags="-",connection_security_policy="mutual_tls"';
// The server side of the same streams: counted by the client already, so not an edge of its own.
// The server side of a TCP stream knows the peer by its certificate only.
const SERVER = LABELS.replace('reporter="source"', 'reporter="destination"').replace(
  'source_workload="client"',
  'source_workload="unknown",source_principal="spiffe://cluster.local/ns/default/sa/client"',
);

const exposition = (c: { opened: number; closed: number; sent: number; received: number }) =>
  [
    `istio_tcp_connections_opened_total{${LABELS}} ${c.opened}`,
    `istio_tcp_connections_closed_total{${LABELS}} ${c.closed}`,
    `istio_tcp_sent_bytes_total{${LABELS}} ${c.sent}`,
    `istio_tcp_received_bytes_total{${LABELS}} ${c.received}`,
    `istio_tcp_connections_opened_total{${SERVER}} 1000`,
  ].join('\n') + '\n';

test('TCP edges from istio_tcp_* deltas: bytes/s each way, connections/s, open connections, mTLS', async () => {
  let counts = { opened: 3, closed: 2, sent: 100, received: 50 };
  const server = http.createServer((_q, res) => res.end(exposition(counts)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const status = {
    id: 'client-0.default',
    workload: 'client',
    namespace: 'default',
    metricsPort: (server.address() as AddressInfo).port,
  } as ProxyStatus;
  const agg = new Aggregator({ statuses: () => [status], log: createLogger('test', { write: () => {} }) });
  try {
    await agg.tick(); // baseline: one connection open, no traffic counted yet
    const first = agg.tcpEdges(1);
    assert.deepEqual(
      first.map((e) => [e.id, e.openConnections, e.bytesPerSecond]),
      [
        ['tcp:svc:tcp-echo.default.svc.cluster.local->wl:default/tcp-echo', 1, 0],
        ['tcp:wl:default/client->svc:tcp-echo.default.svc.cluster.local', 1, 0],
      ],
    );
    counts = { opened: 13, closed: 14 - 3, sent: 100 + 4000, received: 50 + 2000 };
    await agg.tick();
    const e = agg.tcpEdges(1).find((x) => x.source === 'wl:default/client')!;
    assert.equal(e.protocol, 'tcp');
    assert.ok(e.mtls);
    assert.equal(e.openConnections, 2);
    // Two scrapes back to back: the tick lasted about as long as the test took, so check the ratios.
    assert.ok(e.sentBytesPerSecond > 0);
    assert.equal(Math.round(e.sentBytesPerSecond / e.receivedBytesPerSecond), 2);
    assert.equal(Math.round(e.bytesPerSecond / e.connectionsPerSecond), 600);
    assert.equal(agg.graphEdges(1).length, 0, 'no HTTP edge from TCP traffic');
    counts = { ...counts, closed: counts.opened };
    await agg.tick();
    assert.equal(agg.tcpEdges(1)[0]!.openConnections, 0);
  } finally {
    agg.stop();
    server.close();
  }
});

test('with Prometheus: TCP edges from rate() per second and open connections from the totals', async () => {
  const edge = Object.fromEntries(
    LABELS.split(',').map((kv) => kv.split('=').map((x) => x.replace(/"/g, ''))),
  );
  const rates: Record<string, string> = {
    istio_tcp_sent_bytes_total: '300',
    istio_tcp_received_bytes_total: '100',
    istio_tcp_connections_opened_total: '2',
    istio_tcp_connections_closed_total: '2',
  };
  const prom = http.createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
    let result: unknown[] = [];
    const m = /rate\((istio_tcp_\w+)\[/.exec(q);
    if (m) result = [{ metric: edge, value: [0, rates[m[1]!]] }];
    else if (q.includes('istio_tcp_connections_opened_total|'))
      result = [
        { metric: { ...edge, __name__: 'istio_tcp_connections_opened_total' }, value: [0, '10'] },
        { metric: { ...edge, __name__: 'istio_tcp_connections_closed_total' }, value: [0, '7'] },
      ];
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
  await new Promise<void>((r) => prom.listen(0, '127.0.0.1', r));
  const agg = new Aggregator({
    statuses: () => [],
    log: createLogger('test', { write: () => {} }),
    prometheus: `http://127.0.0.1:${(prom.address() as AddressInfo).port}`,
  });
  try {
    await agg.tick();
    assert.equal(agg.prometheusError, undefined);
    const e = agg.tcpEdges(1).find((x) => x.source === 'wl:default/client')!;
    assert.deepEqual(
      [e.bytesPerSecond, e.sentBytesPerSecond, e.connectionsPerSecond, e.openConnections, e.mtls],
      [400, 300, 2, 3, true],
    );
  } finally {
    agg.stop();
    prom.close();
  }
});
