import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePeerMetadata, encodePeerMetadata } from './peer-metadata.js';
import { istioLabels, selfPeer } from './istio-labels.js';
import type { RequestRecord } from './events.js';

const proxy = {
  id: 'productpage-v1-0.default',
  workload: 'productpage-v1',
  namespace: 'default',
  serviceAccount: 'bookinfo-productpage',
  spiffeId: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
  labels: { app: 'productpage', version: 'v1' },
  kind: 'sidecar' as const,
};

test('peer metadata round-trips and rejects junk', () => {
  const v = encodePeerMetadata(proxy);
  assert.deepEqual(decodePeerMetadata(v), { workload: 'productpage-v1', app: 'productpage', version: 'v1' });
  assert.equal(decodePeerMetadata('app=x'), undefined);
  assert.equal(decodePeerMetadata(['workload=a']), undefined);
  assert.equal(decodePeerMetadata('workload=%E0%A4%A'), undefined);
});

test('a header value is decoded once (the same frozen object after), and many distinct values stay correct', () => {
  const v = encodePeerMetadata(proxy);
  const a = decodePeerMetadata(v);
  assert.equal(decodePeerMetadata(v), a);
  assert.ok(Object.isFrozen(a));
  for (let i = 0; i < 600; i++)
    assert.deepEqual(decodePeerMetadata(`workload=w${i};app=a${i}`), { workload: `w${i}`, app: `a${i}` });
  assert.equal(decodePeerMetadata('app=x'), undefined, 'a cached miss stays a miss');
  assert.deepEqual(decodePeerMetadata(v), { workload: 'productpage-v1', app: 'productpage', version: 'v1' });
});

test('server-side labels name the calling workload from peer metadata, the namespace from the certificate', () => {
  const r: RequestRecord = {
    reporter: 'destination',
    listener: 'inbound',
    startTime: 0,
    durationMs: 1,
    method: 'GET',
    path: '/',
    authority: 'reviews:9080',
    protocol: 'http',
    httpVersion: '1.1',
    status: 200,
    flags: '',
    requestBytes: 0,
    responseBytes: 0,
    requestHeaders: {},
    peerIdentity: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
    peerMetadata: { workload: 'productpage-v1', app: 'productpage', version: 'v1' },
    destination: { service: 'reviews.default.svc.cluster.local', port: 9080 },
  };
  const labels = istioLabels(
    r,
    selfPeer({ ...proxy, workload: 'reviews-v1', labels: { app: 'reviews', version: 'v1' } }),
  );
  assert.match(labels, /source_workload="productpage-v1"/);
  assert.match(labels, /source_app="productpage"/);
  assert.match(labels, /source_version="v1"/);
  assert.match(labels, /source_workload_namespace="default"/);
  assert.match(labels, /destination_workload="reviews-v1"/);
});
