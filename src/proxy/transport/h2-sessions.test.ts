// H2Sessions against a real h2c server, counting the connections it accepts: one session per peer without
// limits; a new one every maxRequestsPerConnection requests, the old one closing only after its requests
// have ended (also when they were all opened at once, before the session had connected); and a session
// idle for idleTimeout closed, but never while a request is under way; one past maxConnectionDuration
// takes no new request; with maxConcurrentStreams, requests past the cap go on another session, and a
// session that has room again takes requests before any new one is opened.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { H2Sessions, type H2SessionLimits } from './h2-sessions.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('H2Sessions', () => {
  let server: http2.Http2Server;
  let port = 0;
  let connections = 0;

  before(async () => {
    server = http2.createServer((req, res) => {
      // /slow/N answers after N ms.
      const ms = Number(/^\/slow\/(\d+)/.exec(req.url)?.[1] ?? 0);
      setTimeout(() => res.end(`ok ${req.url}`), ms);
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  /** One request on the session `sessions` hands out, told to `opened` as the proxy does. */
  const get = (sessions: H2Sessions, path: string) => {
    const session = sessions.get({ host: '127.0.0.1', port }, true);
    const stream = session.request({ ':path': path });
    sessions.opened(session, stream);
    stream.end();
    return {
      session,
      body: new Promise<string>((resolve, reject) => {
        let text = '';
        stream.on('data', (d: Buffer) => (text += d.toString()));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      }),
    };
  };

  const counting = async (limits: H2SessionLimits | undefined, run: (s: H2Sessions) => Promise<void>) => {
    const sessions = new H2Sessions(limits);
    const before = connections;
    try {
      await run(sessions);
    } finally {
      sessions.close();
    }
    return connections - before;
  };

  test('without limits, one session carries every request to the peer', async () => {
    const opened = await counting(undefined, async (s) => {
      for (let i = 0; i < 5; i++) assert.equal(await get(s, `/n${i}`).body, `ok /n${i}`);
      await Promise.all([1, 2, 3].map((i) => get(s, `/m${i}`).body));
    });
    assert.equal(opened, 1);
  });

  test('maxRequestsPerConnection: a new session every N requests, one after another', async () => {
    const seen: http2.ClientHttp2Session[] = [];
    const opened = await counting({ maxRequestsPerConnection: 2 }, async (s) => {
      for (let i = 0; i < 5; i++) {
        const r = get(s, `/s${i}`);
        seen.push(r.session);
        assert.equal(await r.body, `ok /s${i}`);
      }
      // The spent sessions close once their requests have ended; the last one is still in use.
      await sleep(50);
      assert.deepEqual(
        seen.map((x) => x.closed),
        [true, true, true, true, false],
      );
    });
    assert.equal(opened, 3);
    assert.equal(seen[0], seen[1]);
    assert.notEqual(seen[1], seen[2]);
    assert.equal(seen[2], seen[3]);
    assert.notEqual(seen[3], seen[4]);
  });

  test('maxRequestsPerConnection: requests opened all at once on a connecting session all complete', async () => {
    const opened = await counting({ maxRequestsPerConnection: 3 }, async (s) => {
      // The first three go on a session that has not connected yet and is spent at once; a slow one
      // among them keeps it open while the rest are answered.
      const paths = ['/slow/150', '/a', '/b', '/c', '/d', '/slow/100', '/e'];
      const bodies = await Promise.all(paths.map((p) => get(s, p).body));
      assert.deepEqual(
        bodies,
        paths.map((p) => `ok ${p}`),
      );
    });
    assert.equal(opened, 3);
  });

  test('idleTimeout: an idle session is closed, a busy one is not', async () => {
    const opened = await counting({ idleTimeoutMs: 150 }, async (s) => {
      const a = get(s, '/x');
      assert.equal(await a.body, 'ok /x');
      // Within the idle timeout: the same session.
      await sleep(30);
      const b = get(s, '/y');
      assert.equal(b.session, a.session);
      await b.body;
      // A request longer than the idle timeout keeps its session open, and others share it meanwhile.
      const slow = get(s, '/slow/400');
      await sleep(200);
      const during = get(s, '/z');
      assert.equal(during.session, a.session);
      assert.equal(await during.body, 'ok /z');
      assert.equal(await slow.body, 'ok /slow/400');
      assert.equal(a.session.closed, false);
      // Idle past the timeout: closed, and the next request opens a new session.
      await sleep(300);
      assert.equal(a.session.closed, true);
      const c = get(s, '/w');
      assert.notEqual(c.session, a.session);
      assert.equal(await c.body, 'ok /w');
    });
    assert.equal(opened, 2);
  });

  test('maxConnectionDuration: past its age a session takes no new request, and finishes the ones it has', async () => {
    const opened = await counting({ maxConnectionDurationMs: 150 }, async (s) => {
      const slow = get(s, '/slow/300'); // still under way when the session comes of age
      await sleep(200);
      const next = get(s, '/n');
      assert.notEqual(next.session, slow.session);
      assert.equal(await next.body, 'ok /n');
      assert.equal(await slow.body, 'ok /slow/300');
      await sleep(30);
      assert.equal(slow.session.closed, true);
      assert.equal(next.session.closed, false);
    });
    assert.equal(opened, 2);
  });

  test('maxConcurrentStreams: past the cap another session; one with room again is used before a new one', async () => {
    const opened = await counting({ maxConcurrentStreams: 2 }, async (s) => {
      // Five at once: 2 + 2 + 1 on three sessions.
      const first = [1, 2, 3, 4, 5].map((i) => get(s, `/slow/200?${i}`));
      const sessions = new Set(first.map((r) => r.session));
      assert.equal(sessions.size, 3);
      for (const x of sessions) assert.ok(first.filter((r) => r.session === x).length <= 2);
      // One more fits on the third session, which holds one.
      const sixth = get(s, '/slow/200?6');
      assert.equal(first.filter((r) => r.session === sixth.session).length, 1);
      assert.deepEqual(
        await Promise.all([...first, sixth].map((r) => r.body)),
        [1, 2, 3, 4, 5, 6].map((i) => `ok /slow/200?${i}`),
      );
      // Every session has room again: later requests reuse them, none opens a fourth.
      const later = await Promise.all([7, 8, 9].map((i) => get(s, `/l${i}`)).map((r) => r.body));
      assert.deepEqual(later, ['ok /l7', 'ok /l8', 'ok /l9']);
      assert.ok([...sessions].every((x) => !x.closed));
    });
    assert.equal(opened, 3);
  });

  test('maxConcurrentStreams: a session set aside at the cap takes requests again once one ends', async () => {
    const opened = await counting({ maxConcurrentStreams: 1 }, async (s) => {
      const a = get(s, '/slow/100');
      const b = get(s, '/slow/400'); // the cap reached on a: a second session
      assert.notEqual(b.session, a.session);
      assert.equal(await a.body, 'ok /slow/100');
      await sleep(20); // the stream closes just after its last byte
      // b's session is full, a's has room again: a takes the next request rather than a third session.
      const c = get(s, '/c');
      assert.equal(c.session, a.session);
      assert.equal(await c.body, 'ok /c');
      assert.equal(await b.body, 'ok /slow/400');
    });
    assert.equal(opened, 2);
  });
});
