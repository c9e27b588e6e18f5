import { test } from 'node:test';
import assert from 'node:assert/strict';
import { oncePer } from './once-per.js';

test('oncePer: the first of each key per period, and again once the period is over', async () => {
  const first = oncePer(60);
  assert.deepEqual(
    ['a', 'a', 'b', 'a', 'b'].map((k) => first(k)),
    [true, false, true, false, false],
  );
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(
    ['a', 'a', 'b'].map((k) => first(k)),
    [true, false, true],
  );
});

test('oncePer: past maxKeys it forgets, rather than grow', () => {
  const first = oncePer(60_000, 2);
  assert.equal(first('a'), true);
  assert.equal(first('b'), true);
  assert.equal(first('c'), true); // forgot a and b
  assert.equal(first('a'), true);
  assert.equal(first('a'), false);
});
