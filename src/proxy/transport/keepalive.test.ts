// tcpKeepalive on real upstream sockets, as the kernel reports them (/proc/net/tcp, and getsockopt for
// what /proc does not show): an HTTP/1.1 pool's connections and an HTTP/2 session's get SO_KEEPALIVE
// with the configured idle time, the system's time for 0, and nothing without the setting; and the
// configured interval and probe count, libuv's 1 s and 10 without them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { H1Pools } from '../upstream/h1-pools.js';
import { sendH1 } from '../upstream/h1-request.js';
import { H2Sessions } from './h2-sessions.js';
import { keepaliveOptionsTo, tcpTimersTo, type TcpSocketTimer } from '../../../test/support/proc-net.js';
import type { TcpKeepalive } from '../../model/snapshot.js';
import { keepaliveOptions } from './keepalive.js';

const SYSTEM_TIME_S = Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8'));

const time = (timeMs: number | undefined): TcpKeepalive | undefined =>
  timeMs === undefined ? undefined : { timeMs };

/** The one idle client socket to `port`, once the kernel shows it. */
async function idleSocketTo(port: number): Promise<TcpSocketTimer> {
  for (let i = 0; i < 50; i++) {
    const sockets = await tcpTimersTo(port);
    if (sockets.length === 1 && sockets[0]!.timer !== 'retransmit') return sockets[0]!;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no single idle connection to port ${port}: ${JSON.stringify(await tcpTimersTo(port))}`);
}

describe('tcpKeepalive on upstream connections', () => {
  let h1: http.Server;
  let h2: http2.Http2Server;
  let h1Port = 0;
  let h2Port = 0;

  before(async () => {
    await keepaliveOptions.load(true); // as loadClusterCode does for a snapshot that sets them
    h1 = http.createServer((_req, res) => res.end('ok'));
    h2 = http2.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    h1Port = (h1.address() as AddressInfo).port;
    h2Port = (h2.address() as AddressInfo).port;
  });

  after(async () => {
    h1.closeAllConnections();
    await new Promise<void>((r) => h1.close(() => r()));
    await new Promise<void>((r) => h2.close(() => r()));
  });

  /** One request through a pool with these options; the connection then waits idle in the pool. */
  const h1Socket = async (keepalive: TcpKeepalive | undefined) => {
    const pools = new H1Pools({ idleTimeoutMs: 30_000, ...(keepalive ? { keepalive } : {}) });
    try {
      await new Promise<void>((resolve, reject) => {
        const pool = pools.get({ host: '127.0.0.1', port: h1Port, plain: true }, 2000);
        sendH1(
          pool,
          { method: 'GET', path: '/', headers: { host: 'app' }, body: undefined, paced: true },
          {
            onResponse: (res) =>
              res.pipeTo(
                { write: () => true, end: () => {}, once: () => {}, writableNeedDrain: false },
                { end: () => resolve(), error: () => reject(new Error('body cut')), trailers: () => {} },
              ),
            onError: reject,
          },
        );
      });
      return { timer: await idleSocketTo(h1Port), options: await keepaliveOptionsTo(h1Port) };
    } finally {
      pools.close();
    }
  };

  const h2Socket = async (keepalive: TcpKeepalive | undefined) => {
    const sessions = new H2Sessions(keepalive ? { keepalive } : undefined);
    try {
      const session = sessions.get({ host: '127.0.0.1', port: h2Port }, true);
      await new Promise<void>((resolve, reject) => {
        const stream = session.request({ ':path': '/' });
        stream.on('error', reject);
        stream.resume().on('end', resolve);
        stream.end();
      });
      return { timer: await idleSocketTo(h2Port), options: await keepaliveOptionsTo(h2Port) };
    } finally {
      sessions.close();
    }
  };

  for (const [name, open] of [
    ['HTTP/1.1 pool', h1Socket],
    ['HTTP/2 session', h2Socket],
  ] as const) {
    test(`${name}: the configured idle time, the system's for 0, none without`, async () => {
      const set = (await open(time(7_000))).timer;
      assert.equal(set.timer, 'keepalive');
      assert.ok(set.seconds > 0 && set.seconds <= 7, `first probe in ${set.seconds} s`);
      const system = (await open(time(0))).timer;
      assert.equal(system.timer, 'keepalive');
      assert.ok(system.seconds > SYSTEM_TIME_S - 60, `first probe in ${system.seconds} s`);
      const none = (await open(undefined)).timer;
      assert.equal(none.timer, 'none');
      // libuv counts whole seconds: a shorter time is raised to 1 s rather than falling back to 2 hours.
      const short = (await open(time(300))).timer;
      assert.equal(short.timer, 'keepalive');
      assert.ok(short.seconds <= 1, `first probe in ${short.seconds} s`);
    });

    test(`${name}: the configured interval and probes, libuv's 1 s and 10 without them`, async () => {
      const set = await open({ timeMs: 7_000, intervalMs: 20_000, probes: 3 });
      assert.equal(set.timer.timer, 'keepalive');
      assert.deepEqual(set.options, { intervalMs: 20_000, probes: 3 });
      assert.deepEqual((await open(time(7_000))).options, { intervalMs: 1000, probes: 10 });
      // Whole seconds, at least 1; at most the 127 probes Linux takes.
      assert.deepEqual((await open({ timeMs: 0, intervalMs: 1500, probes: 500 })).options, {
        intervalMs: 1000,
        probes: 127,
      });
    });
  }
});
