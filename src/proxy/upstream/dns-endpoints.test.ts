import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Endpoint } from '../../model/snapshot.js';
import { DnsEndpoints, type Lookup } from './dns-endpoints.js';
import { ClusterRuntime, loadClusterCode } from './cluster.js';
import { NamedHosts } from './named-hosts.js';

const ep = (address: string, instance = address): Endpoint => ({
  address,
  port: 8080,
  identity: '',
  instance,
  labels: { app: 'x' },
  healthy: true,
});

/** A resolver whose answers the test changes; counts lookups. */
function fakeDns(answers: Record<string, string[] | Error>, ttlMs?: number) {
  const calls: string[] = [];
  const lookup: Lookup = (host) => {
    calls.push(host);
    const a = answers[host];
    return a instanceof Error || a === undefined
      ? Promise.reject(a ?? new Error('ENOTFOUND'))
      : Promise.resolve({ addresses: a, ...(ttlMs !== undefined ? { ttlMs } : {}) });
  };
  return { lookup, calls, answers };
}

const view = (d: DnsEndpoints) => d.endpoints.map((e) => `${e.instance} ${e.address}:${e.port}`);

test('STRICT (resolution DNS): every address of every name is an endpoint; IPs stay as they are', async () => {
  const dns = fakeDns({ 'api.example.com': ['10.0.0.1', '10.0.0.2'] });
  const d = new DnsEndpoints([ep('api.example.com'), ep('10.9.9.9')], 'STRICT', dns.lookup);
  assert.deepEqual(view(d), ['api.example.com api.example.com:8080', '10.9.9.9 10.9.9.9:8080']);
  await d.refresh();
  assert.deepEqual(view(d), [
    'api.example.com@10.0.0.1 10.0.0.1:8080',
    'api.example.com@10.0.0.2 10.0.0.2:8080',
    '10.9.9.9 10.9.9.9:8080',
  ]);
  assert.deepEqual(dns.calls, ['api.example.com']);
  assert.deepEqual(d.endpoints[0]!.labels, { app: 'x' });
});

test('LOGICAL (DNS_ROUND_ROBIN): only the first address, one endpoint that keeps its identity', async () => {
  const dns = fakeDns({ 'api.example.com': ['10.0.0.7', '10.0.0.8'] });
  const d = new DnsEndpoints([ep('api.example.com')], 'LOGICAL', dns.lookup);
  await d.refresh();
  assert.deepEqual(view(d), ['api.example.com 10.0.0.7:8080']);
});

test('names are re-resolved once the refresh interval passed; a failed lookup keeps the last answer', async () => {
  let now = 0;
  const dns = fakeDns({ 'api.example.com': ['10.0.0.1'] });
  const d = new DnsEndpoints([ep('api.example.com')], 'STRICT', dns.lookup, 1000, () => now);
  d.refreshIfStale();
  await d.refresh(); // joins the lookup in flight
  const v1 = d.version;
  assert.deepEqual(view(d), ['api.example.com@10.0.0.1 10.0.0.1:8080']);
  now = 999;
  d.refreshIfStale();
  assert.equal(dns.calls.length, 1, 'not stale yet');
  dns.answers['api.example.com'] = ['10.0.0.3', '10.0.0.1'];
  now = 1000;
  d.refreshIfStale();
  await d.refresh();
  assert.equal(dns.calls.length, 2);
  assert.ok(d.version > v1);
  assert.deepEqual(view(d), [
    'api.example.com@10.0.0.3 10.0.0.3:8080',
    'api.example.com@10.0.0.1 10.0.0.1:8080',
  ]);
  dns.answers['api.example.com'] = new Error('SERVFAIL');
  now = 5000;
  await d.refresh();
  assert.equal(dns.calls.length, 3);
  assert.deepEqual(view(d), [
    'api.example.com@10.0.0.3 10.0.0.3:8080',
    'api.example.com@10.0.0.1 10.0.0.1:8080',
  ]);
});

test('with TTLs, names are re-resolved when the TTL has passed, at least 5 s apart', async () => {
  let now = 0;
  const dns = fakeDns({ 'api.example.com': ['10.0.0.1'] }, 30_000);
  const d = new DnsEndpoints([ep('api.example.com')], 'STRICT', dns.lookup, 1000, () => now);
  await d.refresh();
  now = 29_999;
  d.refreshIfStale();
  assert.equal(dns.calls.length, 1, 'the 30 s TTL, not the 1 s interval');
  now = 30_000;
  d.refreshIfStale();
  assert.equal(dns.calls.length, 2);
  const short = fakeDns({ 'api.example.com': ['10.0.0.1'] }, 1000);
  const d2 = new DnsEndpoints([ep('api.example.com')], 'STRICT', short.lookup, 60_000, () => now);
  await d2.refresh();
  now += 4_999;
  d2.refreshIfStale();
  assert.equal(short.calls.length, 1, 'a 1 s TTL still waits 5 s');
  now += 1;
  d2.refreshIfStale();
  assert.equal(short.calls.length, 2);
});

const cluster = (over: Partial<Cluster>): Cluster => ({
  name: 'outbound|80||api.example.com',
  service: 'api.example.com',
  port: 80,
  lbPolicy: 'ROUND_ROBIN',
  sni: '',
  protocol: 'http',
  external: true,
  endpoints: [ep('localhost')],
  ...over,
});

// The DNS and wildcard host code loads with the first snapshot that needs it (DataPlane.apply does that).
await loadClusterCode([cluster({ dns: 'STRICT' }), cluster({ dynamicHost: true })]);

test('a DNS cluster balances over what the system resolver says (real lookup of localhost)', async () => {
  const rt = new ClusterRuntime(cluster({ dns: 'STRICT' }));
  const { lookup } = await import('node:dns/promises');
  const want = (await lookup('localhost', { all: true, order: 'verbatim' })).map((a) => a.address);
  for (let i = 0; i < 100 && rt.healthy[0]!.address === 'localhost'; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    rt.healthy.map((e) => e.address),
    want,
  );
  assert.ok(want.includes(rt.pick()!.address));
});

test('a wildcard cluster without resolution: the named host once resolved, kept 5 s; errors say why', async () => {
  let now = 0;
  const dns = fakeDns({ 'a.example.com': ['10.0.0.1', '10.0.0.2'] });
  const named = new NamedHosts(ep(''), dns.lookup, () => now);
  assert.equal(named.get('a.example.com'), undefined);
  const a = await named.resolve('a.example.com');
  assert.ok(!(a instanceof Error));
  assert.deepEqual([a.address, a.port, a.instance], ['10.0.0.1', 8080, 'a.example.com']);
  assert.equal(named.get('a.example.com'), a);
  assert.ok((await named.resolve('b.example.com')) instanceof Error);
  assert.equal((await named.resolve('10.1.1.1')) instanceof Error, false, 'an IP needs no lookup');
  now = 5000;
  assert.equal(named.get('a.example.com'), undefined, 'expired');
  dns.answers['a.example.com'] = ['10.0.0.9'];
  assert.equal(((await named.resolve('a.example.com')) as Endpoint).address, '10.0.0.9');
  assert.deepEqual(dns.calls, ['a.example.com', 'b.example.com', 'a.example.com']);
});

test('a wildcard cluster narrowed to a named host: one endpoint, shared limits, the SNI of the name', async () => {
  const rt = new ClusterRuntime(
    cluster({
      name: 'outbound|443||*.example.com',
      dynamicHost: true,
      endpoints: [ep('')],
      connectionPool: { maxConnections: 3 },
      originateTls: { mode: 'SIMPLE', sni: '*.example.com' },
    }),
  );
  assert.equal(rt.pick(), undefined, 'the wildcard cluster itself has no endpoint');
  const one = await rt.forHost('127.0.0.1');
  assert.ok(!(one instanceof Error));
  assert.deepEqual(
    one.healthy.map((e) => `${e.address}:${e.port}`),
    ['127.0.0.1:8080'],
  );
  assert.equal(one.pick()?.address, '127.0.0.1');
  assert.equal(one.limits, rt.limits, "circuit breakers are the cluster's");
  assert.equal(one.cluster.originateTls?.sni, '127.0.0.1');
  assert.equal(await rt.forHost('127.0.0.1'), one, 'kept while the answer is fresh');
  assert.ok((await rt.forHost('nowhere.weft-test.invalid')) instanceof Error);
});
