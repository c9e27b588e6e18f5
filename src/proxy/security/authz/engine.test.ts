// The AuthorizationPolicy engine against Istio's semantics: every field and its not-form, every condition
// key, path templates, CIDRs, nested claims, the CUSTOM → DENY → ALLOW order with AUDIT on the side, and
// what Istio does with HTTP-only fields on TCP traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  AuthzCondition,
  AuthzOperation,
  AuthzPolicy,
  AuthzRule,
  AuthzSource,
  ExtAuthzProvider,
} from '../../../model/security.js';
import { AuthzEngine, type AuthzRequest } from './engine.js';
import { formatExplanation } from './explain.js';

const SLEEP = 'cluster.local/ns/default/sa/sleep';

function req(o: Partial<AuthzRequest> = {}): AuthzRequest {
  return {
    tcp: false,
    principal: SLEEP,
    sourceIp: '10.0.0.5',
    remoteIp: '10.0.0.5',
    host: 'httpbin.foo:8000',
    method: 'GET',
    path: '/get',
    headers: {},
    destinationIp: '10.0.1.9',
    destinationPort: 8000,
    ...o,
  };
}

function rule(o: { from?: AuthzSource[]; to?: AuthzOperation[]; when?: AuthzCondition[] } = {}): AuthzRule {
  return { from: o.from ?? [], to: o.to ?? [], when: o.when ?? [] };
}

function pol(
  name: string,
  action: AuthzPolicy['action'],
  rules: AuthzRule[],
  provider?: string,
): AuthzPolicy {
  return { name, action, rules, ...(provider ? { provider } : {}) };
}

/** An ALLOW policy with one rule; `allows(r)` says whether a request gets through. */
function allowOnly(r: AuthzRule) {
  const e = new AuthzEngine([pol('foo/allow', 'ALLOW', [r])]);
  return (o: Partial<AuthzRequest> = {}) => e.checkLocal(req(o)).allowed;
}

/** A DENY policy with one rule; `denies(r)` says whether it denies a request. */
function denyOnly(r: AuthzRule) {
  const e = new AuthzEngine([pol('foo/deny', 'DENY', [r])]);
  return (o: Partial<AuthzRequest> = {}) => !e.checkLocal(req(o)).allowed;
}

const PROVIDER: ExtAuthzProvider = {
  name: 'sample-ext-authz',
  host: '127.0.0.1',
  port: 8000,
  pathPrefix: '',
  timeoutMs: 1000,
  failOpen: false,
  statusOnError: 403,
  includeRequestHeadersInCheck: ['x-ext-authz'],
  includeAdditionalHeadersInCheck: [],
  headersToUpstreamOnAllow: [],
  headersToDownstreamOnAllow: [],
  headersToDownstreamOnDeny: [],
};

test('no policy allows everything; a rule without from/to/when matches every request', () => {
  const none = new AuthzEngine([]);
  const d = none.checkLocal(req());
  assert.equal(d.allowed, true);
  assert.equal(d.action, 'NONE');
  assert.match(d.reason, /no authorization policy applies/);
  assert.ok(none.empty);

  const all = new AuthzEngine([pol('foo/allow-all', 'ALLOW', [rule()])]);
  const a = all.checkLocal(req({ principal: '', path: '/anything' }));
  assert.equal(a.allowed, true);
  assert.equal(a.policy, 'foo/allow-all');
  assert.equal(a.ruleIndex, 0);
  assert.equal(
    a.reason,
    'allowed by ALLOW policy foo/allow-all rule 0: the rule has no conditions, so it matches every request',
  );
});

test('an ALLOW policy without rules denies everything; DENY/AUDIT/CUSTOM without rules match nothing', () => {
  const e = new AuthzEngine([pol('foo/allow-nothing', 'ALLOW', [])]);
  const d = e.checkLocal(req());
  assert.equal(d.allowed, false);
  assert.equal(
    d.reason,
    'no ALLOW policy matched (policies: foo/allow-nothing); foo/allow-nothing has no rules',
  );

  const others = new AuthzEngine(
    [pol('foo/d', 'DENY', []), pol('foo/a', 'AUDIT', []), pol('foo/c', 'CUSTOM', [], 'sample-ext-authz')],
    [PROVIDER],
  );
  assert.equal(others.checkLocal(req()).allowed, true);
  assert.deepEqual(others.audited(req()), []);
  assert.equal(others.customPolicy(req()), undefined);
});

test('DENY wins over ALLOW, and the reasons say which rule and why', () => {
  const e = new AuthzEngine([
    pol('foo/a', 'ALLOW', [rule({ to: [{ methods: ['GET'] }] })]),
    pol('foo/deny-admin', 'DENY', [rule({ to: [{ paths: ['/admin*'] }] })]),
    pol('foo/b', 'ALLOW', [rule({ from: [{ namespaces: ['test'] }] })]),
  ]);
  const denied = e.checkLocal(req({ path: '/admin' }));
  assert.equal(denied.allowed, false);
  assert.equal(denied.action, 'DENY');
  assert.equal(
    denied.reason,
    'denied by DENY policy foo/deny-admin rule 0: path /admin matches paths [/admin*]',
  );

  const allowed = e.checkLocal(req());
  assert.equal(allowed.allowed, true);
  assert.equal(allowed.reason, 'allowed by ALLOW policy foo/a rule 0: method GET matches methods [GET]');

  // A denial's reason is fixed when decided, whatever later filters do to the request.
  const h: Record<string, string> = { 'x-user': 'mallory' };
  const byHeader = new AuthzEngine([
    pol('foo/deny-mallory', 'DENY', [
      rule({ when: [{ key: 'request.headers[x-user]', values: ['mallory'] }] }),
    ]),
  ]);
  const frozen = byHeader.checkLocal(req({ headers: h }));
  h['x-user'] = 'alice';
  assert.equal(
    frozen.reason,
    'denied by DENY policy foo/deny-mallory rule 0: header x-user="mallory" matches when request.headers[x-user] [mallory]',
  );

  const none = e.checkLocal(req({ method: 'POST' }));
  assert.equal(none.allowed, false);
  assert.equal(none.action, 'ALLOW');
  assert.equal(none.policy, undefined);
  assert.equal(none.reason, 'no ALLOW policy matched (policies: foo/a, foo/b)');

  const onlyDeny = new AuthzEngine([pol('foo/deny-admin', 'DENY', [rule({ to: [{ paths: ['/admin'] }] })])]);
  const ok = onlyDeny.checkLocal(req());
  assert.equal(ok.allowed, true);
  assert.equal(ok.reason, 'allowed: no DENY policy matched and no ALLOW policy applies to the workload');
  assert.deepEqual(JSON.parse(JSON.stringify(ok)), {
    allowed: true,
    action: 'NONE',
    reason: 'allowed: no DENY policy matched and no ALLOW policy applies to the workload',
  });
});

test('CUSTOM goes first to its provider; a provider that cannot be used denies what it matches', () => {
  const custom = pol('foo/ext', 'CUSTOM', [rule({ to: [{ paths: ['/headers'] }] })], 'sample-ext-authz');
  const deny = pol('foo/deny', 'DENY', [rule({ to: [{ paths: ['/headers'] }] })]);
  const e = new AuthzEngine([custom, deny], [PROVIDER]);
  const m = e.customPolicy(req({ path: '/headers' }));
  assert.ok(m);
  assert.equal(m.policy, custom);
  assert.equal(m.ruleIndex, 0);
  assert.equal(m.provider, PROVIDER);
  assert.equal(
    m.reason,
    'CUSTOM policy foo/ext rule 0 sends the request to provider sample-ext-authz: path /headers matches paths [/headers]',
  );
  assert.equal(e.customPolicy(req({ path: '/ip' })), undefined);
  // The local check after an allowing provider still applies DENY.
  assert.equal(e.checkLocal(req({ path: '/headers' })).action, 'DENY');
  // HTTP providers do not apply to TCP (Istio ignores CUSTOM with an HTTP provider on TCP filter chains).
  assert.equal(e.customPolicy(req({ tcp: true })), undefined);

  const missing = new AuthzEngine([custom], []);
  assert.equal(missing.customPolicy(req({ path: '/headers' })), undefined);
  const d = missing.checkLocal(req({ path: '/headers' }));
  assert.equal(d.allowed, false);
  assert.equal(d.action, 'CUSTOM');
  assert.match(
    d.reason,
    /^denied by CUSTOM policy foo\/ext rule 0: extension provider "sample-ext-authz" is not defined/,
  );
  assert.equal(missing.checkLocal(req({ path: '/ip' })).allowed, true);
  assert.ok(missing.warnings.some((w) => w.includes('not defined')));

  const two = new AuthzEngine(
    [custom, pol('foo/ext2', 'CUSTOM', [rule({ to: [{ paths: ['/x'] }] })], 'other')],
    [PROVIDER, { ...PROVIDER, name: 'other' }],
  );
  assert.equal(two.customPolicy(req({ path: '/x' })), undefined);
  assert.match(two.checkLocal(req({ path: '/x' })).reason, /2 different providers/);
});

test('AUDIT records without deciding', () => {
  const e = new AuthzEngine([
    pol('foo/audit-get', 'AUDIT', [rule({ to: [{ methods: ['GET'] }] })]),
    pol('foo/audit-post', 'AUDIT', [rule({ to: [{ methods: ['POST'] }] })]),
    pol('foo/audit-any', 'AUDIT', [rule(), rule()]),
  ]);
  assert.deepEqual(e.audited(req()), ['foo/audit-get', 'foo/audit-any']);
  assert.equal(e.checkLocal(req()).allowed, true);
});

test('principals: exact, prefix, suffix, and "*" meaning any authenticated peer', () => {
  const allows = allowOnly(rule({ from: [{ principals: ['cluster.local/ns/default/sa/sleep'] }] }));
  assert.ok(allows());
  assert.ok(
    allows({ principal: 'spiffe://cluster.local/ns/default/sa/sleep' }),
    'a spiffe:// prefix is tolerated',
  );
  assert.ok(!allows({ principal: 'cluster.local/ns/default/sa/other' }));
  assert.ok(!allows({ principal: '' }));

  const any = allowOnly(rule({ from: [{ principals: ['*'] }] }));
  assert.ok(any());
  assert.ok(!any({ principal: '' }), 'plaintext has no principal');
  assert.ok(!any({ principal: undefined }));

  const prefix = allowOnly(rule({ from: [{ principals: ['cluster.local/ns/default/*'] }] }));
  assert.ok(prefix() && !prefix({ principal: 'cluster.local/ns/prod/sa/sleep' }));
  const suffix = allowOnly(rule({ from: [{ principals: ['*/sa/sleep'] }] }));
  assert.ok(suffix() && !suffix({ principal: 'cluster.local/ns/default/sa/curl' }));

  // notPrincipals ["*"] in a DENY policy is Istio's "deny plaintext".
  const denies = denyOnly(rule({ from: [{ notPrincipals: ['*'] }] }));
  assert.ok(denies({ principal: '' }));
  assert.ok(!denies());
  const e = new AuthzEngine([pol('foo/require-mtls', 'DENY', [rule({ from: [{ notPrincipals: ['*'] }] })])]);
  assert.equal(
    e.checkLocal(req({ principal: '' })).reason,
    'denied by DENY policy foo/require-mtls rule 0: peer principal (none: no mTLS peer identity) does not match notPrincipals [*]',
  );
});

test("namespaces come from the peer's SPIFFE ID (not a claimed namespace)", () => {
  const allows = allowOnly(rule({ from: [{ namespaces: ['default', 'team-*'] }] }));
  assert.ok(allows());
  assert.ok(allows({ principal: 'cluster.local/ns/team-a/sa/x' }));
  assert.ok(!allows({ principal: 'cluster.local/ns/prod/sa/x' }));
  assert.ok(!allows({ principal: '', sourceNamespace: 'default' }), 'plaintext has no namespace');
  assert.ok(!allows({ principal: 'cluster.local/ns/prod/sa/x', sourceNamespace: 'default' }));
  const star = allowOnly(rule({ from: [{ namespaces: ['*'] }] }));
  assert.ok(star() && !star({ principal: '' }));
  const not = allowOnly(rule({ from: [{ notNamespaces: ['prod'] }] }));
  assert.ok(not() && !not({ principal: 'cluster.local/ns/prod/sa/x' }) && not({ principal: '' }));
});

test("trustDomains match the authority of the peer's SPIFFE ID", () => {
  const allows = allowOnly(rule({ from: [{ trustDomains: ['cluster.local', '*.corp'] }] }));
  assert.ok(allows());
  assert.ok(allows({ principal: 'spiffe://west.corp/ns/a/sa/b' }));
  assert.ok(!allows({ principal: 'other.local/ns/default/sa/sleep' }));
  assert.ok(!allows({ principal: 'cluster.locals' }), 'an ID without a path is all trust domain');
  assert.ok(allows({ principal: 'cluster.local' }));
  assert.ok(!allows({ principal: '' }));
  const not = denyOnly(rule({ from: [{ notTrustDomains: ['cluster.local'] }] }));
  assert.ok(not({ principal: 'evil.org/ns/default/sa/sleep' }) && !not() && not({ principal: '' }));
});

test('requestPrincipals split "iss/sub" at the last "/" and match each side as Istio does', () => {
  const claims = (iss: string, sub: string) => ({ requestPrincipal: `${iss}/${sub}`, claims: { iss, sub } });
  const any = allowOnly(rule({ from: [{ requestPrincipals: ['*'] }] }));
  assert.ok(any(claims('https://accounts.example.com', 'u1')));
  assert.ok(!any(), 'no JWT');

  const exact = allowOnly(rule({ from: [{ requestPrincipals: ['https://accounts.example.com/u1'] }] }));
  assert.ok(exact(claims('https://accounts.example.com', 'u1')));
  assert.ok(exact({ requestPrincipal: 'https://accounts.example.com/u1' }), 'from "iss/sub" when no claims');
  assert.ok(!exact(claims('https://accounts.example.com', 'u2')));

  // "iss/*": exact issuer, any subject; a longer issuer with the same prefix does not match.
  const issAny = allowOnly(rule({ from: [{ requestPrincipals: ['https://example.com/*'] }] }));
  assert.ok(issAny(claims('https://example.com', 'anyone')));
  assert.ok(!issAny(claims('https://example.com/tenant', 'x')));
  // "*/sub": any issuer, exact subject.
  const subOnly = allowOnly(rule({ from: [{ requestPrincipals: ['*/admin'] }] }));
  assert.ok(subOnly(claims('a', 'admin')) && !subOnly(claims('a', 'user')));
  // No "/": a suffix or prefix applies to the subject or the issuer.
  const email = allowOnly(rule({ from: [{ requestPrincipals: ['*@example.com'] }] }));
  assert.ok(email(claims('issuer', 'bob@example.com')) && !email(claims('issuer', 'bob@evil.com')));
  const issPrefix = allowOnly(rule({ from: [{ requestPrincipals: ['issuer-*'] }] }));
  assert.ok(issPrefix(claims('issuer-a', 'u')) && !issPrefix(claims('other', 'u')));
  // The split is at the last "/" even inside a URL: this is issuer "https:/" and subject prefix "accounts.".
  const quirk = allowOnly(rule({ from: [{ requestPrincipals: ['https://accounts.*'] }] }));
  assert.ok(!quirk(claims('https://accounts.google.com', 'u')));
  assert.ok(quirk(claims('https:/', 'accounts.x')));

  const denies = denyOnly(rule({ from: [{ notRequestPrincipals: ['*'] }] }));
  assert.ok(denies() && !denies(claims('i', 's')));
});

test('ipBlocks are the direct peer, remoteIpBlocks the original client; IPv4, IPv6 and mapped addresses', () => {
  const ip = allowOnly(rule({ from: [{ ipBlocks: ['10.0.0.0/24', '2001:db8::/32', '192.168.1.7'] }] }));
  assert.ok(ip());
  assert.ok(ip({ sourceIp: '::ffff:10.0.0.200' }));
  assert.ok(ip({ sourceIp: '2001:db8:aa::1' }));
  assert.ok(ip({ sourceIp: '192.168.1.7' }));
  assert.ok(!ip({ sourceIp: '192.168.1.8' }));
  assert.ok(!ip({ sourceIp: '10.0.1.5', remoteIp: '10.0.0.5' }), 'remote ip does not count for ipBlocks');
  assert.ok(!ip({ sourceIp: 'garbage' }));

  const remote = allowOnly(rule({ from: [{ remoteIpBlocks: ['203.0.113.0/24'] }] }));
  assert.ok(remote({ remoteIp: '203.0.113.9', sourceIp: '10.0.0.5' }));
  assert.ok(!remote());
  assert.ok(remote({ remoteIp: '', sourceIp: '203.0.113.1' }), 'no forwarded client: the peer is the client');

  const notIp = denyOnly(rule({ from: [{ notIpBlocks: ['10.0.0.0/8'] }] }));
  assert.ok(notIp({ sourceIp: '172.16.0.1' }) && !notIp());
  const notRemote = denyOnly(rule({ from: [{ notRemoteIpBlocks: ['10.0.0.0/8'] }] }));
  assert.ok(notRemote({ remoteIp: '8.8.8.8' }) && !notRemote());
});

test('hosts: case-insensitive, matched against the whole authority as Istio does (use "host:*" for ports)', () => {
  const exact = allowOnly(rule({ to: [{ hosts: ['HTTPBIN.foo'] }] }));
  assert.ok(exact({ host: 'httpbin.foo' }));
  assert.ok(!exact({ host: 'httpbin.foo:8000' }), 'Istio does not strip the port');
  const e = new AuthzEngine([pol('foo/a', 'ALLOW', [rule({ to: [{ hosts: ['HTTPBIN.foo'] }] })])]);
  assert.equal(
    e.explain(req({ host: 'httpbin.foo:8000' })).rules[0]!.detail,
    'to[0]: host httpbin.foo:8000 does not match hosts [HTTPBIN.foo] (Istio compares the whole authority, port ' +
      'included; add "httpbin.foo:*" to match any port)',
  );
  const withPort = allowOnly(rule({ to: [{ hosts: ['httpbin.foo', 'httpbin.foo:*'] }] }));
  assert.ok(withPort({ host: 'httpbin.foo:8000' }) && withPort({ host: 'Httpbin.Foo' }));
  const suffix = allowOnly(rule({ to: [{ hosts: ['*.example.com'] }] }));
  assert.ok(suffix({ host: 'api.EXAMPLE.com' }) && !suffix({ host: 'example.com' }));
  const any = allowOnly(rule({ to: [{ hosts: ['*'] }] }));
  assert.ok(any());
  const not = denyOnly(rule({ to: [{ notHosts: ['*.internal'] }] }));
  assert.ok(not({ host: 'public.com' }) && !not({ host: 'db.internal' }));
});

test('methods: case-sensitive, with prefix, suffix and "*"; notMethods', () => {
  const m = allowOnly(rule({ to: [{ methods: ['GET', 'P*'] }] }));
  assert.ok(m() && m({ method: 'POST' }) && m({ method: 'PUT' }));
  assert.ok(!m({ method: 'get' }) && !m({ method: 'DELETE' }));
  assert.ok(allowOnly(rule({ to: [{ methods: ['*'] }] }))({ method: 'DELETE' }));
  const not = denyOnly(rule({ to: [{ notMethods: ['GET', 'HEAD'] }] }));
  assert.ok(not({ method: 'POST' }) && !not({ method: 'HEAD' }));
});

test('paths: exact, prefix, suffix, "*", {*} and {**} templates, notPaths', () => {
  const p = allowOnly(
    rule({
      to: [{ paths: ['/exact', '/prefix/*', '*/suffix', '/path/template/{*}', '/{**}/path/template'] }],
    }),
  );
  for (const ok of [
    '/exact',
    '/prefix/',
    '/prefix/a/b',
    '/a/suffix',
    '/path/template/x',
    '/a/b/path/template',
  ]) {
    assert.ok(p({ path: ok }), ok);
  }
  for (const no of ['/exact/', '/Exact', '/prefix', '/suffix/x', '/path/template/x/y', '/path/template']) {
    assert.ok(!p({ path: no }), no);
  }
  assert.ok(allowOnly(rule({ to: [{ paths: ['*'] }] }))({ path: '/' }));
  const api = allowOnly(rule({ to: [{ paths: ['/api/{*}/items/{**}'] }] }));
  assert.ok(
    api({ path: '/api/v1/items/' }) &&
      api({ path: '/api/v1/items/1/2' }) &&
      !api({ path: '/api/v1/x/items/1' }),
  );
  const not = denyOnly(rule({ to: [{ notPaths: ['/public/*', '/health'] }] }));
  assert.ok(not({ path: '/admin' }) && !not({ path: '/public/x' }) && !not({ path: '/health' }));
});

test('an invalid value makes an ALLOW rule never match, and is ignored by a DENY rule (as Istio generates)', () => {
  const allow = new AuthzEngine([
    pol('foo/a', 'ALLOW', [
      rule({ to: [{ paths: ['/ok', '/{**}/x/{*}'] }] }),
      rule({ to: [{ ports: ['80'] }] }),
    ]),
  ]);
  assert.equal(allow.checkLocal(req({ path: '/ok' })).allowed, false);
  assert.equal(allow.checkLocal(req({ destinationPort: 80 })).allowed, true);
  assert.ok(allow.warnings.some((w) => w.includes('{**} must be the last operator')));

  const deny = new AuthzEngine([
    pol('foo/d', 'DENY', [rule({ to: [{ paths: ['/admin', '/{**}/x/{*}'] }] })]),
  ]);
  assert.equal(deny.checkLocal(req({ path: '/admin' })).allowed, false);
  assert.match(deny.checkLocal(req({ path: '/admin' })).reason, /Istio ignores: paths: .*\(ignored\)/);
  assert.equal(deny.checkLocal(req({ path: '/other' })).allowed, true);

  const badCidr = new AuthzEngine([pol('foo/d', 'DENY', [rule({ from: [{ ipBlocks: ['not-an-ip'] }] })])]);
  assert.equal(
    badCidr.checkLocal(req()).allowed,
    false,
    'the only value was dropped: the field no longer restricts',
  );
  const badPort = new AuthzEngine([pol('foo/a', 'ALLOW', [rule({ to: [{ ports: ['http'] }] })])]);
  assert.equal(badPort.checkLocal(req()).allowed, false);
  assert.match(badPort.checkLocal(req()).reason, /rule 0 never matches: ports: invalid port "http"/);
});

test('ports and notPorts compare the destination port', () => {
  const p = allowOnly(rule({ to: [{ ports: ['8000', '9000'] }] }));
  assert.ok(p() && p({ destinationPort: 9000 }) && !p({ destinationPort: 8080 }));
  const not = denyOnly(rule({ to: [{ notPorts: ['8000'] }] }));
  assert.ok(not({ destinationPort: 15000 }) && !not());
});

test('within a source or operation fields AND; from entries OR; to entries OR; when conditions AND', () => {
  const allows = allowOnly(
    rule({
      from: [{ principals: [SLEEP], ipBlocks: ['10.0.0.0/24'] }, { namespaces: ['test'] }],
      to: [
        { methods: ['GET'], paths: ['/info*'] },
        { methods: ['POST'], paths: ['/data'] },
      ],
      when: [
        { key: 'request.headers[x-env]', values: ['prod'] },
        { key: 'destination.port', values: ['8000'] },
      ],
    }),
  );
  const h = { 'x-env': 'prod' };
  assert.ok(allows({ path: '/info/x', headers: h }));
  assert.ok(allows({ method: 'POST', path: '/data', headers: h }));
  assert.ok(!allows({ method: 'POST', path: '/info', headers: h }), 'to entries are not mixed');
  assert.ok(!allows({ path: '/info', headers: h, sourceIp: '10.0.9.9' }), 'both fields of from[0]');
  assert.ok(
    allows({ path: '/info', headers: h, sourceIp: '10.0.9.9', principal: 'cluster.local/ns/test/sa/x' }),
  );
  assert.ok(!allows({ path: '/info' }), 'when header missing');
  assert.ok(!allows({ path: '/info', headers: h, destinationPort: 8001 }), 'every when condition');
});

test('when request.headers[...]: name case-insensitive, several values joined with ",", "*" is presence', () => {
  const c = allowOnly(rule({ when: [{ key: 'request.headers[X-Token]', values: ['abc*'] }] }));
  assert.ok(c({ headers: { 'x-token': 'abcdef' } }));
  assert.ok(!c({ headers: { 'x-token': 'zabc' } }));
  assert.ok(!c({ headers: {} }));
  const joined = allowOnly(rule({ when: [{ key: 'request.headers[x-a]', values: ['one,two'] }] }));
  assert.ok(joined({ headers: { 'x-a': ['one', 'two'] } }), 'Envoy matches multiple values joined by ","');
  const present = allowOnly(rule({ when: [{ key: 'request.headers[x-a]', values: ['*'] }] }));
  assert.ok(present({ headers: { 'x-a': '' } }) && !present({ headers: {} }));
  const not = denyOnly(rule({ when: [{ key: 'request.headers[x-user]', notValues: ['admin'] }] }));
  assert.ok(not({ headers: {} }), 'an absent header does not match notValues');
  assert.ok(!not({ headers: { 'x-user': 'admin' } }));
  const host = allowOnly(
    rule({ when: [{ key: 'request.headers[:authority]', values: ['httpbin.foo:8000'] }] }),
  );
  assert.ok(host());
});

test('when source.ip, remote.ip, destination.ip, destination.port, connection.sni', () => {
  assert.ok(allowOnly(rule({ when: [{ key: 'source.ip', values: ['10.0.0.0/16'] }] }))());
  assert.ok(!allowOnly(rule({ when: [{ key: 'source.ip', notValues: ['10.0.0.5'] }] }))());
  const remote = allowOnly(rule({ when: [{ key: 'remote.ip', values: ['198.51.100.0/24'] }] }));
  assert.ok(remote({ remoteIp: '198.51.100.7' }) && !remote());
  const dst = allowOnly(rule({ when: [{ key: 'destination.ip', values: ['10.0.1.0/24', 'fd00::/8'] }] }));
  assert.ok(dst() && dst({ destinationIp: 'fd00::1' }) && !dst({ destinationIp: '10.0.2.1' }));
  const port = allowOnly(
    rule({ when: [{ key: 'destination.port', values: ['8000'], notValues: ['9000'] }] }),
  );
  assert.ok(port() && !port({ destinationPort: 9000 }));
  const sni = allowOnly(rule({ when: [{ key: 'connection.sni', values: ['*.example.com'] }] }));
  assert.ok(sni({ sni: 'api.example.com' }) && !sni({ sni: 'x.org' }) && !sni());
  const anySni = allowOnly(rule({ when: [{ key: 'connection.sni', values: ['*'] }] }));
  assert.ok(anySni({ sni: 'a' }) && !anySni({ sni: '' }));
});

test('when source.namespace and source.principal derive from the mTLS peer', () => {
  const ns = allowOnly(rule({ when: [{ key: 'source.namespace', values: ['default'] }] }));
  assert.ok(ns() && !ns({ principal: '' }));
  const p = allowOnly(rule({ when: [{ key: 'source.principal', values: ['*/sa/sleep'] }] }));
  assert.ok(p() && !p({ principal: 'cluster.local/ns/default/sa/other' }));
});

test('when request.auth.*: principal, audiences, presenter, claims (nested, lists, space-delimited scope)', () => {
  const jwt = (claims: Record<string, unknown>) => ({
    requestPrincipal: `${String(claims.iss)}/${String(claims.sub)}`,
    claims,
  });
  const base = { iss: 'https://issuer', sub: 'alice', aud: ['svc-a', 'svc-b'], azp: 'web-app' };

  const rp = allowOnly(rule({ when: [{ key: 'request.auth.principal', values: ['https://issuer/alice'] }] }));
  assert.ok(rp(jwt(base)) && !rp(jwt({ ...base, sub: 'bob' })));

  const aud = allowOnly(rule({ when: [{ key: 'request.auth.audiences', values: ['svc-b'] }] }));
  assert.ok(aud(jwt(base)) && aud(jwt({ ...base, aud: 'svc-b' })) && !aud(jwt({ ...base, aud: 'svc-c' })));
  assert.ok(
    aud({ ...jwt({ ...base, aud: 'x' }), audiences: ['svc-b'] }),
    'explicit audiences override the claim',
  );

  const azp = allowOnly(rule({ when: [{ key: 'request.auth.presenter', values: ['web-*'] }] }));
  assert.ok(azp(jwt(base)) && !azp(jwt({ ...base, azp: 'cli' })));

  const groups = allowOnly(rule({ when: [{ key: 'request.auth.claims[groups]', values: ['admins'] }] }));
  assert.ok(groups(jwt({ ...base, groups: ['users', 'admins'] })));
  assert.ok(!groups(jwt({ ...base, groups: ['users'] })));
  assert.ok(!groups(jwt({ ...base, groups: 7 })), 'only strings match');
  assert.ok(!groups({}), 'no JWT');

  const nested = allowOnly(
    rule({ when: [{ key: 'request.auth.claims[realm][roles]', values: ['editor'] }] }),
  );
  assert.ok(nested(jwt({ ...base, realm: { roles: ['viewer', 'editor'] } })));
  assert.ok(nested(jwt({ ...base, realm: { roles: 'editor' } })));
  assert.ok(!nested(jwt({ ...base, realm: 'editor' })));
  const dotted = allowOnly(rule({ when: [{ key: 'request.auth.claims[a.b]', values: ['x'] }] }));
  assert.ok(dotted(jwt({ ...base, 'a.b': 'x' })) && !dotted(jwt({ ...base, a: { b: 'x' } })));

  // Istio (since 1.21) splits only "scope" and "permission" on spaces.
  const scope = allowOnly(rule({ when: [{ key: 'request.auth.claims[scope]', values: ['write'] }] }));
  assert.ok(scope(jwt({ ...base, scope: 'read write' })));
  const perm = allowOnly(rule({ when: [{ key: 'request.auth.claims[permission]', values: ['write'] }] }));
  assert.ok(perm(jwt({ ...base, permission: 'read write' })));
  const roles = allowOnly(rule({ when: [{ key: 'request.auth.claims[roles]', values: ['write'] }] }));
  assert.ok(!roles(jwt({ ...base, roles: 'read write' })), 'other claims are exact strings');
  assert.ok(roles(jwt({ ...base, roles: 'write' })));

  const notIss = denyOnly(
    rule({ when: [{ key: 'request.auth.claims[iss]', notValues: ['https://issuer'] }] }),
  );
  assert.ok(!notIss(jwt(base)) && notIss(jwt({ ...base, iss: 'https://evil' })) && notIss({}));
});

test('an unknown condition key makes Istio skip the rule, whatever the action; Envoy metadata is absent', () => {
  const deny = new AuthzEngine([
    pol('foo/d', 'DENY', [rule({ when: [{ key: 'request.nonsense', values: ['x'] }] })]),
  ]);
  assert.equal(deny.checkLocal(req()).allowed, true);
  assert.ok(deny.warnings.some((w) => w.includes('unknown condition key "request.nonsense"')));

  const meta = allowOnly(rule({ when: [{ key: 'experimental.envoy.filters.a.b[c]', values: ['x'] }] }));
  assert.ok(!meta());
  const notMeta = allowOnly(rule({ when: [{ key: 'experimental.envoy.filters.a.b[c]', notValues: ['x'] }] }));
  assert.ok(notMeta());
  const badHeader = denyOnly(rule({ when: [{ key: 'request.headers', values: ['x'] }] }));
  assert.ok(badHeader(), 'a DENY rule ignores a value Istio cannot generate, so it matches more');
});

test('TCP: an ALLOW rule with HTTP-only fields never matches; a DENY rule ignores those fields', () => {
  const tcp = { tcp: true, host: '', method: '', path: '', headers: {} } as const;
  const allow = new AuthzEngine([
    pol('foo/allow-get', 'ALLOW', [rule({ to: [{ methods: ['GET'], ports: ['9000'] }] })]),
    pol('foo/allow-9001', 'ALLOW', [rule({ from: [{ principals: [SLEEP] }], to: [{ ports: ['9001'] }] })]),
  ]);
  const d9000 = allow.checkLocal(req({ ...tcp, destinationPort: 9000 }));
  assert.equal(d9000.allowed, false);
  assert.equal(
    d9000.reason,
    'no ALLOW policy matched (policies: foo/allow-get, foo/allow-9001) (TCP connection); foo/allow-get rule 0 never ' +
      'matches: it uses the HTTP-only field methods, and Istio ignores such ALLOW rules on TCP traffic',
  );
  assert.equal(allow.checkLocal(req({ ...tcp, destinationPort: 9001 })).allowed, true);
  assert.equal(
    allow.checkLocal(req({ destinationPort: 9000 })).allowed,
    true,
    'the same rule works for HTTP',
  );

  const deny = new AuthzEngine([
    pol('foo/deny-get', 'DENY', [rule({ to: [{ methods: ['GET'], ports: ['9000'] }] })]),
  ]);
  const denied = deny.checkLocal(req({ ...tcp, destinationPort: 9000 }));
  assert.equal(denied.allowed, false, 'only the port is left, and it matches');
  assert.equal(
    denied.reason,
    'denied by DENY policy foo/deny-get rule 0 (TCP connection): destination port 9000 matches ports [9000] ' +
      '(Istio ignores: methods (HTTP-only, ignored on TCP))',
  );
  assert.equal(deny.checkLocal(req({ ...tcp, destinationPort: 9001 })).allowed, true);
  assert.equal(
    deny.checkLocal(req({ destinationPort: 9000, method: 'POST' })).allowed,
    true,
    'HTTP checks the method',
  );

  const denyPaths = new AuthzEngine([pol('foo/deny-admin', 'DENY', [rule({ to: [{ paths: ['/admin'] }] })])]);
  const all = denyPaths.checkLocal(req(tcp));
  assert.equal(all.allowed, false, 'nothing left: the rule denies every connection');
  assert.equal(
    all.reason,
    'denied by DENY policy foo/deny-admin rule 0 (TCP connection): nothing is left to check once Istio ignores ' +
      'paths (HTTP-only, ignored on TCP), so it matches every connection',
  );

  const denyJwt = new AuthzEngine([
    pol('foo/deny', 'DENY', [
      rule({
        from: [{ requestPrincipals: ['*'] }],
        when: [{ key: 'request.headers[x-a]', values: ['b'] }],
      }),
    ]),
  ]);
  assert.equal(denyJwt.checkLocal(req(tcp)).allowed, false);
  assert.equal(denyJwt.checkLocal(req()).allowed, true, 'HTTP without a JWT does not match');

  const allowJwt = new AuthzEngine([
    pol('foo/a', 'ALLOW', [rule({ from: [{ notRequestPrincipals: ['x/y'] }] })]),
  ]);
  assert.equal(allowJwt.checkLocal(req(tcp)).allowed, false);
  assert.equal(allowJwt.checkLocal(req()).allowed, true);

  const audit = new AuthzEngine([pol('foo/audit', 'AUDIT', [rule({ to: [{ paths: ['/x'] }] })])]);
  assert.deepEqual(audit.audited(req(tcp)), ['foo/audit']);
  assert.deepEqual(audit.audited(req()), []);
});

test('explain: every rule in evaluation order with why it matched or not', () => {
  const e = new AuthzEngine(
    [
      pol('foo/ext', 'CUSTOM', [rule({ to: [{ paths: ['/ext'] }] })], 'sample-ext-authz'),
      pol('foo/deny', 'DENY', [rule({ to: [{ paths: ['/admin'] }] })]),
      pol('foo/allow', 'ALLOW', [
        rule({ from: [{ principals: ['a'] }, { namespaces: ['ops'] }] }),
        rule({ when: [{ key: 'request.headers[x-ok]', values: ['1'] }] }),
      ]),
      pol('foo/none', 'ALLOW', []),
      pol('foo/audit', 'AUDIT', [rule()]),
    ],
    [PROVIDER],
  );
  const x = e.explain(req({ path: '/ext' }));
  assert.equal(x.decision.allowed, false);
  assert.equal(x.custom?.provider, 'sample-ext-authz');
  assert.deepEqual(x.audit, ['foo/audit']);
  assert.deepEqual(
    x.rules.map((r) => [r.action, r.policy, r.ruleIndex, r.matched]),
    [
      ['CUSTOM', 'foo/ext', 0, true],
      ['DENY', 'foo/deny', 0, false],
      ['ALLOW', 'foo/allow', 0, false],
      ['ALLOW', 'foo/allow', 1, false],
      ['ALLOW', 'foo/none', -1, false],
      ['AUDIT', 'foo/audit', 0, true],
    ],
  );
  assert.equal(
    x.rules[2]!.detail,
    `from[0]: peer principal ${SLEEP} does not match principals [a]; from[1]: peer namespace default does not match namespaces [ops]`,
  );
  assert.equal(x.rules[3]!.detail, 'header x-ok (absent) does not match when request.headers[x-ok] [1]');
  const text = formatExplanation(x);
  assert.match(
    text,
    /^request: {2}HTTP GET httpbin\.foo:8000\/ext from peer cluster\.local\/ns\/default\/sa\/sleep/,
  );
  assert.match(text, /decision: DENY: no ALLOW policy matched \(policies: foo\/allow, foo\/none\)/);
  assert.match(text, /✓ CUSTOM foo\/ext rule 0: path \/ext matches paths \[\/ext\]/);
  assert.match(text, /✗ ALLOW foo\/none: the policy has no rules/);
});

test('compiled once: many policies, many requests, no per-request compilation', () => {
  const policies: AuthzPolicy[] = [];
  for (let i = 0; i < 200; i++) {
    policies.push(
      pol(`ns/p${i}`, i % 10 === 0 ? 'DENY' : 'ALLOW', [
        rule({
          from: [{ principals: [`cluster.local/ns/n${i}/sa/*`], ipBlocks: [`10.${i}.0.0/16`] }],
          to: [{ paths: [`/svc${i}/{*}/items/{**}`], methods: ['GET', 'POST'] }],
          when: [{ key: `request.headers[x-tenant-${i}]`, values: ['t*'] }],
        }),
      ]),
    );
  }
  const e = new AuthzEngine(policies);
  const r = req({
    principal: 'cluster.local/ns/n55/sa/app',
    sourceIp: '10.55.3.4',
    path: '/svc55/v1/items/9',
    headers: { 'x-tenant-55': 'tenant-a' },
  });
  const t0 = performance.now();
  let allowed = 0;
  for (let i = 0; i < 20_000; i++) if (e.checkLocal(r).allowed) allowed++;
  const ms = performance.now() - t0;
  assert.equal(allowed, 20_000);
  assert.equal(e.checkLocal(r).policy, 'ns/p55');
  assert.ok(ms < 5000, `20k checks over 200 policies took ${ms.toFixed(0)} ms`);
});
