import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpRequests, type RequestRecord } from '../telemetry/events.js';
import { channelTapSource, tapEvent, tapMatches, TapHub } from './tap.js';
import type { ProxyIdentity } from '../../model/snapshot.js';

const self: ProxyIdentity = {
  id: 'productpage-v1-0.default',
  workload: 'productpage-v1',
  namespace: 'default',
  serviceAccount: 'bookinfo-productpage',
  spiffeId: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
  labels: {},
  kind: 'sidecar',
};

const record = (over: Partial<RequestRecord> = {}): RequestRecord => ({
  reporter: 'source',
  listener: 'outbound',
  startTime: Date.parse('2026-01-01T00:00:00Z'),
  durationMs: 12.345,
  method: 'GET',
  path: '/reviews/0',
  authority: 'reviews:9080',
  protocol: 'http',
  httpVersion: '1.1',
  status: 503,
  flags: 'UF',
  requestBytes: 0,
  responseBytes: 0,
  requestHeaders: {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'x-request-id': 'r1',
  },
  destination: { service: 'reviews.default.svc.cluster.local', port: 9080, instance: 'reviews-v2-0.default' },
  ...over,
});

test('a tap event names both sides, from either reporter', () => {
  const out = tapEvent(record(), self);
  assert.equal(out.sourceWorkload, 'productpage-v1');
  assert.equal(out.destinationWorkload, 'reviews-v2');
  assert.equal(out.destinationService, 'reviews.default.svc.cluster.local');
  assert.equal(out.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(out.requestId, 'r1');
  assert.equal(out.latencyMs, 12.35);
  const inbound = tapEvent(
    record({
      reporter: 'destination',
      destination: undefined,
      peerIdentity: 'spiffe://cluster.local/ns/istio-system/sa/gw',
      peerMetadata: { workload: 'istio-ingressgateway' },
    }),
    self,
  );
  assert.equal(inbound.sourceWorkload, 'istio-ingressgateway');
  assert.equal(inbound.sourceNamespace, 'istio-system');
  assert.equal(inbound.destinationWorkload, 'productpage-v1');
});

test('filters: substring of workloads or services, path prefix, status code or class', () => {
  const e = tapEvent(record(), self);
  assert.ok(
    tapMatches(e, { source: 'productpage', destination: 'reviews', path: '/reviews', status: '5xx' }),
  );
  assert.ok(tapMatches(e, { status: '503', method: 'get' }));
  assert.ok(!tapMatches(e, { status: '2xx' }));
  assert.ok(!tapMatches(e, { path: '/ratings' }));
  assert.ok(!tapMatches(e, { reporter: 'destination' }));
});

test('the hub subscribes to the request channel only while a client is connected', () => {
  const hub = new TapHub(channelTapSource(() => self));
  const before = httpRequests.hasSubscribers;
  const lines: string[] = [];
  const listeners = new Map<string, () => void>();
  const fake = {
    writableLength: 0,
    writeHead: () => fake,
    flushHeaders: () => {},
    write: (s: string) => lines.push(s),
    on: (ev: string, f: () => void) => listeners.set('res:' + ev, f),
    end: () => listeners.get('res:close')?.(),
  };
  const req = { on: (ev: string, f: () => void) => listeners.set('req:' + ev, f) };
  // Nobody taps: no tap subscriber (others, such as metrics, may subscribe).
  assert.equal(hub.size, 0);
  hub.serve(req as never, fake as never, new URLSearchParams('status=5xx'));
  assert.ok(httpRequests.hasSubscribers);
  httpRequests.publish(record());
  httpRequests.publish(record({ status: 200 }));
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]!).status, 503);
  fake.writableLength = 10 * 1024 * 1024; // a slow client: dropped, not buffered
  httpRequests.publish(record());
  assert.equal(lines.length, 1);
  listeners.get('req:close')!();
  assert.equal(hub.size, 0);
  assert.equal(httpRequests.hasSubscribers, before);
});
