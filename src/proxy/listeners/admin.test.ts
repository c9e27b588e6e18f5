import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createAdminServer } from './admin.js';
import { WorkloadIdentity } from '../identity/certificates.js';

test('/memory reports this process: resident size, the V8 heap and its spaces', async (t) => {
  const server = createAdminServer({
    snapshot: () => undefined,
    tapSource: { subscribe: () => {}, unsubscribe: () => {} },
    identity: new WorkloadIdentity(),
    appReady: () => true,
    controlConnected: () => true,
    quit: () => {},
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;

  const res = await fetch(`http://127.0.0.1:${port}/memory`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const m = (await res.json()) as {
    rss: number;
    heap: { total: number; used: number; physical: number };
    spaces: Record<string, { size: number; used: number; physical: number }>;
  };
  const rss = process.memoryUsage.rss();
  assert.ok(m.rss > 0 && Math.abs(m.rss - rss) < 16 * 1024 * 1024, `${m.rss} vs ${rss}`);
  assert.ok(m.heap.used > 0 && m.heap.used <= m.heap.total, JSON.stringify(m.heap));
  assert.ok(m.spaces.new_space && m.spaces.old_space, Object.keys(m.spaces).join());
  assert.ok(m.spaces.old_space.used > 0);

  const other = await fetch(`http://127.0.0.1:${port}/nope`);
  assert.equal(other.status, 404);
  assert.match(await other.text(), /\/memory/);
});
