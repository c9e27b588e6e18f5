import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { holdOptimizingCompiler, optimizingCompilerHeld } from './startup-jit.js';
import { closeNow, track } from './listeners/tracked.js';

test('TurboFan stays held until the first connection to a data-plane listener', async () => {
  holdOptimizingCompiler();
  assert.equal(optimizingCompilerHeld(), true);
  const server = track(net.createServer((s) => s.end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A quiet proxy: timers and other work, no connection.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(optimizingCompilerHeld(), true);

  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => socket.on('close', resolve).resume());
  assert.equal(optimizingCompilerHeld(), false);
  await closeNow(server);
});
