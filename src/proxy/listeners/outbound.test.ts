// attemptTargets: one target per cluster runtime, endpoint and HTTP version, reused by every request
// to it, and rebuilt when the workload certificate rotates (a new client context) or a snapshot
// replaces the cluster runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import type { Cluster, Endpoint } from '../../model/snapshot.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import type { H1Pools } from '../upstream/h1-pools.js';
import { H2Sessions } from '../transport/h2-sessions.js';
import { attemptTargets } from './outbound.js';

const ep: Endpoint = {
  address: '10.0.0.7',
  port: 15006,
  identity: 'spiffe://cluster.local/ns/default/sa/reviews',
  instance: 'reviews-1',
  labels: {},
  healthy: true,
};

const cluster = (over: Partial<Cluster> = {}): Cluster => ({
  name: 'outbound|9080||reviews.default.svc.cluster.local',
  service: 'reviews.default.svc.cluster.local',
  port: 9080,
  lbPolicy: 'ROUND_ROBIN',
  sni: 'outbound_.9080_._.reviews.default.svc.cluster.local',
  protocol: 'http',
  endpoints: [ep],
  ...over,
});

function setup() {
  const identity = { clientContext: tls.createSecureContext() };
  const meshPools = {} as H1Pools; // only handed on
  const h2 = new H2Sessions();
  const failed: string[] = [];
  const target = attemptTargets(identity, meshPools, h2, (c, _ep, err) =>
    failed.push(`${c.name} ${err.message}`),
  );
  return { identity, meshPools, h2, failed, target };
}

test('a mesh endpoint: mTLS to its identity, one target reused per HTTP version', () => {
  const { identity, meshPools, h2, target } = setup();
  const rt = new ClusterRuntime(cluster());
  const t = target(rt, ep, false);
  assert.equal(t.host, '10.0.0.7');
  assert.equal(t.port, 15006);
  assert.equal(t.key, ep.identity);
  assert.equal(t.plain, undefined);
  assert.equal(t.pools, meshPools);
  assert.equal(t.h2, undefined);
  assert.equal(t.tls.secureContext, identity.clientContext);
  assert.equal(t.tls.servername, 'outbound_.9080_._.reviews.default.svc.cluster.local');
  const cert = { subjectaltname: 'URI:spiffe://cluster.local/ns/default/sa/other' } as PeerCertificate;
  assert.match(String(t.tls.checkServerIdentity!('x', cert)), /not the expected .*sa\/reviews/);
  assert.equal(target(rt, ep, false), t);
  const t2 = target(rt, ep, true);
  assert.notEqual(t2, t);
  assert.equal(t2.h2, h2);
  assert.equal(target(rt, ep, true), t2);
});

test('a rotated certificate, or a new snapshot of the cluster, makes a new target', () => {
  const { identity, target } = setup();
  const rt = new ClusterRuntime(cluster());
  const before = target(rt, ep, false);
  identity.clientContext = tls.createSecureContext();
  const after = target(rt, ep, false);
  assert.notEqual(after, before);
  assert.equal(after.tls.secureContext, identity.clientContext);
  assert.equal(target(rt, ep, false), after);
  assert.notEqual(target(new ClusterRuntime(cluster(), rt), ep, false), after);
});

test('hosts outside the mesh are plaintext; h2c only for gRPC and HTTP/2 services', () => {
  const { target } = setup();
  const ext = new ClusterRuntime(cluster({ external: true }));
  const t = target(ext, ep, true);
  assert.equal(t.plain, true);
  assert.equal(t.key, undefined);
  assert.equal(t.h2, undefined);
  assert.ok(target(new ClusterRuntime(cluster({ external: true, protocol: 'grpc' })), ep, true).h2);
});

test('TLS origination: the rule settings, kept across rotations; a rule that cannot apply fails', () => {
  const { identity, failed, target } = setup();
  const rt = new ClusterRuntime(
    cluster({ external: true, originateTls: { mode: 'MUTUAL', sni: 'api.example.com', error: 'no Secret' } }),
  );
  const t = target(rt, ep, false);
  assert.equal(t.pools, rt.pools);
  assert.match(t.error!.message, /TLS origination: no Secret/);
  t.onConnectError!(t.error!);
  assert.deepEqual(failed, ['outbound|9080||reviews.default.svc.cluster.local TLS origination: no Secret']);
  identity.clientContext = tls.createSecureContext();
  assert.equal(target(rt, ep, false), t);
  rt.close();
});
