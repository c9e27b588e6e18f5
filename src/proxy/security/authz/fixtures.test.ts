// Istio's own AuthorizationPolicy inputs (../shared/fixtures/istio-samples/authz-policies, from istio/istio
// pilot/pkg/security/authz/builder/testdata/http), mapped to the compiled model the way the control plane
// maps them, and decided for concrete requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { AuthzPolicy, AuthzSource, ExtAuthzProvider } from '../../../model/security.js';
import { fixture } from '../../../../test/support/paths.js';
import { AuthzEngine, type AuthzRequest } from './engine.js';

const DIR = fixture('istio-samples', 'authz-policies');

/* eslint-disable @typescript-eslint/no-explicit-any */
function source(s: any, ns: string): AuthzSource {
  const out: AuthzSource = {};
  for (const k of [
    'principals',
    'notPrincipals',
    'requestPrincipals',
    'notRequestPrincipals',
    'namespaces',
    'notNamespaces',
    'ipBlocks',
    'notIpBlocks',
    'remoteIpBlocks',
    'notRemoteIpBlocks',
  ] as const) {
    if (s[k]) out[k] = s[k];
  }
  // serviceAccounts ("ns/sa", or "sa" in the policy's namespace) has no field in the model: Istio matches
  // it as spiffe://<td>/ns/<ns>/sa/<sa>, which a principal suffix expresses (Istio forbids combining it
  // with principals or namespaces, so nothing else is lost).
  const sa = (v: string) => {
    const [n, a] = v.includes('/') ? v.split('/', 2) : [ns, v];
    return `*/ns/${n}/sa/${a}`;
  };
  if (s.serviceAccounts) out.principals = [...(out.principals ?? []), ...s.serviceAccounts.map(sa)];
  if (s.notServiceAccounts)
    out.notPrincipals = [...(out.notPrincipals ?? []), ...s.notServiceAccounts.map(sa)];
  return out;
}

function toPolicy(doc: any): AuthzPolicy {
  const ns = doc.metadata.namespace ?? 'default';
  const spec = doc.spec ?? {};
  return {
    name: `${ns}/${doc.metadata.name}`,
    action: spec.action ?? 'ALLOW',
    ...(spec.provider?.name ? { provider: spec.provider.name } : {}),
    rules: (spec.rules ?? []).map((r: any) => ({
      from: (r?.from ?? []).map((f: any) => source(f.source ?? {}, ns)),
      to: (r?.to ?? []).map((t: any) => ({ ...(t.operation ?? {}) })),
      when: (r?.when ?? []).map((w: any) => ({ key: w.key, values: w.values, notValues: w.notValues })),
    })),
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

function load(file: string): AuthzPolicy[] {
  return parseAllDocuments(readFileSync(`${DIR}/${file}`, 'utf8'))
    .map((d) => d.toJS())
    .filter((d) => d && d.kind === 'AuthorizationPolicy')
    .map(toPolicy);
}

function req(o: Partial<AuthzRequest> = {}): AuthzRequest {
  return {
    tcp: false,
    principal: 'cluster.local/ns/foo/sa/sleep',
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

const DEFAULT_PROVIDER: ExtAuthzProvider = {
  name: 'default',
  host: '127.0.0.1',
  port: 9000,
  pathPrefix: '',
  timeoutMs: 600_000,
  failOpen: false,
  statusOnError: 403,
  includeRequestHeadersInCheck: [],
  includeAdditionalHeadersInCheck: [],
  headersToUpstreamOnAllow: [],
  headersToDownstreamOnAllow: [],
  headersToDownstreamOnDeny: [],
};

test('every fixture file loads and compiles', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 6);
  for (const f of files) {
    const policies = load(f);
    assert.ok(policies.length > 0, f);
    const e = new AuthzEngine(policies, [DEFAULT_PROVIDER]);
    assert.equal(typeof e.checkLocal(req()).reason, 'string', f);
    assert.equal(typeof e.checkLocal(req({ tcp: true })).reason, 'string', f);
  }
});

test('deny-and-allow-in: the DENY policy beats the ALLOW policy', () => {
  const e = new AuthzEngine(load('deny-and-allow-in.yaml'));
  const allowed = e.checkLocal(req({ principal: 'allow' }));
  assert.equal(allowed.allowed, true);
  assert.equal(
    allowed.reason,
    'allowed by ALLOW policy foo/httpbin-allow rule 0: peer principal allow matches principals [allow]',
  );
  const denied = e.checkLocal(req({ principal: 'deny' }));
  assert.equal(
    denied.reason,
    'denied by DENY policy foo/httpbin-deny rule 0: peer principal deny matches principals [deny]',
  );
  const other = e.checkLocal(req());
  assert.equal(other.allowed, false);
  assert.equal(other.reason, 'no ALLOW policy matched (policies: foo/httpbin-allow)');
  assert.equal(e.checkLocal(req({ principal: '' })).allowed, false);
});

test('multiple-policies-in: any of nine ALLOW policies lets a request through', () => {
  const e = new AuthzEngine(load('multiple-policies-in.yaml'));
  const other = {
    method: 'DELETE',
    path: '/x',
    host: 'other.com',
    destinationPort: 8000,
    principal: '',
    sourceIp: '9.9.9.9',
    remoteIp: '9.9.9.9',
  };
  const by = (o: Partial<AuthzRequest>) => e.checkLocal(req({ ...other, ...o })).policy;
  assert.equal(by({ method: 'GET' }), 'foo/httpbin-1');
  assert.equal(by({ method: 'POST' }), 'foo/httpbin-1');
  assert.equal(by({ path: '/v2' }), 'foo/httpbin-2');
  assert.equal(by({ host: 'HTTPBIN.ORG' }), 'foo/httpbin-3');
  assert.equal(by({ destinationPort: 90 }), 'foo/httpbin-4');
  assert.equal(by({ principal: 'principals2' }), 'foo/httpbin-5');
  // "requestPrincipals1" has no "/": Istio reads it as issuer "requestPrincipals1" with an empty subject.
  assert.equal(by({ claims: { iss: 'requestPrincipals1', sub: '' } }), 'foo/httpbin-6');
  assert.equal(by({ claims: { iss: 'requestPrincipals1', sub: 'someone' } }), undefined);
  assert.equal(by({ principal: 'cluster.local/ns/namespaces1/sa/x' }), 'foo/httpbin-7');
  assert.equal(by({ sourceIp: '5.6.7.200' }), 'foo/httpbin-8');
  assert.equal(by({ sourceIp: '1.2.3.4' }), 'foo/httpbin-8');
  assert.equal(by({ headers: { 'x-abc': 'abc2' } }), 'foo/httpbin-9');
  const none = e.checkLocal(req(other));
  assert.equal(none.allowed, false);
  assert.equal(
    none.reason,
    'no ALLOW policy matched (policies: ' +
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `foo/httpbin-${i}`).join(', ') +
      ')',
  );

  // On TCP only the policies without HTTP-only fields can allow.
  const tcp = { ...other, tcp: true, method: '', path: '', host: '' };
  assert.equal(e.checkLocal(req({ ...tcp, destinationPort: 80 })).policy, 'foo/httpbin-4');
  assert.equal(e.checkLocal(req({ ...tcp, principal: 'principals1' })).policy, 'foo/httpbin-5');
  assert.equal(e.checkLocal(req({ ...tcp, sourceIp: '1.2.3.4' })).policy, 'foo/httpbin-8');
  const tcpNone = e.checkLocal(req(tcp));
  assert.equal(tcpNone.allowed, false);
  assert.match(tcpNone.reason, /foo\/httpbin-1 rule 0 never matches: it uses the HTTP-only field methods/);
  assert.match(
    tcpNone.reason,
    /foo\/httpbin-6 rule 0 never matches: it uses the HTTP-only field requestPrincipals/,
  );
  assert.match(
    tcpNone.reason,
    /foo\/httpbin-9 rule 0 never matches: it uses the HTTP-only field when request\.headers/,
  );
  assert.doesNotMatch(tcpNone.reason, /httpbin-4 rule/);
});

test('single-policy-in: principals and namespaces that cannot both hold make the rule unreachable', () => {
  const e = new AuthzEngine(load('single-policy-in.yaml'));
  // Everything the rule's `when` asks for is present, so the explanation points at the sources.
  const r = req({
    headers: { 'x-header': 'header' },
    destinationIp: '10.10.10.10',
    remoteIp: '10.99.10.8',
    sourceIp: '10.0.0.1',
    principal: 'rule[0]-from[0]-principal[1]',
    method: 'rule[0]-to[0]-method[1]',
    host: 'rule[0]-to[0]-host[1]',
    path: 'rule[0]-to[0]-path[1]',
    destinationPort: 9001,
  });
  const d = e.checkLocal(r);
  assert.equal(d.allowed, false);
  const trace = e.explain(r).rules;
  assert.equal(trace.length, 2);
  assert.match(
    trace[0]!.detail,
    /^from\[0\]: request principal \(none: no validated JWT\) does not match requestPrincipals \[rule\[0\]-from\[0\]-requestPrincipal\[1\], rule\[0\]-from\[0\]-requestPrincipal\[2\]\]; from\[1\]: peer principal rule\[0\]-from\[0\]-principal\[1\] does not match principals/,
  );
  // With the JWT it asks for (the value has no "/": issuer only, empty subject), the source still fails:
  // a principal without /ns/ has no namespace.
  const withJwt = e.explain({ ...r, requestPrincipal: 'rule[0]-from[0]-requestPrincipal[1]' }).rules[0]!
    .detail;
  assert.match(
    withJwt,
    /^from\[0\]: peer namespace \(none: no mTLS peer identity\) does not match namespaces/,
  );
  const withClaims = e.explain({ ...r, claims: { iss: 'rule[0]-from[0]-requestPrincipal[1]', sub: 'x' } })
    .rules[0]!;
  assert.match(
    withClaims.detail,
    /^from\[0\]: request principal rule\[0\]-from\[0\]-requestPrincipal\[1\]\/x does not match/,
  );
});

test('allow-path-in: notPaths "*" excludes every path, so nothing is allowed', () => {
  const e = new AuthzEngine(load('allow-path-in.yaml'));
  for (const path of ['/exact', '/prefix/a', '/a/suffix', '/path/template/x', '/a/path/template']) {
    const d = e.checkLocal(req({ path }));
    assert.equal(d.allowed, false, path);
  }
  const x = e.explain(req({ path: '/exact' }));
  assert.equal(
    x.rules[0]!.detail,
    'to[0]: path /exact matches notPaths [/not-exact, /not-prefix/*, */not-suffix, *, /not-path/template/{*}, /{**}/not-path/template]',
  );
});

test('allow-full-rule-in: serviceAccounts allow; the kitchen-sink rule can never match', () => {
  const e = new AuthzEngine(load('allow-full-rule-in.yaml'));
  assert.equal(e.checkLocal(req({ principal: 'cluster.local/ns/my-ns/sa/my-sa' })).allowed, true);
  assert.equal(e.checkLocal(req({ principal: 'cluster.local/ns/foo/sa/sa-only' })).allowed, true);
  assert.equal(e.checkLocal(req({ principal: 'cluster.local/ns/my-ns/sa/my-sa-not' })).allowed, false);
  assert.equal(e.checkLocal(req({ principal: 'cluster.local/ns/other/sa/sa-only' })).allowed, false);
  assert.equal(e.checkLocal(req({ principal: '' })).allowed, false);
  assert.equal(e.checkLocal(req({ principal: 'cluster.local/ns/my-ns/sa/my-sa', tcp: true })).allowed, true);
  const trace = e.explain(req({ principal: 'cluster.local/ns/foo/sa/sleep' })).rules;
  assert.equal(trace[1]!.matched, false);
  assert.equal(e.warnings.length, 0, 'every key and value of the kitchen-sink rule is valid');
});

test('custom-simple-http-in: CUSTOM rules pick which requests go to the provider', () => {
  const policies = load('custom-simple-http-in.yaml');
  const e = new AuthzEngine(policies, [DEFAULT_PROVIDER]);
  assert.equal(e.customPolicy(req({ path: '/httpbin1' }))?.policy.name, 'foo/httpbin-1');
  assert.equal(e.customPolicy(req({ path: '/httpbin2' }))?.policy.name, 'foo/httpbin-2');
  assert.equal(e.customPolicy(req({ path: '/httpbin1' }))?.provider.name, 'default');
  assert.equal(e.customPolicy(req({ path: '/other' })), undefined);
  assert.equal(e.customPolicy(req({ path: '/httpbin1', tcp: true })), undefined);
  assert.equal(
    e.checkLocal(req({ path: '/httpbin1' })).allowed,
    true,
    'nothing local after the provider allowed',
  );

  const noProvider = new AuthzEngine(policies, []);
  const d = noProvider.checkLocal(req({ path: '/httpbin2' }));
  assert.equal(d.allowed, false);
  assert.equal(d.policy, 'foo/httpbin-2');
  assert.equal(noProvider.checkLocal(req({ path: '/other' })).allowed, true);
});
