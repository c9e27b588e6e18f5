import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppProber } from './app-probe.js';

test('ready after one success; not ready only after three failures in a row', async () => {
  let healthy = true;
  let probes = 0;
  const server = http.createServer((_req, res) => {
    probes++;
    res.writeHead(healthy ? 200 : 500).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const changes: Array<{ ready: boolean; probes: number }> = [];
  const prober = new AppProber(
    () => ({ host: '127.0.0.1', port, path: '/health' }),
    (ready) => changes.push({ ready, probes }),
    20,
  );
  prober.start();
  const until = async (f: () => boolean) => {
    for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  };
  await until(() => changes.length === 1);
  assert.deepEqual(changes[0], { ready: true, probes: 1 });
  healthy = false;
  const failedFrom = probes;
  await until(() => changes.length === 2);
  prober.stop();
  server.close();
  assert.equal(changes[1]!.ready, false);
  assert.equal(changes[1]!.probes - failedFrom, 3, 'three failed probes before not ready');
});
