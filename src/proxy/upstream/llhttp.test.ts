import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lowerName } from './llhttp.js';

test('header names in lower case, remembered, and the memory bounded', () => {
  assert.equal(lowerName('Content-Type'), 'content-type');
  assert.equal(lowerName('Content-Type'), 'content-type', 'again, from what was remembered');
  assert.equal(lowerName('x-request-id'), 'x-request-id');
  assert.equal(lowerName('X-Forwarded-For'), 'x-forwarded-for');
  for (let i = 0; i < 3000; i++) assert.equal(lowerName(`X-Made-Up-${i}`), `x-made-up-${i}`);
  assert.equal(lowerName('Content-Length'), 'content-length');
});
