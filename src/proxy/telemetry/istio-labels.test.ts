import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fillKey,
  istioLabels,
  KEY_PARTS,
  selfPeer,
  serviceParts,
  workloadOfInstance,
} from './istio-labels.js';
import type { RequestRecord } from './events.js';
import { PRODUCTPAGE, parseLabels, record } from './testing.js';

test('instance ids and service FQDNs map to bounded label values', () => {
  assert.deepEqual(workloadOfInstance('reviews-v2-0.default'), {
    workload: 'reviews-v2',
    namespace: 'default',
  });
  assert.deepEqual(workloadOfInstance('istio-ingressgateway-12.istio-system'), {
    workload: 'istio-ingressgateway',
    namespace: 'istio-system',
  });
  assert.equal(workloadOfInstance('no-index'), undefined);
  assert.deepEqual(serviceParts('reviews.default.svc.cluster.local'), {
    service: 'reviews.default.svc.cluster.local',
    name: 'reviews',
    namespace: 'default',
  });
  assert.deepEqual(serviceParts('httpbin.org'), {
    service: 'httpbin.org',
    name: 'httpbin.org',
    namespace: 'unknown',
  });
  assert.deepEqual(serviceParts(undefined), { service: 'unknown', name: 'unknown', namespace: 'unknown' });
});

test('source reporter: source from this proxy, destination from the endpoint it reached', () => {
  const l = parseLabels(istioLabels(record(), selfPeer(PRODUCTPAGE)));
  assert.deepEqual(l, {
    reporter: 'source',
    source_workload: 'productpage-v1',
    source_canonical_service: 'productpage',
    source_canonical_revision: 'v1',
    source_workload_namespace: 'default',
    source_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
    source_app: 'productpage',
    source_version: 'v1',
    source_cluster: 'Kubernetes',
    destination_workload: 'reviews-v2',
    destination_workload_namespace: 'default',
    destination_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
    destination_app: 'reviews',
    destination_version: 'v2',
    destination_service: 'reviews.default.svc.cluster.local',
    destination_canonical_service: 'reviews',
    destination_canonical_revision: 'v2',
    destination_service_name: 'reviews',
    destination_service_namespace: 'default',
    destination_cluster: 'Kubernetes',
    request_protocol: 'http',
    response_code: '200',
    grpc_response_status: '',
    response_flags: '-',
    connection_security_policy: 'mutual_tls',
  });
});

test('destination reporter: destination from this proxy, source principal and namespace from the peer certificate', () => {
  const reviews = { ...PRODUCTPAGE, workload: 'reviews-v2', serviceAccount: 'bookinfo-reviews' };
  reviews.spiffeId = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';
  reviews.labels = { app: 'reviews', version: 'v2', 'service.istio.io/canonical-name': 'reviews-svc' };
  const r = record({
    reporter: 'destination',
    listener: 'inbound',
    destination: { service: 'reviews.default.svc.cluster.local', port: 9080 },
    peerIdentity: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage',
    protocol: 'grpc',
    grpcStatus: 14,
  });
  const l = parseLabels(istioLabels(r, selfPeer(reviews)));
  assert.equal(l.reporter, 'destination');
  assert.equal(l.source_principal, 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage');
  assert.equal(l.source_workload_namespace, 'bookinfo');
  assert.equal(l.source_workload, 'unknown');
  assert.equal(l.source_app, 'unknown');
  assert.equal(l.destination_workload, 'reviews-v2');
  assert.equal(l.destination_principal, reviews.spiffeId);
  assert.equal(l.destination_canonical_service, 'reviews-svc');
  assert.equal(l.destination_service_name, 'reviews');
  assert.equal(l.request_protocol, 'grpc');
  assert.equal(l.grpc_response_status, '14');
  assert.equal(l.connection_security_policy, 'mutual_tls');
});

test('no route: destination labels are "unknown", never the client-chosen authority or path', () => {
  const r = record({ status: 404, flags: 'NR', authority: 'evil-123.example', path: '/u/42' });
  delete r.destination;
  delete r.upstreamCluster;
  const text = istioLabels(r, selfPeer(PRODUCTPAGE));
  const l = parseLabels(text);
  assert.equal(l.destination_service, 'unknown');
  assert.equal(l.destination_workload, 'unknown');
  assert.equal(l.response_flags, 'NR');
  assert.equal(l.connection_security_policy, 'unknown');
  assert.doesNotMatch(text, /evil|\/u\/42/);
});

test('the cache key covers what labels depend on and ignores paths and timings', () => {
  const key = (r: RequestRecord) => {
    const k = new Array<unknown>(KEY_PARTS);
    fillKey(r, k);
    return k;
  };
  assert.deepEqual(key(record({ path: '/a', durationMs: 1 })), key(record({ path: '/b', durationMs: 9 })));
  assert.notDeepEqual(key(record()), key(record({ status: 503 })));
  assert.notDeepEqual(key(record()), key(record({ flags: 'UO' })));
  assert.notDeepEqual(key(record()), key(record({ reporter: 'destination' })));
  assert.notDeepEqual(key(record()), key(record({ protocol: 'grpc', grpcStatus: 0 })));
  assert.notDeepEqual(key(record({ grpcStatus: 0 })), key(record({ grpcStatus: 1 })));
});
