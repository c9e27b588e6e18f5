import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyTree } from './key-tree.js';

test('tuples map to values; undefined is a key part like any other', () => {
  const t = new KeyTree<string>(3);
  t.set([1, 'a', undefined], 'x');
  t.set([1, 'a', 'b'], 'y');
  t.set([1, 'a', 'b'], 'z');
  assert.equal(t.get([1, 'a', undefined]), 'x');
  assert.equal(t.get([1, 'a', 'b']), 'z');
  assert.equal(t.get([2, 'a', 'b']), undefined);
  assert.equal(t.get([1, 'b', 'b']), undefined);
  assert.equal(t.size, 2);
  t.clear();
  assert.equal(t.get([1, 'a', 'b']), undefined);
  assert.equal(t.size, 0);
});
