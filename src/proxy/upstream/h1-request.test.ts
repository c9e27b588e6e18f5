import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { accessLogWants } from '../telemetry/events.js';
import { H1Pools } from './h1-pools.js';
import { requestHead, sendH1 } from './h1-request.js';
import type { UpstreamResponse } from './response.js';

function send(pools: H1Pools, port: number, path: string): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const pool = pools.get({ host: '127.0.0.1', port, plain: true }, 5000);
    sendH1(
      pool,
      { method: 'GET', path, headers: { host: 'x' }, body: undefined, paced: true },
      { onResponse: resolve, onError: reject },
    );
  });
}

test("UPSTREAM_LOCAL_ADDRESS: the connection's own end, each request its own, only while asked for", async () => {
  const clientPorts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    clientPorts.set(req.url!, req.socket.remotePort!);
    setTimeout(() => res.end('ok'), 20); // overlapping requests take different connections
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const pools = new H1Pools({ idleTimeoutMs: 1000 });
  try {
    accessLogWants.upstreamLocalAddress = true;
    const answers = await Promise.all(['/a', '/b', '/c'].map((p) => send(pools, port, p)));
    for (const [i, p] of ['/a', '/b', '/c'].entries()) {
      answers[i]!.discard();
      assert.equal(answers[i]!.upstreamLocal, `127.0.0.1:${clientPorts.get(p)}`, p);
    }
    assert.equal(new Set(clientPorts.values()).size, 3, 'three connections');
    accessLogWants.upstreamLocalAddress = false;
    const off = await send(pools, port, '/d');
    off.discard();
    assert.equal(off.upstreamLocal, undefined);
  } finally {
    accessLogWants.upstreamLocalAddress = false;
    pools.close();
    server.close();
  }
});

test('a request head: values the downstream parse gave pass as they are, any other is checked', () => {
  const parsed = ['Host', 'svc', 'User-Agent', 'curl/8'];
  const head = requestHead(
    'GET',
    '/',
    { host: 'svc', 'user-agent': 'curl/8', 'x-b': 'ok' },
    'svc',
    0,
    false,
    parsed,
  );
  assert.equal(
    head,
    'GET / HTTP/1.1\r\nhost: svc\r\nuser-agent: curl/8\r\nx-b: ok\r\ncontent-length: 0\r\n\r\n',
  );
  // A value put in by a filter (a JWT claim, an ext-authz header) is not among the parsed ones.
  assert.throws(
    () => requestHead('GET', '/', { host: 'svc', 'x-claim': 'a\r\nx-evil: 1' }, 'svc', 0, false, parsed),
    { code: 'ERR_INVALID_HTTP_TOKEN' },
  );
});
