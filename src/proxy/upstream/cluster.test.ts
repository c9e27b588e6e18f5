// ClusterRuntime's request counting: LEAST_REQUEST balances on requests under way per endpoint; the
// other policies do not count them (nothing reads the counts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Endpoint } from '../../model/snapshot.js';
import { ClusterRuntime } from './cluster.js';

const ep = (instance: string): Endpoint => ({
  address: `10.0.0.${instance === 'a' ? 1 : 2}`,
  port: 15006,
  identity: `spiffe://cluster.local/ns/default/sa/${instance}`,
  instance,
  labels: {},
  healthy: true,
});

const cluster = (lbPolicy: Cluster['lbPolicy']): Cluster => ({
  name: 'outbound|80||svc.default.svc.cluster.local',
  service: 'svc.default.svc.cluster.local',
  port: 80,
  lbPolicy,
  sni: 'outbound_.80_._.svc.default.svc.cluster.local',
  protocol: 'http',
  endpoints: [ep('a'), ep('b')],
});

const picks = (rt: ClusterRuntime, n: number): { a: number; b: number } => {
  const out = { a: 0, b: 0 };
  for (let i = 0; i < n; i++) out[rt.pick()!.instance as 'a' | 'b']++;
  return out;
};

test('LEAST_REQUEST avoids the endpoint with requests under way, until they finish', () => {
  const rt = new ClusterRuntime(cluster('LEAST_REQUEST'));
  const [a] = rt.healthy;
  for (let i = 0; i < 3; i++) rt.started(a!);
  // Two random choices: the idle endpoint wins whenever they differ (3 times in 4).
  assert.ok(picks(rt, 400).b > 240);
  for (let i = 0; i < 3; i++) rt.finished(a!);
  const even = picks(rt, 400);
  assert.ok(even.a > 140 && even.b > 140, JSON.stringify(even));
});

test('round robin ignores requests under way', () => {
  const rt = new ClusterRuntime(cluster('ROUND_ROBIN'));
  const [a] = rt.healthy;
  for (let i = 0; i < 3; i++) rt.started(a!);
  assert.deepEqual(picks(rt, 10), { a: 5, b: 5 });
  for (let i = 0; i < 5; i++) rt.finished(a!);
  assert.deepEqual(picks(rt, 10), { a: 5, b: 5 });
});

test('a cluster replaced with the same connection limits keeps its pools and sessions; new limits, new ones', () => {
  const limited = (endpoints: Endpoint[], maxRequestsPerConnection = 10): Cluster => ({
    ...cluster('ROUND_ROBIN'),
    endpoints,
    connectionPool: { maxConnections: 4, maxRequestsPerConnection },
  });
  const first = new ClusterRuntime(limited([ep('a'), ep('b')]));
  assert.ok(first.pools && first.h2);
  // A snapshot with one endpoint fewer: same limits, the same connections.
  const second = new ClusterRuntime(limited([ep('a')]), first);
  assert.equal(second.pools, first.pools);
  assert.equal(second.h2, first.h2);
  const third = new ClusterRuntime(limited([ep('a')], 20), second);
  assert.notEqual(third.pools, second.pools);
  assert.notEqual(third.h2, second.h2);
  // No limits: the proxy-wide pools and sessions.
  const plain = new ClusterRuntime(cluster('ROUND_ROBIN'), third);
  assert.equal(plain.pools, undefined);
  assert.equal(plain.h2, undefined);
});

test('tcp.maxConnectionDuration alone gives the cluster its own pools and sessions', () => {
  const rt = new ClusterRuntime({
    ...cluster('ROUND_ROBIN'),
    connectionPool: { maxConnectionDurationMs: 60_000 },
  });
  assert.ok(rt.pools);
  assert.ok(rt.h2);
});
