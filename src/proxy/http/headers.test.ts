// endToEnd: hop-by-hop headers and those a Connection header names stay on this hop, whatever the
// Connection value (the usual ones take a shortcut, the rest are parsed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endToEnd } from './headers.js';

test('hop-by-hop headers are dropped, gRPC keeps te: trailers', () => {
  assert.deepEqual(
    endToEnd({ 'transfer-encoding': 'chunked', upgrade: 'h2c', te: 'trailers', 'content-type': 'a/b' }),
    { te: 'trailers', 'content-type': 'a/b' },
  );
  assert.deepEqual(endToEnd({ te: 'gzip', 'x-a': '1' }), { 'x-a': '1' });
});

test('Connection: keep-alive and close drop only what they name', () => {
  const h = { 'content-length': '3', 'keep-alive': 'timeout=5', close: 'x', 'x-a': '1' };
  assert.deepEqual(endToEnd({ ...h, connection: 'keep-alive' }), {
    'content-length': '3',
    close: 'x',
    'x-a': '1',
  });
  assert.deepEqual(endToEnd({ ...h, connection: 'Keep-Alive' }), {
    'content-length': '3',
    close: 'x',
    'x-a': '1',
  });
  assert.deepEqual(endToEnd({ ...h, connection: 'close' }), { 'content-length': '3', 'x-a': '1' });
  assert.deepEqual(endToEnd({ ...h, connection: '' }), { 'content-length': '3', close: 'x', 'x-a': '1' });
});

test('Connection lists are parsed: any case, with spaces', () => {
  assert.deepEqual(endToEnd({ connection: 'Keep-Alive, X-A ,x-b', 'x-a': '1', 'x-b': '2', 'x-c': '3' }), {
    'x-c': '3',
  });
  assert.deepEqual(endToEnd({ connection: 'CLOSE', close: 'x', 'x-c': '3' }), { 'x-c': '3' });
});

test('omit leaves one header out of the copy (the peer metadata the proxies exchange)', () => {
  const copy = endToEnd(
    { 'x-weft-peer-metadata': 'm', 'x-a': '1', connection: 'keep-alive' },
    'x-weft-peer-metadata',
  );
  assert.deepEqual(copy, { 'x-a': '1' });
});
