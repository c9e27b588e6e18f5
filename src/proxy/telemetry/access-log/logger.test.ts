import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import type { ProxySnapshot } from '../../../model/snapshot.js';
import type { AccessLogSettings } from '../../../model/access-log.js';
import { accessLogWants, httpRequests, publishRequest, publishTcp, type TcpRecord } from '../events.js';
import { record } from '../testing.js';
import { ACCESS_LOG_FLUSH_BYTES, AccessLogs } from './logger.js';

const snap = (accessLog?: AccessLogSettings) => ({ accessLog }) as unknown as ProxySnapshot;

function logs() {
  const out: string[] = [];
  // flushMs 0: written at the end of the turn, so a test need not wait for the flush timer.
  const a = new AccessLogs({ stdout: (t) => void out.push(...t.split('\n')), warn: () => {}, flushMs: 0 });
  return { a, out };
}

test('lines wait up to flushMs to go out in one write; 64 KiB waiting go at once; stop writes the rest', async () => {
  const writes: string[] = [];
  const a = new AccessLogs({ stdout: (t) => void writes.push(t), warn: () => {}, flushMs: 150 });
  a.commit(a.prepare(snap()));
  publishRequest(() => record({ path: '/one' }));
  await tick();
  publishRequest(() => record({ path: '/two' }));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(writes.length, 0, 'still within the flush interval');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(writes.length, 1, 'two turns, one write');
  assert.match(writes[0]!, /\/one.*\n.*\/two/);
  // A burst past ACCESS_LOG_FLUSH_BYTES is written without waiting for the timer.
  const long = '/' + 'x'.repeat(1000);
  for (let i = 0; i < (ACCESS_LOG_FLUSH_BYTES / 1000) * 1.2; i++)
    publishRequest(() => record({ path: long }));
  assert.equal(writes.length, 2, 'flushed by size');
  assert.ok(writes[1]!.length >= ACCESS_LOG_FLUSH_BYTES);
  publishRequest(() => record({ path: '/last' }));
  a.stop();
  assert.match(writes.at(-1)!, /\/last/, 'stop() writes what waits');
});

test("without access log settings: Weft's line for both sides, batched per turn", async () => {
  const { a, out } = logs();
  a.commit(a.prepare(snap()));
  assert.ok(a.active);
  publishRequest(() => record({ status: 503, flags: 'UH' }));
  publishRequest(() => record({ reporter: 'destination', listener: 'inbound' }));
  assert.equal(out.length, 0, 'written on the next turn');
  await tick();
  assert.equal(out.length, 2);
  assert.match(
    out[0]!,
    /\] outbound "GET \/reviews\/0 HTTP\/1\.1" 503 UH 3 "reviews:9080" "-" outbound\|9080\|v2\|/,
  );
  assert.match(out[1]!, /\] inbound "GET \/reviews\/0 HTTP\/1\.1" 200 - 3 "-" "-" "reviews:9080"$/);
  a.stop();
});

test('filters per sink, files, and no subscriber at all when nothing is logged', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-al-'));
  try {
    const { a, out } = logs();
    const file = join(dir, 'access.json');
    a.commit(
      a.prepare(
        snap({
          client: [
            {
              provider: 'envoy',
              path: '/dev/stdout',
              format: { kind: 'text', text: '%RESPONSE_CODE%' },
              filter: 'response.code >= 400',
            },
            { provider: 'json', path: file, format: { kind: 'json', labels: {} } },
          ],
          server: [],
        }),
      ),
    );
    publishRequest(() => record({ status: 200 }));
    publishRequest(() => record({ status: 503, flags: 'UF' }));
    publishRequest(() => record({ reporter: 'destination', listener: 'inbound', status: 500 }));
    await tick();
    assert.deepEqual(out, ['503']);
    const before = httpRequests.hasSubscribers;
    a.commit(a.prepare(snap({ client: [], server: [] })));
    assert.equal(a.active, false);
    await new Promise((r) => setTimeout(r, 50)); // the file stream ends
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.response_code, l.response_flags]),
      [
        [200, '-'],
        [503, 'UF'],
      ],
    );
    assert.ok(before);
    a.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a bad format or filter throws at prepare (the snapshot is NACKed), naming the provider', () => {
  const { a } = logs();
  assert.throws(
    () =>
      a.prepare(
        snap({
          client: [{ provider: 'p1', path: '/dev/stdout', format: { kind: 'text', text: '%NOPE%' } }],
          server: [],
        }),
      ),
    /access log provider "p1": unknown access log operator %NOPE%/,
  );
  assert.throws(
    () =>
      a.prepare(
        snap({
          client: [],
          server: [
            { provider: 'p2', path: '/dev/stdout', format: { kind: 'weft' }, filter: 'response.x > 1' },
          ],
        }),
      ),
    /access log provider "p2": filter "response.x > 1": unknown attribute response\.x/,
  );
});

const tcpClose = (over: Partial<TcpRecord> = {}): TcpRecord => ({
  reporter: 'source',
  event: 'close',
  sentBytes: 7,
  receivedBytes: 5,
  flags: '',
  log: {
    listener: 'gateway',
    startTime: Date.parse('2021-02-01T10:00:00.123Z'),
    durationMs: 40.2,
    downstream: { remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 443 },
    upstreamHost: '127.0.0.1:9000',
    upstreamCluster: 'outbound|9000||tcp-echo.default.svc.cluster.local',
    sni: 'echo.example',
  },
  ...over,
});

test("TCP streams: Weft's TCP line by default, only closes that carry log fields", async () => {
  const { a, out } = logs();
  a.commit(a.prepare(snap()));
  publishTcp(() => tcpClose({ event: 'open', log: undefined }));
  publishTcp(() => tcpClose({ log: undefined })); // a CONNECT tunnel: logged as its request instead
  publishTcp(() => tcpClose());
  await tick();
  assert.deepEqual(out, [
    '[2021-02-01T10:00:00.123Z] gateway tcp "echo.example" - 40 "127.0.0.1:9000" ' +
      'outbound|9000||tcp-echo.default.svc.cluster.local - received=5 sent=7',
  ]);
  a.stop();
});

test('TCP streams follow the configured format, filter and disabled sides', async () => {
  const { a, out } = logs();
  a.commit(
    a.prepare(
      snap({
        client: [
          {
            provider: 'json',
            path: '/dev/stdout',
            format: {
              kind: 'json',
              labels: {
                code: '%RESPONSE_CODE%',
                sent: '%BYTES_SENT%',
                flags: '%RESPONSE_FLAGS%',
                m: '%REQ(:METHOD)%',
              },
            },
          },
          {
            provider: 'errors',
            path: '/dev/stdout',
            format: { kind: 'text', text: 'err %RESPONSE_FLAGS%' },
            filter: "response.code < 400 || response.flags == 'UF'",
          },
        ],
        server: [], // disabled for the server side
      }),
    ),
  );
  assert.equal(accessLogWants.upstreamLocalAddress, false);
  publishTcp(() => tcpClose());
  publishTcp(() => tcpClose({ flags: 'UF', sentBytes: 0 }));
  publishTcp(() => tcpClose({ reporter: 'destination' }));
  await tick();
  // The filter sees no response code on a TCP stream (as Envoy's CEL): only the UF flag lets it log.
  assert.deepEqual(out, [
    '{"code":0,"flags":"-","m":null,"sent":7}',
    '{"code":0,"flags":"UF","m":null,"sent":0}',
    'err UF',
  ]);
  a.stop();
});

test('UPSTREAM_LOCAL_ADDRESS is recorded only while an installed format prints it', () => {
  const { a } = logs();
  const text = (t: string) =>
    snap({ client: [{ provider: 'p', path: '/dev/stdout', format: { kind: 'text', text: t } }], server: [] });
  a.commit(a.prepare(text('%DURATION%')));
  assert.equal(accessLogWants.upstreamLocalAddress, false);
  a.commit(a.prepare(text(''))); // Istio's default format prints it
  assert.equal(accessLogWants.upstreamLocalAddress, true);
  a.commit(a.prepare(snap()));
  assert.equal(accessLogWants.upstreamLocalAddress, false, "Weft's compact line does not");
  a.commit(a.prepare(text('%UPSTREAM_LOCAL_ADDRESS%')));
  const other = logs().a; // another proxy in the same process, without it
  other.commit(other.prepare(snap()));
  assert.equal(accessLogWants.upstreamLocalAddress, true, 'still wanted by the first');
  a.stop();
  assert.equal(accessLogWants.upstreamLocalAddress, false);
  other.stop();
});
