import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import type { ProxySnapshot } from '../../../model/snapshot.js';
import type { AccessLogSettings } from '../../../model/access-log.js';
import { httpRequests, publishRequest } from '../events.js';
import { record } from '../testing.js';
import { AccessLogs } from './logger.js';

const snap = (accessLog?: AccessLogSettings) => ({ accessLog }) as unknown as ProxySnapshot;

function logs() {
  const out: string[] = [];
  const a = new AccessLogs({ stdout: (t) => void out.push(...t.split('\n')), warn: () => {} });
  return { a, out };
}

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
