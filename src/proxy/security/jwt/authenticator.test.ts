// JwtAuthenticator with inline key sets: Istio's sample tokens, and tokens signed here (RS256, ES256,
// HS256) for every check Envoy's jwt_authn makes as Istio configures it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { fixture } from '../../../config/testing.js';
import { JwtAuthenticator, type JwtResult } from './authenticator.js';
import { claimsAt } from './claims.js';
import { JwksCache } from './jwks.js';
import { removeQueryParams } from './locations.js';
import { JwtStatus, wwwAuthenticate } from './status.js';
import { jwksOf, makeHmacKey, makeKey, nowSeconds, rule, sign } from './testing.js';

const ISTIO_ISSUER = 'testing@secure.istio.io';
const sampleJwks = readFileSync(fixture('istio-samples/jwt/jwks.json'), 'utf8');
const demoJwt = readFileSync(fixture('istio-samples/jwt/demo.jwt'), 'utf8').trim();
const groupsJwt = readFileSync(fixture('istio-samples/jwt/groups-scope.jwt'), 'utf8').trim();

const ISS = 'https://issuer.example.com';
const rsa = await makeKey('rsa-1');
const rsaOther = await makeKey('rsa-1'); // same kid, other key: a forged signature
const ec = await makeKey('ec-1', 'ES256');
const jwks = jwksOf(rsa, ec);

function auth(...rules: Parameters<typeof rule>[]): JwtAuthenticator {
  return new JwtAuthenticator(
    rules.map((r) => rule(...r)),
    { cache: new JwksCache() },
  );
}

const bearer = (token: string): IncomingHttpHeaders => ({ authorization: `Bearer ${token}` });

async function run(a: JwtAuthenticator, headers: IncomingHttpHeaders, query = ''): Promise<JwtResult> {
  return a.authenticate(headers, query);
}

function okResult(r: JwtResult): Extract<JwtResult, { ok: true }> {
  assert.equal(r.ok, true, r.ok ? '' : `expected success, got ${r.status} ${r.message}`);
  return r as Extract<JwtResult, { ok: true }>;
}

function failure(r: JwtResult, message: string, status = 401): void {
  assert.deepEqual(r, { ok: false, status, message });
}

test("Istio's demo.jwt verifies against the sample jwks.json", async () => {
  const a = auth([ISTIO_ISSUER, { jwks: sampleJwks }]);
  const r = okResult(await run(a, bearer(demoJwt)));
  assert.equal(r.principal, 'testing@secure.istio.io/testing@secure.istio.io');
  assert.equal(r.claims?.foo, 'bar');
  assert.deepEqual(r.audiences, []);
  assert.equal(r.presenter, undefined);
  assert.deepEqual(r.removeHeaders, ['authorization']); // forwardOriginalToken defaults to false
  assert.deepEqual(r.setHeaders, []);
});

test("Istio's groups-scope.jwt: list claims reach the authz engine through claimsAt", async () => {
  const a = auth([ISTIO_ISSUER, { jwks: sampleJwks }]);
  const r = okResult(await run(a, bearer(groupsJwt)));
  assert.deepEqual(claimsAt(r.claims, ['groups']), ['group1', 'group2']);
  assert.deepEqual(claimsAt(r.claims, ['scope']), ['scope1', 'scope2']);
  assert.equal(claimsAt(r.claims, ['groups', 'x']), undefined);
});

test('no token: a synchronous pass with no principal', () => {
  const a = auth([ISS, { jwks }]);
  const r = a.authenticate({ host: 'x' }, '');
  assert.ok(!(r instanceof Promise));
  assert.deepEqual(r, { ok: true, setHeaders: [], removeHeaders: [] });
  // "Bearer" is case-sensitive in Envoy: another scheme is not a token for the default location.
  assert.ok(!(a.authenticate({ authorization: 'Basic dXNlcjpwYXNz' }, '') instanceof Promise));
});

test('a valid RS256 and ES256 token', async () => {
  const a = auth([ISS, { jwks }]);
  for (const key of [rsa, ec]) {
    const token = await sign(key, {
      iss: ISS,
      sub: 'alice',
      aud: 'svc',
      azp: 'web-app',
      exp: nowSeconds() + 600,
    });
    const r = okResult(await run(a, bearer(token)));
    assert.equal(r.principal, `${ISS}/alice`);
    assert.deepEqual(r.audiences, ['svc']);
    assert.equal(r.presenter, 'web-app');
  }
});

test('no sub: verified, but no request principal (Istio builds it from iss and sub)', async () => {
  const a = auth([ISS, { jwks }]);
  const r = okResult(await run(a, bearer(await sign(rsa, { iss: ISS }))));
  assert.equal(r.principal, undefined);
  assert.equal(r.claims?.iss, ISS);
});

test('expired, with 60 s of clock skew', async () => {
  const a = auth([ISS, { jwks }]);
  const old = await sign(rsa, { iss: ISS, sub: 'a', exp: nowSeconds() - 120 });
  failure(await run(a, bearer(old)), JwtStatus.JwtExpired);
  assert.equal(JwtStatus.JwtExpired, 'Jwt is expired');
  const withinSkew = await sign(rsa, { iss: ISS, sub: 'a', exp: nowSeconds() - 30 });
  okResult(await run(a, bearer(withinSkew)));
});

test('not yet valid (nbf in the future), with 60 s of clock skew', async () => {
  const a = auth([ISS, { jwks }]);
  const early = await sign(rsa, { iss: ISS, sub: 'a', nbf: nowSeconds() + 120 });
  failure(await run(a, bearer(early)), 'Jwt not yet valid');
  okResult(await run(a, bearer(await sign(rsa, { iss: ISS, sub: 'a', nbf: nowSeconds() + 30 }))));
});

test('an injected clock decides expiry', async () => {
  const token = await sign(rsa, { iss: ISS, sub: 'a', exp: 1_000_000 });
  const at = (s: number): JwtAuthenticator =>
    new JwtAuthenticator([rule(ISS, { jwks })], { cache: new JwksCache(), now: () => s * 1000 });
  okResult(await run(at(1_000_060), bearer(token)));
  failure(await run(at(1_000_061), bearer(token)), JwtStatus.JwtExpired);
});

test('wrong signature: other key with the same kid, and a tampered payload', async () => {
  const a = auth([ISS, { jwks }]);
  const forged = await sign(rsaOther, { iss: ISS, sub: 'a' });
  failure(await run(a, bearer(forged)), 'Jwt verification fails');
  const good = await sign(rsa, { iss: ISS, sub: 'a' });
  const [h, , s] = good.split('.');
  const tampered = `${h}.${Buffer.from(JSON.stringify({ iss: ISS, sub: 'admin' })).toString('base64url')}.${s}`;
  failure(await run(a, bearer(tampered)), JwtStatus.JwtVerificationFail);
});

test('a kid the key set does not have', async () => {
  const a = auth([ISS, { jwks }]);
  const token = await sign(rsa, { iss: ISS, sub: 'a' }, { kid: 'nope' });
  failure(await run(a, bearer(token)), "Jwks doesn't have key to match kid or alg from Jwt");
});

test('no kid in the token: every key that fits the alg is tried', async () => {
  const rsa2 = await makeKey('rsa-2');
  const a = auth([ISS, { jwks: jwksOf(rsa2, rsa) }]);
  okResult(await run(a, bearer(await sign(rsa, { iss: ISS, sub: 'a' }, { kid: null }))));
  failure(
    await run(a, bearer(await sign(rsaOther, { iss: ISS, sub: 'a' }, { kid: null }))),
    JwtStatus.JwtVerificationFail,
  );
});

test('a key without kid is tried for a token with a kid (jwt_verify_lib), after the kid matches', async () => {
  const { kid: _kid, ...noKid } = rsa.jwk;
  const a = auth([ISS, { jwks: JSON.stringify({ keys: [ec.jwk, noKid] }) }]);
  okResult(await run(a, bearer(await sign(rsa, { iss: ISS, sub: 'a' }, { kid: 'whatever' }))));
  failure(
    await run(a, bearer(await sign(rsaOther, { iss: ISS, sub: 'a' }, { kid: 'whatever' }))),
    JwtStatus.JwtVerificationFail,
  );
  const both = auth([ISS, { jwks: JSON.stringify({ keys: [rsaOther.jwk, noKid] }) }]);
  okResult(await run(both, bearer(await sign(rsa, { iss: ISS, sub: 'a' }))));
});

test('a token verified before is re-checked for time and audience on every request', async () => {
  let now = 1_000_000;
  const a = new JwtAuthenticator([rule(ISS, { jwks })], { cache: new JwksCache(), now: () => now * 1000 });
  const token = await sign(rsa, { iss: ISS, sub: 'a', exp: now + 100 });
  okResult(await run(a, bearer(token)));
  okResult(await run(a, bearer(token)));
  now += 161;
  failure(await run(a, bearer(token)), JwtStatus.JwtExpired);
  // The same token in a location of another issuer is still refused.
  const b = auth(
    [ISS, { jwks, fromHeaders: [{ name: 'x-a', prefix: '' }] }],
    ['other', { jwks, fromHeaders: [{ name: 'x-b', prefix: '' }] }],
  );
  const t = await sign(rsa, { iss: ISS, sub: 'a' });
  okResult(await run(b, { 'x-a': t }));
  failure(await run(b, { 'x-b': t }), JwtStatus.JwtUnknownIssuer);
});

test('HS256 with an "oct" key in the JWKS (Envoy accepts them)', async () => {
  const hmac = await makeHmacKey('h1');
  const a = auth([ISS, { jwks: jwksOf(hmac) }]);
  okResult(await run(a, bearer(await sign(hmac, { iss: ISS, sub: 'a' }))));
  const other = await makeHmacKey('h1');
  failure(await run(a, bearer(await sign(other, { iss: ISS, sub: 'a' }))), JwtStatus.JwtVerificationFail);
});

test('an inline jwks that is not a key set', async () => {
  const a = auth([ISS, { jwks: 'not json' }]);
  failure(await run(a, bearer(await sign(rsa, { iss: ISS }))), "Jwks doesn't have any valid public key");
});

test('issuer not matching any rule', async () => {
  const a = auth([ISS, { jwks }]);
  const token = await sign(rsa, { iss: 'https://evil.example.com', sub: 'a' });
  failure(await run(a, bearer(token)), 'Jwt issuer is not configured');
  failure(await run(a, bearer(await sign(rsa, { sub: 'no-iss' }))), JwtStatus.JwtUnknownIssuer);
});

test('audiences: any of the list, scheme and trailing slash ignored; 403 when none matches', async () => {
  const a = auth([ISS, { jwks, audiences: ['bookstore.example.com', 'https://orders.example.com/'] }]);
  const tok = (aud?: unknown): Promise<string> =>
    sign(rsa, { iss: ISS, sub: 'a', ...(aud !== undefined ? { aud } : {}) });
  okResult(await run(a, bearer(await tok('bookstore.example.com'))));
  okResult(await run(a, bearer(await tok(['other', 'http://orders.example.com']))));
  okResult(await run(a, bearer(await tok('https://bookstore.example.com/'))));
  failure(await run(a, bearer(await tok('other.example.com'))), 'Audiences in Jwt are not allowed', 403);
  failure(await run(a, bearer(await tok())), JwtStatus.JwtAudienceNotAllowed, 403);
  // Istio: no audiences in the rule means any audience (Envoy checks none).
  const any = auth([ISS, { jwks }]);
  okResult(await run(any, bearer(await tok('whatever'))));
});

test('malformed tokens get Envoy parse messages', async () => {
  const a = auth([ISS, { jwks }]);
  failure(
    await run(a, bearer('abc')),
    'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  );
  failure(await run(a, bearer('a..c')), JwtStatus.JwtBadFormat);
  failure(await run(a, bearer('a.b.c')), 'Jwt header is an invalid Base64url encoded');
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  failure(
    await run(a, bearer(`${b64({ alg: 'none' })}.${b64({ iss: ISS })}.c2ln`)),
    'Jwt header [alg] is not supported',
  );
  failure(
    await run(a, bearer(`${b64({ alg: 'RS256' })}.${Buffer.from('{').toString('base64url')}.c2ln`)),
    'Jwt payload is an invalid JSON',
  );
  failure(
    await run(a, bearer(`${b64({ alg: 'RS256' })}.${b64({ iss: ISS, exp: 'soon' })}.c2ln`)),
    'Jwt payload [exp] field is not an integer',
  );
  failure(
    await run(a, bearer(`${b64({ alg: 'RS256' })}.${b64({ iss: ISS, aud: [1] })}.c2ln`)),
    'Jwt payload [aud] field is not a string or string list',
  );
});

test('custom header with a prefix; the default locations are then not read', async () => {
  const a = auth([ISS, { jwks, fromHeaders: [{ name: 'X-Jwt-Assertion', prefix: 'Token ' }] }]);
  const token = await sign(rsa, { iss: ISS, sub: 'a' });
  const r = okResult(await run(a, { 'x-jwt-assertion': `Token ${token}` }));
  assert.equal(r.principal, `${ISS}/a`);
  assert.deepEqual(r.removeHeaders, ['x-jwt-assertion']);
  // Without the prefix the header holds no token for this location.
  assert.deepEqual(await run(a, { 'x-jwt-assertion': token }), {
    ok: true,
    setHeaders: [],
    removeHeaders: [],
  });
  // Authorization and access_token are only defaults: ignored once a location is configured.
  assert.equal(okResult(await run(a, bearer('garbage'), `access_token=garbage`)).principal, undefined);
});

test('custom header without a prefix: the whole value is the token', async () => {
  const a = auth([ISS, { jwks, fromHeaders: [{ name: 'x-goog-iap-jwt-assertion', prefix: '' }] }]);
  const token = await sign(rsa, { iss: ISS, sub: 'a' });
  okResult(await run(a, { 'x-goog-iap-jwt-assertion': token }));
  failure(
    await run(a, { 'x-goog-iap-jwt-assertion': `Bearer ${token}` }),
    JwtStatus.JwtHeaderParseErrorBadBase64,
  );
});

test('query parameter: the default access_token and a configured one, removed unless forwarded', async () => {
  const token = await sign(rsa, { iss: ISS, sub: 'a' });
  const a = auth([ISS, { jwks }]);
  const r = okResult(await run(a, {}, `x=1&access_token=${token}`));
  assert.equal(r.principal, `${ISS}/a`);
  assert.deepEqual(r.removeParams, ['access_token']);
  assert.deepEqual(r.removeHeaders, []);
  assert.equal(removeQueryParams(`x=1&access_token=${token}&y=2`, r.removeParams!), 'x=1&y=2');

  const b = auth([ISS, { jwks, fromParams: ['my_token'] }]);
  okResult(await run(b, {}, `?my_token=${token}`));
  failure(await run(b, {}, `my_token=bad`), JwtStatus.JwtBadFormat);
  assert.equal(okResult(await run(b, {}, `access_token=${token}`)).principal, undefined);

  const keep = auth([ISS, { jwks, fromParams: ['my_token'], forwardOriginalToken: true }]);
  assert.deepEqual(okResult(await run(keep, {}, `my_token=${token}`)).removeParams, []);
});

test('cookie: read, never removed (Envoy leaves cookies in place)', async () => {
  const token = await sign(rsa, { iss: ISS, sub: 'cookie-user' });
  const a = auth([ISS, { jwks, fromCookies: ['session'] }]);
  const r = okResult(await run(a, { cookie: `theme=dark; session=${token}; x=y` }));
  assert.equal(r.principal, `${ISS}/cookie-user`);
  assert.deepEqual(r.removeHeaders, []);
  assert.deepEqual(r.removeParams, []);
  failure(await run(a, { cookie: 'session=nope' }), JwtStatus.JwtBadFormat);
  assert.equal(okResult(await run(a, bearer(token))).principal, undefined);
});

test('outputPayloadToHeader: the payload segment as sent, base64url without padding', async () => {
  const a = auth([ISS, { jwks, outputPayloadToHeader: 'X-Jwt-Payload' }]);
  const claims = { iss: ISS, sub: 'a', name: 'Zoë', n: 1 };
  const token = await sign(rsa, claims);
  const r = okResult(await run(a, bearer(token)));
  assert.deepEqual(r.setHeaders, [['x-jwt-payload', token.split('.')[1]]]);
  assert.doesNotMatch(r.setHeaders[0]![1], /[=+/]/);
  assert.deepEqual(JSON.parse(Buffer.from(r.setHeaders[0]![1], 'base64url').toString()), claims);
  assert.deepEqual(r.removeHeaders, ['authorization']);
  // Without a token a client-sent x-jwt-payload is stripped (Envoy sanitizes the output headers).
  const none = await run(a, { 'x-jwt-payload': 'forged' });
  assert.deepEqual(none, { ok: true, setHeaders: [], removeHeaders: ['x-jwt-payload'] });
});

test('outputClaimToHeaders: strings, integers, booleans, nested; no header for lists and objects', async () => {
  const a = auth([
    ISS,
    {
      jwks,
      outputClaimToHeaders: [
        { header: 'X-Sub', claim: 'sub' },
        { header: 'x-level', claim: 'level' },
        { header: 'x-admin', claim: 'admin' },
        { header: 'x-ratio', claim: 'ratio' },
        { header: 'x-team', claim: 'org.team' },
        { header: 'x-groups', claim: 'groups' },
        { header: 'x-org', claim: 'org' },
        { header: 'x-missing', claim: 'missing' },
        { header: 'x-empty', claim: 'empty' },
      ],
    },
  ]);
  const token = await sign(rsa, {
    iss: ISS,
    sub: 'alice',
    level: 3,
    admin: false,
    ratio: 1.5,
    org: { team: 'payments' },
    groups: ['a', 'b'],
    empty: '',
  });
  const r = okResult(await run(a, bearer(token)));
  assert.deepEqual(Object.fromEntries(r.setHeaders), {
    'x-sub': 'alice',
    'x-level': '3',
    'x-admin': 'false',
    'x-ratio': '1.500000',
    'x-team': 'payments',
  });
  // Headers not produced this time are still stripped, the produced ones are set instead.
  assert.deepEqual(r.removeHeaders.sort(), ['authorization', 'x-empty', 'x-groups', 'x-missing', 'x-org']);
});

test('forwardOriginalToken: true keeps the Authorization header, false removes it', async () => {
  const token = await sign(rsa, { iss: ISS, sub: 'a' });
  const keep = okResult(await run(auth([ISS, { jwks, forwardOriginalToken: true }]), bearer(token)));
  assert.deepEqual(keep.removeHeaders, []);
  const drop = okResult(await run(auth([ISS, { jwks, forwardOriginalToken: false }]), bearer(token)));
  assert.deepEqual(drop.removeHeaders, ['authorization']);
});

test('two rules with different issuers: the token iss picks the rule', async () => {
  const other = await makeKey('other-1', 'ES256');
  const ISS2 = 'https://other.example.com';
  const a = auth(
    [ISS, { jwks, audiences: ['svc-a'] }],
    [
      ISS2,
      {
        jwks: jwksOf(other),
        forwardOriginalToken: true,
        outputClaimToHeaders: [{ header: 'x-who', claim: 'sub' }],
      },
    ],
  );
  const t1 = await sign(rsa, { iss: ISS, sub: 'one', aud: 'svc-a' });
  const t2 = await sign(other, { iss: ISS2, sub: 'two', aud: 'anything' });
  const r1 = okResult(await run(a, bearer(t1)));
  assert.equal(r1.principal, `${ISS}/one`);
  assert.deepEqual(r1.removeHeaders, ['x-who', 'authorization']);
  const r2 = okResult(await run(a, bearer(t2)));
  assert.equal(r2.principal, `${ISS2}/two`);
  assert.deepEqual(r2.setHeaders, [['x-who', 'two']]);
  assert.deepEqual(r2.removeHeaders, []);
  // Each issuer's keys and audiences apply to its own tokens only.
  failure(await run(a, bearer(await sign(rsa, { iss: ISS2, sub: 'x' }))), JwtStatus.JwksKidAlgMismatch);
  failure(
    await run(a, bearer(await sign(rsa, { iss: ISS, sub: 'x', aud: 'anything' }))),
    JwtStatus.JwtAudienceNotAllowed,
    403,
  );
});

test('a location only accepts the issuers that configured it', async () => {
  const ISS2 = 'https://other.example.com';
  const a = auth(
    [ISS, { jwks, fromHeaders: [{ name: 'x-a', prefix: '' }] }],
    [ISS2, { jwks, fromHeaders: [{ name: 'x-b', prefix: '' }] }],
  );
  okResult(await run(a, { 'x-b': await sign(rsa, { iss: ISS2, sub: 'b' }) }));
  // A valid token of issuer 1 sent in issuer 2's header.
  failure(await run(a, { 'x-b': await sign(rsa, { iss: ISS, sub: 'a' }) }), JwtStatus.JwtUnknownIssuer);
});

test('every token present must be valid', async () => {
  const a = auth([ISS, { jwks }]);
  const good = await sign(rsa, { iss: ISS, sub: 'a' });
  failure(await run(a, bearer(good), 'access_token=bad'), JwtStatus.JwtBadFormat);
  const r = okResult(await run(a, bearer(good), `access_token=${good}`));
  assert.deepEqual(r.removeHeaders, ['authorization']);
  assert.deepEqual(r.removeParams, ['access_token']);
});

test('CORS preflight passes whatever it carries (Istio sets bypass_cors_preflight)', () => {
  const a = auth([ISS, { jwks }]);
  const pre = { origin: 'https://app.example.com', 'access-control-request-method': 'GET', ...bearer('bad') };
  const r = a.authenticate(pre, '', 'OPTIONS');
  assert.ok(!(r instanceof Promise));
  assert.equal(r.ok, true);
  assert.ok(a.authenticate(bearer('bad'), '', 'OPTIONS') instanceof Promise);
});

test('no rules: everything passes untouched', () => {
  const a = new JwtAuthenticator([], { cache: new JwksCache() });
  assert.equal(a.enabled, false);
  assert.deepEqual(a.authenticate(bearer('garbage'), 'access_token=x'), {
    ok: true,
    setHeaders: [],
    removeHeaders: [],
  });
});

test('WWW-Authenticate as Envoy sends it with a JWT failure', () => {
  assert.equal(
    wwwAuthenticate('http', 'svc:8000', '/headers?x=1'),
    'Bearer realm="http://svc:8000/headers?x=1", error="invalid_token"',
  );
  assert.equal(
    wwwAuthenticate('https', 'h', '/' + 'a'.repeat(400)).length,
    'Bearer realm="https://h"'.length + 256 + ', error="invalid_token"'.length,
  );
});
