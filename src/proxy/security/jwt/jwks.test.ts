// Remote key sets served by a real local HTTP server: fetched once and shared across snapshots, refreshed
// in the background, kept when the server goes away, refetched for an unknown kid (rate-limited), and
// Envoy's "Jwks remote fetch is failed" while a URI has never been fetched.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { JwtAuthenticator, type JwtResult } from './authenticator.js';
import { JwksCache, type FetchLike } from './jwks.js';
import { JwtStatus } from './status.js';
import { JwksServer, jwksOf, makeKey, rule, sign, until } from './testing.js';

const ISS = 'https://issuer.example.com';
const key1 = await makeKey('k1');
const key2 = await makeKey('k2', 'ES256');
const key3 = await makeKey('k3');

const bearer = (t: string): { authorization: string } => ({ authorization: `Bearer ${t}` });
const run = async (a: JwtAuthenticator, token: string): Promise<JwtResult> =>
  a.authenticate(bearer(token), '');
const principal = (r: JwtResult): string | undefined => {
  assert.equal(r.ok, true, r.ok ? '' : r.message);
  return r.ok ? r.principal : undefined;
};

async function withServer(fn: (server: JwksServer, cache: JwksCache) => Promise<void>): Promise<void> {
  const server = await new JwksServer().start();
  const cache = new JwksCache({ idleGraceMs: 0 });
  try {
    await fn(server, cache);
  } finally {
    cache.clear();
    await server.stop();
  }
}

test('fetched once, cached, and shared by the next snapshot with the same jwksUri', () =>
  withServer(async (server, cache) => {
    server.body = jwksOf(key1);
    const a = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], { cache });
    await a.ready();
    assert.equal(server.hits, 1);
    const token = await sign(key1, { iss: ISS, sub: 'a' });
    for (let i = 0; i < 5; i++) assert.equal(principal(await run(a, token)), `${ISS}/a`);
    // The next snapshot is built before the old one is closed: same entry, no new fetch.
    const b = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri, outputPayloadToHeader: 'x-p' })], {
      cache,
    });
    a.close();
    await b.ready();
    assert.equal(principal(await run(b, token)), `${ISS}/a`);
    assert.equal(server.hits, 1);
    assert.equal(cache.get(server.uri)?.refs, 1);
    b.close();
    assert.equal(cache.get(server.uri), undefined); // idleGraceMs 0: dropped when nobody holds it
  }));

test('a snapshot swap that releases first still reuses the keys within the grace period', async () => {
  const server = await new JwksServer().start();
  const cache = new JwksCache({ idleGraceMs: 60_000 });
  try {
    server.body = jwksOf(key1);
    const a = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], { cache });
    await a.ready();
    a.close();
    const b = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], { cache });
    await b.ready();
    assert.equal(principal(await run(b, await sign(key1, { iss: ISS, sub: 'a' }))), `${ISS}/a`);
    assert.equal(server.hits, 1);
    b.close();
  } finally {
    cache.clear();
    await server.stop();
  }
});

test('refreshed in the background after the interval: new keys replace the old', () =>
  withServer(async (server, cache) => {
    server.body = jwksOf(key1);
    const a = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], {
      cache,
      refreshIntervalMs: 150,
      refetchCooldownMs: 60_000,
    });
    await a.ready();
    const t1 = await sign(key1, { iss: ISS, sub: 'one' });
    const t2 = await sign(key2, { iss: ISS, sub: 'two' });
    assert.equal(principal(await run(a, t1)), `${ISS}/one`);
    // k2 is unknown: the one on-demand refetch allowed by the cooldown happens now and finds nothing new.
    assert.deepEqual(await run(a, t2), { ok: false, status: 401, message: JwtStatus.JwksKidAlgMismatch });
    const before = server.hits;
    server.body = jwksOf(key2);
    await until(() => server.hits > before && cache.get(server.uri)!.keys!.kids.has('k2'));
    assert.equal(principal(await run(a, t2)), `${ISS}/two`);
    // k1 was rotated out; the cooldown keeps this from fetching again.
    const hits = server.hits;
    assert.deepEqual(await run(a, t1), { ok: false, status: 401, message: JwtStatus.JwksKidAlgMismatch });
    assert.ok(server.hits - hits <= 1); // at most a scheduled refresh landed meanwhile
    a.close();
  }));

test('server down: a failed refresh keeps the last good key set', () =>
  withServer(async (server, cache) => {
    server.body = jwksOf(key1);
    const a = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], {
      cache,
      refreshIntervalMs: 50,
      retryOnFailureMs: 50,
    });
    await a.ready();
    const token = await sign(key1, { iss: ISS, sub: 'a' });
    await server.stop();
    const entry = cache.get(server.uri)!;
    const attempts = entry.attempts;
    await until(() => entry.attempts >= attempts + 2 && entry.lastError !== undefined);
    assert.equal(entry.successes, 1);
    assert.equal(principal(await run(a, token)), `${ISS}/a`);
    a.close();
  }));

test('a non-2xx answer or a body that is not a key set is a failed fetch, keeping the old keys', () =>
  withServer(async (server, cache) => {
    server.body = jwksOf(key1);
    const a = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], {
      cache,
      refreshIntervalMs: 3_600_000,
    });
    await a.ready();
    const entry = cache.get(server.uri)!;
    server.status = 503;
    assert.equal(await entry.refresh(), false);
    assert.equal(entry.lastError, 'status 503');
    server.status = 200;
    server.body = '<html>';
    assert.equal(await entry.refresh(), false);
    server.body = '{"keys":[]}';
    assert.equal(await entry.refresh(), false);
    assert.equal(principal(await run(a, await sign(key1, { iss: ISS, sub: 'a' }))), `${ISS}/a`);
    a.close();
  }));

test('never fetched: "Jwks remote fetch is failed", then recovers once the server answers', async () => {
  const server = await new JwksServer().start();
  let clock = 1_000_000;
  const cache = new JwksCache({ idleGraceMs: 0, now: () => clock });
  try {
    server.status = 500;
    const a = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], {
      cache,
      refreshIntervalMs: 3_600_000,
      retryOnFailureMs: 3_600_000,
      refetchCooldownMs: 5_000,
    });
    await a.ready();
    assert.equal(server.hits, 1);
    const token = await sign(key1, { iss: ISS, sub: 'a' });
    // The first request may fetch on demand (the initial fetch was not on demand): still failing.
    assert.deepEqual(await run(a, token), { ok: false, status: 401, message: 'Jwks remote fetch is failed' });
    assert.equal(server.hits, 2);
    // Within the cooldown requests fail at once, without fetching.
    clock += 4_999;
    assert.deepEqual(await run(a, token), { ok: false, status: 401, message: JwtStatus.JwksFetchFail });
    assert.equal(server.hits, 2);
    // A request without a token is not affected.
    assert.deepEqual(a.authenticate({}, ''), { ok: true, setHeaders: [], removeHeaders: [] });
    server.status = 200;
    server.body = jwksOf(key1);
    clock += 1;
    assert.equal(principal(await run(a, token)), `${ISS}/a`);
    assert.equal(server.hits, 3);
    a.close();
  } finally {
    cache.clear();
    await server.stop();
  }
});

test('unreachable URI and a server that never answers (timeoutMs)', async () => {
  const cache = new JwksCache({ idleGraceMs: 0 });
  const server = await new JwksServer().start();
  try {
    const closedUri = server.uri;
    server.hang = true;
    const slow = new JwtAuthenticator([rule(ISS, { jwksUri: closedUri, timeoutMs: 150 })], { cache });
    const started = Date.now();
    await slow.ready();
    assert.ok(Date.now() - started < 2000);
    assert.match(cache.get(closedUri)!.lastError ?? '', /abort|timeout/i);
    const token = await sign(key1, { iss: ISS, sub: 'a' });
    assert.deepEqual(await run(slow, token), { ok: false, status: 401, message: JwtStatus.JwksFetchFail });
    slow.close();
  } finally {
    cache.clear();
    await server.stop();
  }
  const gone = new JwtAuthenticator([rule(ISS, { jwksUri: 'http://127.0.0.1:9/jwks.json' })], { cache });
  await gone.ready();
  assert.deepEqual(await run(gone, await sign(key1, { iss: ISS })), {
    ok: false,
    status: 401,
    message: JwtStatus.JwksFetchFail,
  });
  gone.close();
  cache.clear();
});

test('unknown kid: one refetch picks up a rotated-in key; further unknown kids wait for the cooldown', () =>
  withServer(async (server, cache) => {
    server.body = jwksOf(key1);
    const a = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], {
      cache,
      refreshIntervalMs: 3_600_000,
      refetchCooldownMs: 60_000,
    });
    await a.ready();
    assert.equal(server.hits, 1);
    server.body = jwksOf(key1, key2);
    assert.equal(principal(await run(a, await sign(key2, { iss: ISS, sub: 'two' }))), `${ISS}/two`);
    assert.equal(server.hits, 2);
    // Known kids never fetch.
    await run(a, await sign(key1, { iss: ISS, sub: 'one' }));
    assert.equal(server.hits, 2);
    // A second unknown kid within the cooldown: no fetch, Envoy's kid/alg message.
    server.body = jwksOf(key1, key2, key3);
    const t3 = await sign(key3, { iss: ISS, sub: 'three' });
    assert.deepEqual(await run(a, t3), { ok: false, status: 401, message: JwtStatus.JwksKidAlgMismatch });
    assert.equal(server.hits, 2);
    // Concurrent requests with unknown kids share one fetch.
    const fresh = new JwtAuthenticator([rule('https://other', { jwksUri: server.uri + '?b' })], {
      cache,
      refetchCooldownMs: 60_000,
    });
    await fresh.ready();
    const h = server.hits;
    server.body = jwksOf(key1, key2, key3);
    const t = await sign(key3, { iss: 'https://other', sub: 'x' }, { kid: 'k-new' });
    await Promise.all([run(fresh, t), run(fresh, t), run(fresh, t)]);
    assert.equal(server.hits, h + 1);
    fresh.close();
    a.close();
  }));

test("istiod's retry schedule: 1 min after a failure, doubling up to 60 min, back to the interval on success", async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let fail = true;
    const calls: number[] = [];
    let elapsed = 0;
    const fetch: FetchLike = async () => {
      calls.push(elapsed);
      if (fail) throw new Error('down');
      return { ok: true, status: 200, text: async () => jwksOf(key1) };
    };
    const cache = new JwksCache({ fetch, idleGraceMs: 0 });
    const entry = cache.acquire('http://jwks.test/keys', {});
    const flush = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    const advance = async (ms: number): Promise<void> => {
      elapsed += ms;
      mock.timers.tick(ms);
      await flush();
    };
    await flush();
    assert.deepEqual(calls, [0]);
    await advance(59_999);
    assert.equal(calls.length, 1);
    await advance(1);
    assert.deepEqual(calls, [0, 60_000]);
    await advance(120_000);
    assert.deepEqual(calls, [0, 60_000, 180_000]);
    await advance(240_000);
    assert.equal(calls.length, 4);
    fail = false;
    await advance(480_000);
    assert.equal(calls.length, 5);
    assert.ok(entry.keys);
    await advance(20 * 60_000 - 1);
    assert.equal(calls.length, 5);
    await advance(1);
    assert.equal(calls.length, 6);
    cache.clear();
  } finally {
    mock.timers.reset();
  }
});

test('no jwks and no jwksUri: the key set is found through OpenID discovery of the issuer', () =>
  withServer(async (server, cache) => {
    server.body = jwksOf(key1);
    const a = new JwtAuthenticator([rule(server.issuer)], { cache });
    await a.ready();
    assert.equal(server.discoveryHits, 1);
    assert.equal(server.hits, 2);
    const token = await sign(key1, { iss: server.issuer, sub: 'a' });
    assert.equal(principal(await run(a, token)), `${server.issuer}/a`);
    assert.equal(server.hits, 2);
    a.close();
  }));

test('a verified token is re-verified once its issuer has a new key set', () =>
  withServer(async (server, cache) => {
    server.body = jwksOf(key1);
    const a = new JwtAuthenticator([rule(ISS, { jwksUri: server.uri })], {
      cache,
      refreshIntervalMs: 3_600_000,
    });
    await a.ready();
    const token = await sign(key1, { iss: ISS, sub: 'a' });
    assert.equal(principal(await run(a, token)), `${ISS}/a`);
    server.body = jwksOf(key2);
    assert.equal(await cache.get(server.uri)!.refresh(), true);
    assert.deepEqual(await run(a, token), { ok: false, status: 401, message: JwtStatus.JwksKidAlgMismatch });
    a.close();
  }));
