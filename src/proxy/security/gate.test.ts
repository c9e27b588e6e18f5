// The security gate as a listener sees it: one call per request, in Istio's order (normalize, JWT,
// CUSTOM/DENY/ALLOW), with the answer the listener must send or the edits it must make.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityGate, loadGateCode } from './gate.js';
import { openSecurity, type AuthzPolicy, type InboundSecurity } from '../../model/security.js';
import type { GateHttpRequest, GateOutcome } from './gate-types.js';
import { jwksOf, makeKey, nowSeconds, rule, sign } from './jwt/testing.js';
import { startExtAuthzServer } from '../../../test/support/ext-authz-server.js';
import { closeExtAuthzAgent } from './authz/ext-authz.js';
import type { ExtAuthzProvider } from '../../model/security.js';

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

// The JWT and authorization code loads with the first snapshot that needs it (DataPlane.apply does that).
await loadGateCode({ ...openSecurity(), jwtRules: [rule(ISS)], policies: [denyAdmin] });

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

/** CUSTOM through the sample HTTP authorizer, with includeRequestBodyInCheck. */
async function withBodyProvider(
  allowPartialMessage: boolean,
  fn: (
    g: SecurityGate,
    received: () => { body: string; headers: Record<string, unknown> } | undefined,
  ) => Promise<void>,
): Promise<void> {
  const server = await startExtAuthzServer();
  const provider: ExtAuthzProvider = {
    name: 'body-authz',
    host: '127.0.0.1',
    port: server.port,
    pathPrefix: '',
    timeoutMs: 2000,
    failOpen: true,
    statusOnError: 403,
    includeRequestHeadersInCheck: ['x-ext-authz'],
    includeAdditionalHeadersInCheck: [],
    headersToUpstreamOnAllow: [],
    headersToDownstreamOnAllow: [],
    headersToDownstreamOnDeny: [],
    includeRequestBody: { maxRequestBytes: 4, allowPartialMessage, packAsBytes: false },
  };
  const custom: AuthzPolicy = {
    name: 'default/body',
    action: 'CUSTOM',
    provider: 'body-authz',
    rules: [{ from: [], to: [], when: [] }],
  };
  try {
    await fn(gate({ policies: [custom], providers: [provider] }), () => server.received.at(-1));
  } finally {
    await server.close();
    await closeExtAuthzAgent();
  }
}

const bodyOf = (text: string, max: number) => {
  const asked: number[] = [];
  const data = Buffer.from(text);
  return {
    asked,
    readBody: (m: number) => {
      asked.push(m);
      assert.equal(m, max);
      return Promise.resolve({ data: data.subarray(0, m), partial: data.length > m });
    },
  };
};

test('includeRequestBodyInCheck: the authorizer gets the body; over maxRequestBytes 413 before any check, failOpen or not', async () => {
  await withBodyProvider(false, async (g, received) => {
    const small = bodyOf('abcd', 4);
    const ok = await check(g, {
      method: 'POST',
      headers: { 'x-ext-authz': 'allow' },
      readBody: small.readBody,
    });
    assert.equal(ok.ok, true);
    assert.equal(received()?.body, 'abcd');

    const big = bodyOf('abcdefgh', 4);
    const before = received();
    const o = await check(g, { method: 'POST', headers: { 'x-ext-authz': 'allow' }, readBody: big.readBody });
    assert.ok(!o.ok);
    assert.deepEqual([o.status, o.body, o.flags], [413, 'Payload Too Large', '']);
    assert.equal(received(), before, 'the authorizer was not asked');

    const none = await check(g, {
      headers: { 'x-ext-authz': 'allow' },
      readBody: () => Promise.resolve(undefined),
    });
    assert.equal(none.ok, true, 'a request without a body is checked without one');
    assert.equal(received()?.body, '');
  });
});

test('includeRequestBodyInCheck with allowPartialMessage: the first maxRequestBytes go to the check', async () => {
  await withBodyProvider(true, async (g, received) => {
    const big = bodyOf('abcdefgh', 4);
    const o = await check(g, { method: 'POST', headers: { 'x-ext-authz': 'allow' }, readBody: big.readBody });
    assert.equal(o.ok, true);
    assert.deepEqual(big.asked, [4]);
    assert.equal(received()?.body, 'abcd');
  });
});

test('the body is read only for a provider that asks for it', async () => {
  let asked = 0;
  const readBody = () => {
    asked++;
    return Promise.resolve({ data: Buffer.alloc(0), partial: false });
  };
  await check(gate({ policies: [denyAdmin] }), { target: '/admin', readBody });
  await check(gate({}), { readBody });
  assert.equal(asked, 0);
});
