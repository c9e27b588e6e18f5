// The security gate as a listener sees it: one call per request, in Istio's order (normalize, JWT,
// CUSTOM/DENY/ALLOW), with the answer the listener must send or the edits it must make.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityGate } from './gate.js';
import { openSecurity, type AuthzPolicy, type InboundSecurity } from '../../model/security.js';
import type { GateHttpRequest, GateOutcome } from './gate-types.js';
import { jwksOf, makeKey, nowSeconds, rule, sign } from './jwt/testing.js';

const ISS = 'https://issuer.test';

const request = (over: Partial<GateHttpRequest> = {}): GateHttpRequest => ({
  method: 'GET',
  target: '/',
  host: 'echo:8080',
  headers: {},
  peer: 'spiffe://cluster.local/ns/default/sa/client',
  sourceIp: '127.0.0.1',
  destinationIp: '127.0.0.1',
  destinationPort: 8080,
  sni: '',
  ...over,
});

const gate = (over: Partial<InboundSecurity>) => new SecurityGate({ ...openSecurity(), ...over });

async function check(g: SecurityGate, r: Partial<GateHttpRequest>): Promise<GateOutcome> {
  return await g.checkHttp(request(r));
}

const denyAdmin: AuthzPolicy = {
  name: 'default/deny-admin',
  action: 'DENY',
  rules: [{ from: [], to: [{ paths: ['/admin*'] }], when: [] }],
};

test('no policy: the normalized path goes to the app, synchronously, without edits', () => {
  const g = gate({});
  const o = g.checkHttp(request({ target: '/a/./b/../c?x=1' }));
  assert.ok(!('then' in o));
  assert.deepEqual(o, {
    ok: true,
    target: '/a/c?x=1',
    setHeaders: [],
    removeHeaders: [],
    responseHeaders: [],
  });
});

test('a path that cannot be normalized safely is 400 before any policy runs', async () => {
  const o = await check(gate({ policies: [denyAdmin] }), { target: '/admin%00' });
  assert.equal(o.ok, false);
  assert.equal(!o.ok && o.status, 400);
});

test('DENY answers 403 RBAC on the normalized path, and names the policy in the reason', async () => {
  const g = gate({ policies: [denyAdmin] });
  for (const target of ['/admin', '/x/../admin/y', '/%61dmin']) {
    const o = await check(g, { target });
    assert.ok(!o.ok, target);
    assert.equal(o.status, 403);
    assert.equal(o.body, 'RBAC: access denied');
    assert.equal(o.flags, 'RBAC');
    assert.match(o.reason, /default\/deny-admin/);
  }
  assert.equal((await check(g, { target: '/public' })).ok, true);
});

test('JWT: invalid token 401, missing token passes unless a rule has presence REQUIRED', async () => {
  const key = await makeKey('k1');
  const jwt = [rule(ISS, { jwks: jwksOf(key) })];
  const good = await sign(key, { iss: ISS, sub: 'alice', exp: nowSeconds() + 60 });
  const g = gate({ jwtRules: jwt });
  const bad = await check(g, { headers: { authorization: `Bearer ${good.slice(0, -4)}AAAA` } });
  assert.ok(!bad.ok);
  assert.equal(bad.status, 401);
  assert.equal(bad.body, 'Jwt verification fails');
  assert.ok(bad.headers.some(([k]) => k === 'www-authenticate'));
  assert.equal((await check(g, {})).ok, true, 'no token: left to AuthorizationPolicy');
  const ok = await check(g, { headers: { authorization: `Bearer ${good}` } });
  assert.ok(ok.ok);
  assert.ok(ok.removeHeaders.includes('authorization'), 'the token is not forwarded by default');

  const required = gate({ jwtRules: [rule(ISS, { jwks: jwksOf(key), required: true })] });
  const missing = await check(required, {});
  assert.ok(!missing.ok);
  assert.equal(missing.status, 401);
  assert.equal(missing.body, 'Jwt is missing');
});

test('ALLOW on requestPrincipals and claims, including a rule’s spaceDelimitedClaims', async () => {
  const key = await makeKey('k1');
  const policies: AuthzPolicy[] = [
    {
      name: 'default/roles',
      action: 'ALLOW',
      rules: [
        {
          from: [{ requestPrincipals: [`${ISS}/alice`] }],
          to: [],
          when: [{ key: 'request.auth.claims[roles]', values: ['admin'] }],
        },
      ],
    },
  ];
  const token = await sign(key, { iss: ISS, sub: 'alice', roles: 'reader admin', exp: nowSeconds() + 60 });
  const headers = { authorization: `Bearer ${token}` };
  const plain = gate({ jwtRules: [rule(ISS, { jwks: jwksOf(key) })], policies });
  assert.equal((await check(plain, { headers })).ok, false, '"reader admin" is one string value');
  const split = gate({
    jwtRules: [rule(ISS, { jwks: jwksOf(key), spaceDelimitedClaims: ['roles'] })],
    policies,
  });
  assert.equal((await check(split, { headers })).ok, true);
  const none = await check(split, {});
  assert.ok(!none.ok);
  assert.match(none.reason, /default\/roles/);
});

test('TCP: principals decide per connection; HTTP-only rules cannot allow a connection', () => {
  const g = gate({
    policies: [
      {
        name: 'default/db',
        action: 'ALLOW',
        rules: [{ from: [{ principals: ['cluster.local/ns/default/sa/api'] }], to: [], when: [] }],
      },
    ],
  });
  const conn = { sourceIp: '127.0.0.1', destinationIp: '127.0.0.1', destinationPort: 5432, sni: '' };
  assert.equal(g.checkTcp({ ...conn, peer: 'spiffe://cluster.local/ns/default/sa/api' }).allowed, true);
  assert.equal(g.checkTcp({ ...conn, peer: 'spiffe://cluster.local/ns/default/sa/web' }).allowed, false);
  assert.equal(g.checkTcp({ ...conn, peer: '' }).allowed, false, 'plaintext has no principal');
});
