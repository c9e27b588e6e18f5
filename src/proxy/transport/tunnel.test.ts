// pipeSockets between real TCP connections: bytes both ways, and the idle timeout (tcp.idleTimeout):
// a tunnel with no byte either way is closed, one with bytes in either direction is not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { pipeSockets } from './tunnel.js';

let echo: net.Server;
let relay: net.Server;
let idleMs = 0;
const clients: net.Socket[] = [];

before(async () => {
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as AddressInfo).port;
  // A one-hop tunnel to the echo server, as the proxy's are.
  relay = net.createServer((down) => {
    const up = net.connect(echoPort, '127.0.0.1');
    pipeSockets(down, up, undefined, idleMs);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
});

after(() => {
  // Also when a test failed with its tunnels still open: nothing may keep the run alive.
  for (const c of clients) c.destroy();
  relay.close();
  echo.close();
});

/** A client through the tunnel: resolves with when it closed (ms after opening) and what came back. */
function client(everyMs?: number, forMs = 0) {
  const start = Date.now();
  const s = net.connect((relay.address() as AddressInfo).port, '127.0.0.1');
  clients.push(s);
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  s.on('error', () => {});
  s.write('hello');
  let lastWrite = start;
  const t = everyMs
    ? setInterval(() => {
        if (Date.now() - start >= forMs) return;
        s.write('.');
        lastWrite = Date.now();
      }, everyMs)
    : undefined;
  return {
    socket: s,
    lastWriteMs: () => lastWrite - start,
    closed: new Promise<{ afterMs: number; got: string }>((resolve) =>
      s.on('close', () => {
        clearInterval(t);
        resolve({ afterMs: Date.now() - start, got });
      }),
    ),
  };
}

test('bytes flow both ways; a tunnel without an idle timeout stays open', async () => {
  idleMs = 0;
  const c = client();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.socket.destroyed, false);
  c.socket.destroy();
  assert.equal((await c.closed).got, 'hello');
});

test(
  'a tunnel idle for idleTimeout is closed; one carrying bytes is not, until it too falls idle',
  { timeout: 5_000 },
  async () => {
    idleMs = 200;
    const quiet = client();
    const busy = client(50, 600); // a byte every 50 ms for 600 ms, then quiet
    const q = await quiet.closed;
    assert.ok(q.afterMs >= 190 && q.afterMs < 1_000, `closed after ${q.afterMs} ms`);
    assert.equal(q.got, 'hello');
    const b = await busy.closed;
    assert.ok(busy.lastWriteMs() >= 500, `bytes until ${busy.lastWriteMs()} ms`);
    assert.ok(
      b.afterMs >= busy.lastWriteMs() + 190,
      `the busy tunnel closed after ${b.afterMs} ms, its last byte at ${busy.lastWriteMs()}`,
    );
    assert.match(b.got, /^hello\.+$/);
  },
);
