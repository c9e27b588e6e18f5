// The pieces under the authenticator: Envoy's token parsing and time check, audience matching, token
// locations, and claim values for headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimHeaderValue, claimStrings } from './claims.js';
import { cookieValue, firstQueryValue, removeQueryParams, TokenExtractor } from './locations.js';
import { JwtStatus, statusCodeFor } from './status.js';
import { AudienceChecker, checkTime, parseJwt } from './token.js';
import { rule } from './testing.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (payload: unknown, header: unknown = { alg: 'RS256', kid: 'k' }): string =>
  `${b64(header)}.${b64(payload)}.c2ln`;

test('parseJwt: claims, audiences as a list, padded or unpadded base64url', () => {
  const r = parseJwt(jwt({ iss: 'i', sub: 's', aud: 'a', exp: 10.7, nbf: 5 }));
  assert.ok(r.ok);
  assert.equal(r.jwt.iss, 'i');
  assert.deepEqual(r.jwt.audiences, ['a']);
  assert.equal(r.jwt.exp, 10);
  assert.equal(r.jwt.kid, 'k');
  const padded = parseJwt(`${b64({ alg: 'ES256' })}.${Buffer.from('{"a":1}').toString('base64')}.c2ln`);
  assert.ok(padded.ok);
});

test('parseJwt: the checks in Envoy order, with its messages', () => {
  const msg = (t: string): string | undefined => {
    const r = parseJwt(t);
    return r.ok ? undefined : r.message;
  };
  assert.equal(msg('a.b'), JwtStatus.JwtBadFormat);
  assert.equal(msg('a.b.c.d'), JwtStatus.JwtBadFormat);
  assert.equal(msg(`${b64([1])}.${b64({})}.c2ln`), JwtStatus.JwtHeaderParseErrorBadJson);
  assert.equal(msg(jwt({}, { kid: 'k' })), JwtStatus.JwtHeaderBadAlg);
  assert.equal(msg(jwt({}, { alg: 'RS256', kid: 7 })), 'Jwt header [kid] field is not a string');
  assert.equal(msg(`${b64({ alg: 'RS256' })}.%%%.c2ln`), JwtStatus.JwtPayloadParseErrorBadBase64);
  assert.equal(msg(jwt({ iss: 1 })), 'Jwt payload [iss] field is not a string');
  assert.equal(msg(jwt({ sub: {} })), JwtStatus.JwtPayloadParseErrorSubNotString);
  assert.equal(msg(jwt({ iat: -1 })), 'Jwt payload [iat] field is not a positive 64 bit integer');
  assert.equal(msg(jwt({ nbf: '1' })), JwtStatus.JwtPayloadParseErrorNbfNotInteger);
  assert.equal(msg(jwt({ jti: 5 })), JwtStatus.JwtPayloadParseErrorJtiNotString);
  assert.equal(msg(`${b64({ alg: 'RS256' })}.${b64({})}.***`), JwtStatus.JwtSignatureParseErrorBadBase64);
});

test('checkTime: now + skew < nbf is early, now > exp + skew is late', () => {
  const r = parseJwt(jwt({ nbf: 1000, exp: 2000 }));
  assert.ok(r.ok);
  assert.equal(checkTime(r.jwt, 939), JwtStatus.JwtNotYetValid);
  assert.equal(checkTime(r.jwt, 940), undefined);
  assert.equal(checkTime(r.jwt, 2060), undefined);
  assert.equal(checkTime(r.jwt, 2061), JwtStatus.JwtExpired);
  assert.equal(checkTime(r.jwt, 2061, 0), JwtStatus.JwtExpired);
  const noExp = parseJwt(jwt({}));
  assert.ok(noExp.ok);
  assert.equal(checkTime(noExp.jwt, 4e9), undefined);
});

test('AudienceChecker: jwt_verify_lib CheckAudience cases', () => {
  for (const configured of ['example_service', 'http://example_service', 'https://example_service/']) {
    const c = new AudienceChecker([configured]);
    for (const aud of [
      'example_service',
      'http://example_service/',
      'https://example_service',
      'example_service/',
    ]) {
      assert.ok(c.allows([aud]), `${configured} vs ${aud}`);
    }
    assert.ok(!c.allows(['other']));
    assert.ok(!c.allows([]));
  }
  assert.ok(new AudienceChecker([]).allows(['anything']));
  assert.ok(new AudienceChecker(['a', 'b']).allows(['x', 'b']));
  assert.equal(statusCodeFor(JwtStatus.JwtAudienceNotAllowed), 403);
  assert.equal(statusCodeFor(JwtStatus.JwtExpired), 401);
});

test('TokenExtractor: Envoy prefix search, several header values, params and cookies in order', () => {
  const ex = new TokenExtractor([
    rule('a', {
      fromHeaders: [{ name: 'X-Token', prefix: 'Bearer ' }],
      fromParams: ['t'],
      fromCookies: ['c'],
    }),
    rule('b'),
  ]);
  const found = ex.extract(
    { 'x-token': 'Scheme Bearer   aa.bb.cc', authorization: 'Bearer dd.ee.ff', cookie: 'c=gg.hh.ii' },
    't=jj.kk.ll&access_token=mm',
  );
  assert.deepEqual(
    found.map((t) => [t.location.kind, t.location.name, t.token, [...t.location.issuers]]),
    [
      ['header', 'authorization', 'dd.ee.ff', ['b']],
      ['header', 'x-token', 'aa.bb.cc', ['a']],
      ['param', 'access_token', 'mm', ['b']],
      ['param', 't', 'jj.kk.ll', ['a']],
      ['cookie', 'c', 'gg.hh.ii', ['a']],
    ],
  );
  assert.deepEqual(
    ex.extract({ 'x-token': ['Bearer one', 'nothing', 'Bearer two'] }, '').map((t) => t.token),
    ['one', 'two'],
  );
  // Two rules sharing the default location: both issuers may use it.
  const shared = new TokenExtractor([rule('a'), rule('b')]);
  assert.deepEqual([...shared.headers[0]!.issuers], ['a', 'b']);
});

test('query and cookie helpers', () => {
  assert.equal(firstQueryValue('?a=1&t=x%2Ey&t=second', 't'), 'x.y');
  assert.equal(firstQueryValue('a=1', 't'), undefined);
  assert.equal(firstQueryValue('t', 't'), '');
  assert.equal(removeQueryParams('?a=1&t=x&b=2&t=y', ['t']), 'a=1&b=2');
  assert.equal(removeQueryParams('t=x', ['t']), '');
  assert.equal(cookieValue('a=1; tok="v.w.x"; b=2', 'tok'), 'v.w.x');
  assert.equal(cookieValue(['a=1', 'tok=z'], 'tok'), 'z');
  assert.equal(cookieValue('atok=1', 'tok'), undefined);
});

test('claim values for headers as Envoy writes them', () => {
  const p = {
    s: 'x',
    i: 42,
    big: 1e21,
    f: 0.25,
    neg: -3,
    t: true,
    o: { deep: { er: 'y' } },
    l: ['a'],
    n: null,
  };
  assert.equal(claimHeaderValue(p, 's'), 'x');
  assert.equal(claimHeaderValue(p, 'i'), '42');
  assert.equal(claimHeaderValue(p, 'big'), '1000000000000000000000.000000');
  assert.equal(claimHeaderValue(p, 'f'), '0.250000');
  assert.equal(claimHeaderValue(p, 'neg'), '-3.000000');
  assert.equal(claimHeaderValue(p, 't'), 'true');
  assert.equal(claimHeaderValue(p, 'o.deep.er'), 'y');
  assert.equal(claimHeaderValue(p, 'o'), undefined);
  assert.equal(claimHeaderValue(p, 'l'), undefined);
  assert.equal(claimHeaderValue(p, 'n'), undefined);
  assert.equal(claimHeaderValue(p, 'o.missing'), undefined);
  assert.deepEqual(claimStrings(['a', 1, 'b']), ['a', 'b']);
  assert.deepEqual(claimStrings('s'), ['s']);
  assert.deepEqual(claimStrings(3), []);
});
