// Path normalization against the known authorization-bypass shapes, per Istio pathNormalization mode.
// Expectations follow Istio's normalization integration test and Envoy's path_utility tests, except
// where Weft is deliberately stricter (uppercase hex in kept escapes, invalid escapes rejected).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, type PathNormalizationMode } from './path.js';

const MODES: PathNormalizationMode[] = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];

type Row = [input: string, none: string, base: string, merge: string, decode: string];

// Each row: the request target, then the normalized path in NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES.
const BYPASSES: Row[] = [
  // encoded slashes: kept (hex uppercased) until DECODE_AND_MERGE_SLASHES
  ['/admin%2Fsecret', '/admin%2Fsecret', '/admin%2Fsecret', '/admin%2Fsecret', '/admin/secret'],
  ['/admin%2fsecret', '/admin%2fsecret', '/admin%2Fsecret', '/admin%2Fsecret', '/admin/secret'],
  ['/admin%5Csecret', '/admin%5Csecret', '/admin%5Csecret', '/admin%5Csecret', '/admin/secret'],
  ['/admin%5csecret', '/admin%5csecret', '/admin%5Csecret', '/admin%5Csecret', '/admin/secret'],
  ['/public/..%2Fadmin', '/public/..%2Fadmin', '/public/..%2Fadmin', '/public/..%2Fadmin', '/admin'],
  ['/public/..%5cadmin', '/public/..%5cadmin', '/public/..%5Cadmin', '/public/..%5Cadmin', '/admin'],
  ['/%2Fadmin', '/%2Fadmin', '/%2Fadmin', '/%2Fadmin', '/admin'],
  // dot segments
  ['/public/../admin', '/public/../admin', '/admin', '/admin', '/admin'],
  ['/./admin', '/./admin', '/admin', '/admin', '/admin'],
  ['/admin/.', '/admin/.', '/admin/', '/admin/', '/admin/'],
  ['/admin/./x', '/admin/./x', '/admin/x', '/admin/x', '/admin/x'],
  ['/public/x/../../admin', '/public/x/../../admin', '/admin', '/admin', '/admin'],
  ['/public/%2e%2E/admin', '/public/%2e%2E/admin', '/admin', '/admin', '/admin'],
  ['/public/.%2e/admin', '/public/.%2e/admin', '/admin', '/admin', '/admin'],
  ['/app/%2E./admin', '/app/%2E./admin', '/admin', '/admin', '/admin'],
  // ".." never climbs above the root: clamped, as Envoy does
  ['/..', '/..', '/', '/', '/'],
  ['/../admin', '/../admin', '/admin', '/admin', '/admin'],
  ['/a/b/../../..', '/a/b/../../..', '/', '/', '/'],
  ['/a/b/../../../../c', '/a/b/../../../../c', '/c', '/c', '/c'],
  ['/a/b/..', '/a/b/..', '/a/', '/a/', '/a/'],
  // not dot segments
  ['/admin.', '/admin.', '/admin.', '/admin.', '/admin.'],
  ['/.well-known/x', '/.well-known/x', '/.well-known/x', '/.well-known/x', '/.well-known/x'],
  ['/.../admin', '/.../admin', '/.../admin', '/.../admin', '/.../admin'],
  ['/..;/admin', '/..;/admin', '/..;/admin', '/..;/admin', '/..;/admin'],
  ['/admin..', '/admin..', '/admin..', '/admin..', '/admin..'],
  // double slashes: merged only in the merge modes; dot segments are resolved first
  ['//admin', '//admin', '//admin', '/admin', '/admin'],
  ['/admin//x', '/admin//x', '/admin//x', '/admin/x', '/admin/x'],
  ['/admin//', '/admin//', '/admin//', '/admin/', '/admin/'],
  ['/app//../admin', '/app//../admin', '/app/admin', '/app/admin', '/app/admin'],
  ['/app//../../admin', '/app//../../admin', '/admin', '/admin', '/admin'],
  ['/xyz%30..//abc', '/xyz%30..//abc', '/xyz0..//abc', '/xyz0../abc', '/xyz0../abc'],
  ['//', '//', '//', '/', '/'],
  // backslashes become slashes in every normalizing mode
  ['/\\admin', '/\\admin', '//admin', '/admin', '/admin'],
  ['/app\\admin', '/app\\admin', '/app/admin', '/app/admin', '/app/admin'],
  ['/a/..\\admin', '/a/..\\admin', '/admin', '/admin', '/admin'],
  ['/app/\\/\\/\\admin', '/app/\\/\\/\\admin', '/app//////admin', '/app/admin', '/app/admin'],
  [
    '/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc',
    '/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc',
    '/%5Capp%2F%5C%2F..%2Fadmin%5C/abc',
    '/%5Capp%2F%5C%2F..%2Fadmin%5C/abc',
    '/app/admin/abc',
  ],
  // encoded unreserved characters are decoded; everything else stays encoded (no double decoding)
  ['/%61dmin', '/%61dmin', '/admin', '/admin', '/admin'],
  ['/%41%2d%5f%7e%7E', '/%41%2d%5f%7e%7E', '/A-_~~', '/A-_~~', '/A-_~~'],
  ['/a%3cb', '/a%3cb', '/a%3Cb', '/a%3Cb', '/a%3Cb'],
  ['/a%25b', '/a%25b', '/a%25b', '/a%25b', '/a%25b'],
  ['/%252e%252e/admin', '/%252e%252e/admin', '/%252e%252e/admin', '/%252e%252e/admin', '/%252e%252e/admin'],
  ['/%252F', '/%252F', '/%252F', '/%252F', '/%252F'],
  ['/%c0%2e%c0%2e/admin', '/%c0%2e%c0%2e/admin', '/%C0.%C0./admin', '/%C0.%C0./admin', '/%C0.%C0./admin'],
  ['/%c0%afadmin', '/%c0%afadmin', '/%C0%AFadmin', '/%C0%AFadmin', '/%C0%AFadmin'],
  ['/a%0ab', '/a%0ab', '/a%0Ab', '/a%0Ab', '/a%0Ab'],
  // raw characters Envoy percent-encodes
  ['/a"b<c>', '/a"b<c>', '/a%22b%3Cc%3E', '/a%22b%3Cc%3E', '/a%22b%3Cc%3E'],
  ['/{x}|^`', '/{x}|^`', '/%7Bx%7D%7C%5E%60', '/%7Bx%7D%7C%5E%60', '/%7Bx%7D%7C%5E%60'],
  // case is preserved: /Admin and /admin are different paths
  ['/Admin', '/Admin', '/Admin', '/Admin', '/Admin'],
  ['/ADMIN/%2e/X', '/ADMIN/%2e/X', '/ADMIN/X', '/ADMIN/X', '/ADMIN/X'],
  // sub-delims and friends are left alone
  [
    "/a;b=c,d/e:f@g!$&'()*+",
    "/a;b=c,d/e:f@g!$&'()*+",
    "/a;b=c,d/e:f@g!$&'()*+",
    "/a;b=c,d/e:f@g!$&'()*+",
    "/a;b=c,d/e:f@g!$&'()*+",
  ],
  ['/', '/', '/', '/', '/'],
];

for (const [input, ...expected] of BYPASSES) {
  test(`normalizes ${JSON.stringify(input)}`, () => {
    MODES.forEach((mode, m) => {
      const got = normalizePath(input, mode);
      assert.deepEqual(got, { ok: true, path: expected[m], query: '' }, `${mode}: ${input}`);
    });
  });
}

test('the query is split off raw and is never part of the path', () => {
  for (const mode of MODES) {
    assert.deepEqual(normalizePath('/public?x=/admin', mode), {
      ok: true,
      path: '/public',
      query: 'x=/admin',
    });
    assert.deepEqual(normalizePath('/public?x=/../admin//%2f', mode), {
      ok: true,
      path: '/public',
      query: 'x=/../admin//%2f',
    });
    assert.deepEqual(normalizePath('/a/../b?', mode).ok, true);
    assert.equal((normalizePath('/a?', mode) as { query: string }).query, '');
    assert.equal((normalizePath('/a??b', mode) as { query: string }).query, '?b');
  }
  assert.deepEqual(normalizePath('/a/./b%2f?q=%2f', 'DECODE_AND_MERGE_SLASHES'), {
    ok: true,
    path: '/a/b/',
    query: 'q=%2f',
  });
});

test('the fragment is dropped from the path and the query in every mode', () => {
  for (const mode of MODES) {
    assert.deepEqual(normalizePath('/admin#x', mode), { ok: true, path: '/admin', query: '' });
    assert.deepEqual(normalizePath('/public#/../admin', mode), { ok: true, path: '/public', query: '' });
    assert.deepEqual(normalizePath('/admin#x?y=1', mode), { ok: true, path: '/admin', query: '' });
    assert.deepEqual(normalizePath('/admin?y=1#x', mode), { ok: true, path: '/admin', query: 'y=1' });
    assert.deepEqual(normalizePath('/admin#', mode), { ok: true, path: '/admin', query: '' });
    // whatever follows "#" is never looked at
    assert.deepEqual(normalizePath('/admin#%zz \u0001é', mode), { ok: true, path: '/admin', query: '' });
  }
  assert.deepEqual(normalizePath('/a/%2e%2e/admin#x', 'BASE'), { ok: true, path: '/admin', query: '' });
});

function rejected(target: string, mode: PathNormalizationMode): string {
  const got = normalizePath(target, mode);
  assert.equal(
    got.ok,
    false,
    `${mode}: ${JSON.stringify(target)} should be rejected, got ${JSON.stringify(got)}`,
  );
  return (got as { reason: string }).reason;
}

test('targets that are not an origin-form path are rejected in every mode', () => {
  for (const mode of MODES) {
    assert.match(rejected('', mode), /empty/);
    assert.match(rejected('*', mode), /"\*" is not a path/);
    assert.match(rejected('admin', mode), /must start with "\/"/);
    assert.match(rejected('http://example.com/admin', mode), /must start with "\/"/);
    assert.match(rejected('\\admin', mode), /must start with "\/"/);
    assert.match(rejected('%2Fadmin', mode), /must start with "\/"/);
    assert.match(rejected('?x=1', mode), /must start with "\/"/);
  }
});

test('an encoded NUL is rejected in every mode, NONE included', () => {
  for (const mode of MODES) {
    assert.match(rejected('/admin%00', mode), /encoded NUL byte \(%00\) at offset 6/);
    assert.match(rejected('/xyz/.%00../abc', mode), /%00/);
    assert.match(rejected('/xyz/AAAAA%%0000/abc', mode), /%00|percent-encoding/);
  }
  // %00 in the query is the app's business
  assert.deepEqual(normalizePath('/a?b=%00', 'BASE'), { ok: true, path: '/a', query: 'b=%00' });
});

test('invalid percent-encodings are rejected when normalizing, passed through in NONE', () => {
  for (const bad of [
    '/admin%zz',
    '/admin%4',
    '/admin%',
    '/admin%4?x',
    '/admin%4#x',
    '/a%g1',
    '/a%1g/b',
    '/%%41',
  ]) {
    for (const mode of MODES) {
      if (mode === 'NONE') {
        assert.equal(normalizePath(bad, mode).ok, true, bad);
        continue;
      }
      assert.match(
        rejected(bad, mode),
        /(invalid|truncated) percent-encoding at offset \d+; "%" must be followed by two hexadecimal digits/,
      );
    }
  }
  assert.match(rejected('/admin%zz', 'BASE'), /at offset 6/);
  assert.match(rejected('/admin%4', 'BASE'), /truncated percent-encoding at offset 6/);
});

test('raw control characters, whitespace and DEL are rejected in every mode, with a readable reason', () => {
  for (const mode of MODES) {
    assert.equal(
      rejected('/ad min', mode),
      'request path contains a space at offset 3; it must be percent-encoded (as %20)',
    );
    assert.equal(
      rejected('/ad\tmin', mode),
      'request path contains a tab at offset 3; it must be percent-encoded (as %09)',
    );
    assert.equal(
      rejected('/admin\u0000', mode),
      'request path contains a control character (byte 0x00) at offset 6; it must be percent-encoded (as %00)',
    );
    assert.match(rejected('/a\r\nb', mode), /control character \(byte 0x0D\) at offset 2/);
    assert.match(rejected('/a\u007fb', mode), /byte 0x7F/);
    assert.match(rejected('/a\u001bb', mode), /byte 0x1B/);
    assert.match(rejected('/a?b=1 2', mode), /request query contains a space at offset 6/);
    assert.match(rejected('/a?b=\n', mode), /request query contains a control character \(byte 0x0A\)/);
  }
});

test('non-ASCII characters that were not percent-encoded are rejected in every mode', () => {
  for (const mode of MODES) {
    assert.match(rejected('/café', mode), /non-ASCII character at offset 4; .*percent-encoded as UTF-8/);
    assert.match(rejected('/caf\u00c3\u00a9', mode), /non-ASCII character at offset 4/); // UTF-8 bytes read as latin1
    assert.match(rejected('/a\u2028b', mode), /non-ASCII/);
    assert.match(rejected('/\ud83d\ude00', mode), /non-ASCII/);
  }
  // percent-encoded UTF-8 is fine and stays encoded
  assert.deepEqual(normalizePath('/caf%c3%a9', 'BASE'), { ok: true, path: '/caf%C3%A9', query: '' });
});

test('an already-normal path comes back as the same string', () => {
  for (const mode of MODES) {
    for (const p of [
      '/',
      '/a',
      '/a/b/c',
      '/reviews/1',
      '/api/v1/items/',
      '/a.b/c-d_e~f',
      '/.well-known/x',
      '/a..b',
    ]) {
      const got = normalizePath(p, mode);
      assert.ok(got.ok);
      assert.equal(got.path, p);
    }
  }
  const target = '/productpage?u=normal';
  const got = normalizePath(target, 'BASE');
  assert.deepEqual(got, { ok: true, path: '/productpage', query: 'u=normal' });
});

// A small seeded PRNG so failures reproduce.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  '/',
  '/',
  '/',
  '//',
  '.',
  '..',
  '.',
  'a',
  'b',
  'Admin',
  'x.y',
  '%2e',
  '%2E',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '\\',
  '%61',
  '%41',
  '%7e',
  '%7E',
  '~',
  '-',
  '_',
  '%25',
  '%252f',
  '%3c',
  '%3C',
  '%c0',
  '%AF',
  ';',
  ',',
  '=',
  '@',
  ':',
  '"',
  '{',
  '|',
  '%20',
  '%0a',
  '?q=/../x',
  '#frag',
  '%2e%2e',
  '.%2e',
  '%2e.',
];

test('normalization is idempotent and leaves no bypass shapes (property, 5000 inputs per mode)', () => {
  const rand = mulberry32(0x5eed);
  const hexCase = /%[0-9A-F]?[a-f]/;
  let accepted = 0;
  for (let n = 0; n < 5000; n++) {
    let target = '/';
    const count = 1 + Math.floor(rand() * 12);
    for (let k = 0; k < count; k++) target += PIECES[Math.floor(rand() * PIECES.length)];
    for (const mode of MODES) {
      const first = normalizePath(target, mode);
      assert.ok(first.ok, `${mode}: ${JSON.stringify(target)} was rejected: ${first.ok ? '' : first.reason}`);
      accepted++;
      const again = normalizePath(first.path, mode);
      assert.deepEqual(
        again,
        { ok: true, path: first.path, query: '' },
        `${mode} not idempotent on ${JSON.stringify(target)}`,
      );
      // the query round-trips untouched
      if (first.query !== '') {
        const withQuery = normalizePath(`${first.path}?${first.query}`, mode);
        assert.deepEqual(withQuery, first);
      }
      if (mode === 'NONE') continue;
      const segments = first.path.split('/');
      assert.ok(
        !segments.includes('.') && !segments.includes('..'),
        `${mode}: dot segment left in ${first.path}`,
      );
      assert.ok(!first.path.includes('\\'), `${mode}: backslash left in ${first.path}`);
      assert.ok(!hexCase.test(first.path), `${mode}: lowercase hex left in ${first.path}`);
      assert.ok(
        !/%(2[DE]|3\d|[46][1-9A-F]|[57][0-9A]|5F|7E)/.test(first.path),
        `${mode}: encoded unreserved left in ${first.path}`,
      );
      if (mode === 'BASE') continue;
      assert.ok(!first.path.includes('//'), `${mode}: double slash left in ${first.path}`);
      if (mode === 'DECODE_AND_MERGE_SLASHES') {
        assert.ok(!/%2F|%5C/.test(first.path), `${mode}: escaped slash left in ${first.path}`);
      }
    }
  }
  assert.equal(accepted, 5000 * MODES.length);
});
