import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LazyModule, whenLoaded } from './lazy-module.js';

test('a lazy module loads once, when needed, and says so when used before', async () => {
  let imports = 0;
  const m = new LazyModule('example', async () => ({ n: ++imports }));
  assert.equal(m.load(false), undefined);
  assert.throws(() => m.get(), /the example code is not loaded/);
  await m.load(true);
  assert.equal(m.get().n, 1);
  assert.equal(m.load(true), undefined, 'loaded: nothing to wait for');
  assert.equal(imports, 1);
});

test('whenLoaded waits for every load under way, and is undefined when there is none', async () => {
  assert.equal(whenLoaded([undefined, undefined]), undefined);
  let done = 0;
  const slow = new Promise<void>((r) => setTimeout(() => r(void done++), 10));
  await whenLoaded([undefined, slow, Promise.resolve().then(() => void done++)]);
  assert.equal(done, 2);
});
