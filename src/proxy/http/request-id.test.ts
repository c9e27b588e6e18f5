import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestId } from './request-id.js';

test('request ids are version 4 UUIDs, distinct across several batches', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = requestId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 1000);
});

test('request ids use every hex digit in every random position', () => {
  // 2,000 ids: each of the 30 fully random positions shows all 16 digits (a fixed or stuck nibble fails).
  const ids = Array.from({ length: 2000 }, requestId);
  for (let pos = 0; pos < 36; pos++) {
    if ([8, 13, 14, 18, 19, 23].includes(pos)) continue; // dashes, the version and variant digits
    const digits = new Set(ids.map((id) => id[pos]));
    assert.equal(digits.size, 16, `position ${pos}: ${[...digits].sort().join('')}`);
  }
  assert.deepEqual(new Set(ids.map((id) => id[19])), new Set(['8', '9', 'a', 'b']), 'variant digit');
});
