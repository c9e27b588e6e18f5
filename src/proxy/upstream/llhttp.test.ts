import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isToken, lowerName } from './llhttp.js';

test('header names in lower case, remembered, and the memory bounded', () => {
  assert.equal(lowerName('Content-Type'), 'content-type');
  assert.equal(lowerName('Content-Type'), 'content-type', 'again, from what was remembered');
  assert.equal(lowerName('x-request-id'), 'x-request-id');
  assert.equal(lowerName('X-Forwarded-For'), 'x-forwarded-for');
  for (let i = 0; i < 3000; i++) assert.equal(lowerName(`X-Made-Up-${i}`), `x-made-up-${i}`);
  assert.equal(lowerName('Content-Length'), 'content-length');
});

test('header names are tokens: the remembered ones stay valid, a bad one is refused every time', () => {
  assert.equal(isToken('content-type'), true);
  assert.equal(isToken('content-type'), true, 'again, from what was remembered');
  for (const bad of ['bad name', 'x-a\r\nx-b', 'x:y', '', 'ü'])
    for (let i = 0; i < 2; i++) assert.equal(isToken(bad), false, JSON.stringify(bad));
  // Past the limit new names are checked each time, right either way.
  for (let i = 0; i < 1000; i++) assert.equal(isToken(`x-made-up-${i}`), true);
  assert.equal(isToken('x-made-up-999'), true);
  assert.equal(isToken('x made up'), false);
  assert.equal(isToken('content-type'), true);
});
