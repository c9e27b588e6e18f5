import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openLoop, poolRounds } from './load.js';

test('rounds of an open loop pool into one result: percentiles over every request of every round', async (t) => {
  let served = 0;
  const server = http.createServer((_req, res) => {
    served++;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const target = { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, path: '/' };

  const run = () =>
    openLoop(target, { connections: 2, rate: 200, warmupS: 0.1, durationS: 0.5, keepSamples: true });
  const rounds = [await run(), await run()];
  for (const r of rounds) assert.equal(r.samples?.latency.length, r.ok);
  const pooled = poolRounds(rounds);

  assert.equal(pooled.ok, rounds[0]!.ok + rounds[1]!.ok);
  assert.equal(pooled.latency.count, pooled.ok);
  assert.equal(pooled.errors, 0);
  assert.equal(served, 2 * Math.round(0.6 * 200));
  assert.equal(pooled.durationS, 1);
  assert.deepEqual(pooled.roundP99, [rounds[0]!.latency.p99, rounds[1]!.latency.p99]);
  assert.equal(pooled.latency.max, Math.max(rounds[0]!.latency.max, rounds[1]!.latency.max));
  assert.equal(pooled.samples, undefined, 'raw samples stay out of the pooled result (and the report)');
});
