// The HTTP/1.1 client on Node's llhttp (h1-connection.ts, h1-pools.ts, h1-request.ts) against real
// servers: node:http where it behaves as a typical app, raw sockets where a test needs bytes no
// well-behaved server sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http';
import { H1Pools } from './h1-pools.js';
import { requestHead, sendH1 } from './h1-request.js';
import type { BodySink, Trailers, UpstreamResponse } from './response.js';
import { RequestBody } from '../http/body.js';

interface Answer {
  status: number;
  headers: UpstreamResponse['headers'];
  body: string;
  trailers: Trailers;
}

/** A sink that collects the body (and can refuse writes to test backpressure). */
function collect(res: UpstreamResponse): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let trailers: Trailers = {};
    const sink: BodySink = {
      write: (c) => (chunks.push(c), true),
      end: () => {},
      once: () => {},
      writableNeedDrain: false,
    };
    res.pipeTo(sink, {
      trailers: (t) => (trailers = t),
      end: () =>
        resolve({
          status: res.status,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          trailers,
        }),
      error: () => reject(new Error('body cut')),
    });
  });
}

function send(
  pools: H1Pools,
  port: number,
  opts: { method?: string; path?: string; headers?: OutgoingHttpHeaders; body?: RequestBody } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const pool = pools.get({ host: '127.0.0.1', port, plain: true }, 2000);
    sendH1(
      pool,
      {
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers ?? { host: 'app' },
        body: opts.body,
        paced: true,
      },
      { onResponse: (r) => collect(r).then(resolve, reject), onError: reject },
    );
  });
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A raw server answering every request with `answer` (bytes as given) and recording what it read. */
async function rawServer(answer: (req: string) => string | undefined): Promise<{
  port: number;
  received: string[];
  connections: () => number;
  /** Destroy every connection (a server that crashed). */
  cut(): void;
  close(): void;
}> {
  const received: string[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      received.push(buf);
      const a = answer(buf);
      buf = '';
      if (a !== undefined) s.write(a);
    });
    s.on('error', () => {});
  });
  const port = await listen(server);
  return {
    port,
    received,
    connections: () => connections,
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () => server.close(),
  };
}

test('keep-alive: sequential requests share one connection; headers, status and body come through', async () => {
  const ports = new Set<number>();
  const server = http.createServer((req, res) => {
    ports.add(req.socket.remotePort!);
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('X-Mixed-Case', 'yes');
    res.end(`${req.method} ${req.url} host=${req.headers.host} x=${String(req.headers['x-list'])}`);
  });
  const port = await listen(server);
  const pools = new H1Pools({ idleTimeoutMs: 10_000 });
  try {
    for (let i = 0; i < 3; i++) {
      const a = await send(pools, port, {
        path: `/p${i}?q=1`,
        headers: { host: 'svc', 'x-list': ['1', '2'] },
      });
      assert.equal(a.status, 200);
      assert.equal(a.body, `GET /p${i}?q=1 host=svc x=1, 2`);
      assert.deepEqual(a.headers['set-cookie'], ['a=1', 'b=2']);
      assert.equal(a.headers['x-mixed-case'], 'yes');
    }
    assert.equal(ports.size, 1, 'one connection for three requests');
  } finally {
    pools.close();
    server.close();
  }
});

test('request bodies: kept bodies get a content-length, streamed ones are chunked, and both arrive whole', async () => {
  const seen: { te?: string; cl?: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({
        ...(req.headers['transfer-encoding'] ? { te: req.headers['transfer-encoding'] } : {}),
        ...(req.headers['content-length'] ? { cl: req.headers['content-length'] } : {}),
        body,
      });
      res.end('ok');
    });
  });
  const port = await listen(server);
  const pools = new H1Pools({ idleTimeoutMs: 10_000 });
  // A downstream request whose body is still arriving: a real client posting to a real server.
  const downstream = http.createServer((req, res) => {
    const body = RequestBody.start(req, 1024 * 1024);
    // A stale or wrong client framing header must not reach the upstream: ours replaces it.
    const headers = { host: 'app', 'transfer-encoding': 'gzip, chunked' };
    send(pools, port, { method: 'POST', headers, body }).then(
      (a) => res.end(a.body),
      () => res.end('failed'),
    );
  });
  const dport = await listen(downstream);
  try {
    const r = await fetch(`http://127.0.0.1:${dport}/`, {
      method: 'POST',
      body: new ReadableStream({
        async start(c) {
          c.enqueue(new TextEncoder().encode('hello '));
          await new Promise((r) => setTimeout(r, 50));
          c.enqueue(new TextEncoder().encode('world'));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(await r.text(), 'ok');
    assert.deepEqual(seen.at(-1), { te: 'chunked', body: 'hello world' });
    // POST without a body says so.
    await send(pools, port, { method: 'POST' });
    assert.deepEqual(seen.at(-1), { cl: '0', body: '' });
  } finally {
    pools.close();
    server.close();
    downstream.close();
  }
});

test('answers: HEAD has no body, 1xx are skipped, trailers and more than 32 headers are read', async () => {
  const many = Array.from({ length: 40 }, (_, i) => `x-h${i}: v${i}\r\n`).join('');
  const raw = await rawServer((req) => {
    if (req.startsWith('HEAD')) return 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n';
    if (req.startsWith('GET /continue'))
      return 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    if (req.startsWith('GET /trailers'))
      return 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\n\r\n';
    return `HTTP/1.1 200 OK\r\n${many}content-length: 4\r\n\r\nmany`;
  });
  const pools = new H1Pools({ idleTimeoutMs: 10_000 });
  try {
    const head = await send(pools, raw.port, { method: 'HEAD' });
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], '5');
    // The same connection carries on: llhttp did not wait for HEAD's 5 bytes.
    const cont = await send(pools, raw.port, { path: '/continue' });
    assert.equal(cont.status, 200);
    assert.equal(cont.body, 'ok');
    assert.equal(cont.headers.link, undefined, "103's headers are not the answer's");
    const t = await send(pools, raw.port, { path: '/trailers' });
    assert.equal(t.body, 'abc');
    assert.deepEqual(t.trailers, { 'grpc-status': '0' });
    const m = await send(pools, raw.port, { path: '/many' });
    assert.equal(m.body, 'many');
    assert.equal(m.headers['x-h0'], 'v0');
    assert.equal(m.headers['x-h39'], 'v39');
    assert.equal(raw.connections(), 1);
  } finally {
    pools.close();
    raw.close();
  }
});

test('an answer without a length ends with the connection, which is then not reused', async () => {
  const server = net.createServer((s) => {
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\n\r\nuntil the end'));
  });
  const port = await listen(server);
  const pools = new H1Pools({ idleTimeoutMs: 10_000 });
  try {
    assert.equal((await send(pools, port)).body, 'until the end');
    assert.equal((await send(pools, port)).body, 'until the end');
  } finally {
    pools.close();
    server.close();
  }
});

test("the server's Keep-Alive timeout is honoured, less a second: no request races its close", async () => {
  const raw = await rawServer(() => 'HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 1\r\n\r\nk');
  const pools = new H1Pools({ idleTimeoutMs: 10_000 });
  try {
    await send(pools, raw.port);
    await send(pools, raw.port);
    // timeout=1 leaves no time at all: every request takes a new connection.
    assert.equal(raw.connections(), 2);
  } finally {
    pools.close();
    raw.close();
  }
});

test('a connection the server closed while idle is not used again', async () => {
  const server = http.createServer((_req, res) => res.end('x'));
  server.keepAliveTimeout = 100;
  const port = await listen(server);
  const pools = new H1Pools({ idleTimeoutMs: 10_000 });
  try {
    await send(pools, port);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await send(pools, port)).body, 'x');
  } finally {
    pools.close();
    server.close();
  }
});

test('maxConnections queues requests beyond the cap; maxRequestsPerConnection recycles connections', async () => {
  let open = 0;
  let most = 0;
  const ports = new Set<number>();
  const server = http.createServer((req, res) => {
    ports.add(req.socket.remotePort!);
    setTimeout(() => res.end(req.url), 20);
  });
  server.on('connection', (s) => {
    most = Math.max(most, ++open);
    s.on('close', () => open--);
  });
  const port = await listen(server);
  const capped = new H1Pools({ idleTimeoutMs: 10_000, maxConnections: 2 });
  const recycled = new H1Pools({ idleTimeoutMs: 10_000, maxRequestsPerConnection: 1 });
  try {
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => send(capped, port, { path: `/${i}` })),
    );
    assert.deepEqual(
      answers.map((a) => a.body),
      ['/0', '/1', '/2', '/3', '/4', '/5'],
    );
    assert.equal(most, 2);
    ports.clear();
    for (let i = 0; i < 3; i++) await send(recycled, port);
    assert.equal(ports.size, 3, 'a new connection per request');
  } finally {
    capped.close();
    recycled.close();
    server.close();
  }
});

test('failures: refused is a connect failure (not started), a reset mid-answer fails the body', async () => {
  const probe = net.createServer();
  const closedPort = await listen(probe);
  probe.close();
  const pools = new H1Pools({ idleTimeoutMs: 10_000 });
  const raw = await rawServer(() => 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
  try {
    const refused = await new Promise<{ code?: string; started: boolean }>((resolve) =>
      sendH1(
        pools.get({ host: '127.0.0.1', port: closedPort, plain: true }, 2000),
        { method: 'GET', path: '/', headers: { host: 'x' }, body: undefined, paced: true },
        {
          onResponse: () => resolve({ started: true }),
          onError: (e, started) => resolve({ ...(e.code ? { code: e.code } : {}), started }),
        },
      ),
    );
    assert.deepEqual(refused, { code: 'ECONNREFUSED', started: false });
    const cut = send(pools, raw.port);
    await new Promise((r) => setTimeout(r, 100));
    raw.cut(); // the answer ends 93 bytes short
    await assert.rejects(cut, /body cut/);
  } finally {
    pools.close();
    raw.close();
  }
});

test('header injection is refused before anything is sent', () => {
  assert.throws(
    () => requestHead('GET', '/', { 'x-a': 'v\r\nx-injected: 1' }, 'h', undefined, false),
    /invalid/,
  );
  assert.throws(() => requestHead('GET', '/ HTTP/1.1\r\nx: y', {}, 'h', undefined, false), /invalid/);
  assert.throws(() => requestHead('GET', '/', { 'bad name': 'v' }, 'h', undefined, false), /invalid/);
  assert.equal(
    requestHead(
      'POST',
      '/x',
      { host: 'a', connection: 'close', expect: '100-continue', 'content-length': '9' },
      'h',
      3,
      false,
    ),
    'POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n',
  );
});

test(
  'a connection whose last answer met a full sink reads again for the next request',
  { timeout: 5000 },
  async () => {
    const server = http.createServer((_req, res) => res.end('answer'));
    const port = await listen(server);
    const pools = new H1Pools({ idleTimeoutMs: 10_000 });
    try {
      // The first answer's sink refuses every write and never drains (an HTTP/2 stream that was ended):
      // the connection stops reading for it, and must start again once the answer is complete.
      await new Promise<void>((resolve, reject) =>
        sendH1(
          pools.get({ host: '127.0.0.1', port, plain: true }, 2000),
          { method: 'GET', path: '/', headers: { host: 'x' }, body: undefined, paced: true },
          {
            onResponse: (res) =>
              res.pipeTo(
                { write: () => false, end: () => {}, once: () => {}, writableNeedDrain: true },
                { end: resolve, error: () => reject(new Error('cut')) },
              ),
            onError: reject,
          },
        ),
      );
      assert.equal((await send(pools, port)).body, 'answer');
    } finally {
      pools.close();
      server.close();
    }
  },
);

test('sweep timers run only while there are pools: an unused pool closes, and then the timers stop', async () => {
  const srv = await rawServer(() => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  const pools = new H1Pools({ idleTimeoutMs: 10_000 }, 50);
  try {
    assert.equal(pools.sweeping, false);
    assert.equal((await send(pools, srv.port)).body, 'ok');
    assert.equal(pools.sweeping, true);
    // Unused for a sweep period (marked), then closed at the next; with no pool left the timers stop.
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(pools.sweeping, false);
    // A later request starts them again, on a new connection (the idle one closed with its pool).
    assert.equal((await send(pools, srv.port)).body, 'ok');
    assert.equal(pools.sweeping, true);
    assert.equal(srv.connections(), 2);
  } finally {
    pools.close();
    srv.cut();
    srv.close();
  }
  assert.equal(pools.sweeping, false);
});

test('maxConnectionDuration: a connection past its age takes no more requests', async () => {
  const srv = await rawServer(() => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  const pools = new H1Pools({ idleTimeoutMs: 10_000, maxConnectionDurationMs: 150 });
  try {
    assert.equal((await send(pools, srv.port)).body, 'ok');
    assert.equal((await send(pools, srv.port)).body, 'ok');
    assert.equal(srv.connections(), 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await send(pools, srv.port)).body, 'ok');
    assert.equal(srv.connections(), 2);
  } finally {
    pools.close();
    srv.cut();
    srv.close();
  }
});
