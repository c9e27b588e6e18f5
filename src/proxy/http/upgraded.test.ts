import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { whenUpgradeEnds } from './upgraded.js';

test('an upgraded stream is reported when its socket closes, with the bytes after the 101', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const ended = new Promise<[number, number]>((resolve) => {
    server.once('connection', (s: net.Socket) => {
      s.write('HTTP/1.1 101 Switching Protocols\r\n\r\n'); // before: not counted
      whenUpgradeEnds(s, Buffer.from('ab'), (received, sent) => resolve([received, sent]));
      s.once('data', () => s.write('worldwide'));
    });
  });
  const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  let got = '';
  client.on('data', (c: Buffer) => {
    got += c.toString();
    if (got.endsWith('worldwide')) client.end();
  });
  client.write('hello');
  const [received, sent] = await ended;
  assert.deepEqual([received, sent], [2 + 5, 9]);
  server.close();
});

test('a socket already closed is reported at once', () => {
  const s = new net.Socket();
  s.destroy();
  let out: number[] = [];
  whenUpgradeEnds(s, Buffer.from('abc'), (r, w) => (out = [r, w]));
  assert.deepEqual(out, [3, 0]);
});
