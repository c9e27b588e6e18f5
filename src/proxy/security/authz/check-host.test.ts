// The original-Host marker of ext-authz checks: only a value this process minted is honoured, and the header
// is removed either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHECK_HOST_HEADER, checkHostValue, takeCheckHost } from './check-host.js';

test('a minted marker gives back the Host and leaves the headers', () => {
  const h: Record<string, string> = { [CHECK_HOST_HEADER]: checkHostValue('httpbin.foo:8000'), a: '1' };
  assert.equal(takeCheckHost(h), 'httpbin.foo:8000');
  assert.deepEqual(h, { a: '1' });
});

test('a forged, repeated or absent marker gives nothing, and is removed', () => {
  for (const v of ['evil.example', `${'0'.repeat(32)} evil.example`, [checkHostValue('x'), 'y']]) {
    const h: Record<string, string | string[]> = { [CHECK_HOST_HEADER]: v };
    assert.equal(takeCheckHost(h), undefined, String(v));
    assert.deepEqual(h, {});
  }
  assert.equal(takeCheckHost({}), undefined);
});
