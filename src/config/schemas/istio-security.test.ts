// What Weft says about mistakes in security.istio.io kinds and MeshConfig: the field, the line and a
// message that says what to do. Istio's own validation cases run in load-fixtures.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type ConfigProblem, type Resource } from '../types.js';
import { kindFromArg } from '../../cli/commands/kinds.js';
import { ipOrCidrProblem, jwksProblem, pathProblem } from './istio-security.js';

const show = (ps: ConfigProblem[]) => ps.map(formatProblem).join('\n');

function load(yaml: string): { resources: Resource[]; problems: ConfigProblem[] } {
  return parseDocuments(yaml, 'test.yaml');
}

/** `field: message` of every problem, for compact assertions. */
function problems(yaml: string): string[] {
  return load(yaml).problems.map((p) => `${p.field ?? ''}: ${p.message}`);
}

function assertProblem(yaml: string, field: string, message: RegExp): void {
  const got = problems(yaml);
  assert.ok(
    got.some((g) => g.startsWith(`${field}: `) && message.test(g.slice(field.length + 2))),
    `want ${field}: ${message}\ngot:\n${got.join('\n')}`,
  );
}

function assertClean(yaml: string): Resource[] {
  const { resources, problems: ps } = load(yaml);
  assert.deepEqual(ps, [], show(ps));
  return resources;
}

const ap = (spec: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ap, namespace: foo }
spec:
${spec}`;

const ra = (spec: string) => `apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: { name: ra, namespace: foo }
spec:
${spec}`;

const pa = (spec: string) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: pa, namespace: foo }
spec:
${spec}`;

const mesh = (spec: string) => `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
${spec}`;

// ---- AuthorizationPolicy: actions and provider ------------------------------------------------------

test('CUSTOM needs provider.name, and provider needs CUSTOM', () => {
  const rules = '  rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }]';
  assertProblem(ap(`  action: CUSTOM\n${rules}`), 'spec.provider', /action CUSTOM needs provider\.name/);
  assertProblem(ap(`  action: CUSTOM\n  provider: {}\n${rules}`), 'spec.provider.name', /extensionProviders/);
  assertProblem(
    ap(`  action: CUSTOM\n  provider: { name: "" }\n${rules}`),
    'spec.provider.name',
    /needs provider\.name/,
  );
  assertProblem(
    ap(`  action: DENY\n  provider: { name: ext }\n${rules}`),
    'spec.provider',
    /only used with action: CUSTOM \(this policy's action is DENY\)/,
  );
  assertProblem(
    ap(`  provider: { name: ext }\n${rules}`),
    'spec.provider',
    /action is ALLOW, the default\); remove provider or set action: CUSTOM/,
  );
  assertClean(ap(`  action: CUSTOM\n  provider: { name: ext }\n${rules}`));
});

test('DENY and CUSTOM without rules would never match: rejected, with the empty-rule hint', () => {
  assertProblem(ap('  action: DENY'), 'spec.rules', /never matches anything.*rules: \[\{\}\]/);
  assertProblem(ap('  action: DENY\n  rules: []'), 'spec.rules', /never matches/);
  assertProblem(
    ap('  action: CUSTOM\n  provider: { name: ext }'),
    'spec.rules',
    /never sends anything to its provider/,
  );
  assertClean(ap('  action: DENY\n  rules: [{}]'));
  assertClean(ap('  action: AUDIT\n  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]'));
  assertClean(ap('  {}')); // ALLOW without rules: deny everything, which is valid
});

test('CUSTOM cannot match on peer or JWT identity', () => {
  const spec = `  action: CUSTOM
  provider: { name: ext }
  rules:
  - from: [{ source: { principals: ["cluster.local/ns/a/sa/b"], ipBlocks: ["10.0.0.0/8"] } }]
    when: [{ key: "request.auth.claims[iss]", values: [x] }, { key: "request.headers[x-a]", values: [y] }]`;
  assertProblem(
    ap(spec),
    'spec.rules[0].from[0].source.principals',
    /not supported with action CUSTOM.*by ipBlocks, operations or request headers/,
  );
  assertProblem(ap(spec), 'spec.rules[0].when[0].key', /request\.auth\.claims\[iss\] is not supported/);
  assert.equal(problems(ap(spec)).length, 2, problems(ap(spec)).join('\n'));
});

test('action must be one of the four; unknown fields get a suggestion', () => {
  assertProblem(ap('  action: REJECT'), 'spec.action', /one of ALLOW, DENY, AUDIT, CUSTOM \(got "REJECT"\)/);
  assertProblem(
    ap('  rules: [{ from: [{ source: { principal: [a] } }] }]'),
    'spec.rules[0].from[0].source.principal',
    /unknown field "principal" \(did you mean "principals"\?\)/,
  );
});

// ---- AuthorizationPolicy: rules -------------------------------------------------------------------

test('from/to entries need a non-empty source/operation; empty lists and values are errors', () => {
  assertProblem(ap('  rules: [{ from: [] }]'), 'spec.rules[0].from', /leave "from" out to match any source/);
  assertProblem(ap('  rules: [{ to: [] }]'), 'spec.rules[0].to', /leave "to" out to match any operation/);
  assertProblem(
    ap('  rules:\n  - from:\n    - source:\n'),
    'spec.rules[0].from[0].source',
    /each "from" entry needs a source/,
  );
  assertProblem(ap('  rules: [{ to: [{}] }]'), 'spec.rules[0].to[0].operation', /needs an operation/);
  assertProblem(
    ap('  rules: [{ from: [{ source: {} }] }]'),
    'spec.rules[0].from[0].source',
    /a source needs at least one field/,
  );
  assertProblem(
    ap('  rules: [{ from: [{ source: { principals: [] } }] }]'),
    'spec.rules[0].from[0].source',
    /at least one field/,
  );
  assertProblem(
    ap('  rules: [{ to: [{ operation: {} }] }]'),
    'spec.rules[0].to[0].operation',
    /an operation needs at least one field/,
  );
  assertProblem(
    ap('  rules: [{ from: [{ source: { namespaces: [a, ""] } }] }]'),
    'spec.rules[0].from[0].source.namespaces[1]',
    /^must not be empty$/,
  );
  assertProblem(
    ap('  rules: [{ to: [{ operation: { methods: [""] } }] }]'),
    'spec.rules[0].to[0].operation.methods[0]',
    /must not be empty/,
  );
});

test('ipBlocks and IP conditions take addresses or CIDR blocks', () => {
  for (const ok of ['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '2001:db8::1', '2001:db8::/32', '::/0'])
    assert.equal(ipOrCidrProblem(ok), undefined, ok);
  for (const bad of [
    '10.0.0.256',
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0/8',
    '::1/129',
    'localhost',
    '10.0.0.1/08',
  ])
    assert.ok(ipOrCidrProblem(bad), bad);
  assertProblem(
    ap('  rules: [{ from: [{ source: { notRemoteIpBlocks: ["1.2.3.4", "300.1.1.1/8"] } }] }]'),
    'spec.rules[0].from[0].source.notRemoteIpBlocks[1]',
    /invalid CIDR block "300\.1\.1\.1\/8": use an address such as "10\.0\.0\.1" or a CIDR block/,
  );
  assertProblem(
    ap('  rules: [{ when: [{ key: source.ip, notValues: ["10.0.0.x"] }] }]'),
    'spec.rules[0].when[0].notValues[0]',
    /invalid IP address "10\.0\.0\.x"/,
  );
});

test('paths: * only at either end, {*} and {**} as whole segments, nothing templated after {**}', () => {
  for (const ok of ['/exact', '/prefix/*', '*/suffix', '*', '/a/{*}/b', '/{**}/b.json', '/a/{**}', '/{*}/x'])
    assert.equal(pathProblem(ok), undefined, ok);
  const cases: Array<[string, RegExp]> = [
    ['/a/{**}/{*}', /\{\*\*\} must be the last template/],
    ['/a/{**}/{**}', /\{\*\*\} must be the last template/],
    ['/a/{id}', /only allowed as whole-segment templates/],
    ['/a/x{*}', /only allowed as whole-segment templates/],
    ['/{*}/a*', /segment "a\*" of a templated path/],
    ['/api/*/admin', /"\*" can only be the first or last character.*"\/api\/\{\*\}\/items"/],
    ['*admin*', /"\*" can only be the first or last character/],
  ];
  for (const [p, want] of cases) assert.match(pathProblem(p) ?? '', want, p);
  assertProblem(
    ap('  rules: [{ to: [{ operation: { notPaths: ["/ok", "/a/{**}/b/{*}"] } }] }]'),
    'spec.rules[0].to[0].operation.notPaths[1]',
    /\{\*\*\} must be the last template/,
  );
});

test('ports are strings of 0-65535', () => {
  assertProblem(
    ap('  rules: [{ to: [{ operation: { ports: [8080] } }] }]'),
    'spec.rules[0].to[0].operation.ports[0]',
    /write ports as strings, e.g. "8080"/,
  );
  assertProblem(
    ap('  rules: [{ to: [{ operation: { notPorts: ["70000", "http"] } }] }]'),
    'spec.rules[0].to[0].operation.notPorts[0]',
    /port number from 0 to 65535 \(got "70000"\)/,
  );
  assertProblem(
    ap('  rules: [{ to: [{ operation: { notPorts: ["70000", "http"] } }] }]'),
    'spec.rules[0].to[0].operation.notPorts[1]',
    /got "http"/,
  );
});

test('serviceAccounts: "sa" or "ns/sa", no wildcards, at most 16, not with principals or namespaces', () => {
  const src = (s: string) => ap(`  rules: [{ from: [{ source: { ${s} } }] }]`);
  assertProblem(
    src('serviceAccounts: ["a/b/c"]'),
    'spec.rules[0].from[0].source.serviceAccounts[0]',
    /"<namespace>\/<serviceAccount>"/,
  );
  assertProblem(
    src('serviceAccounts: ["ns/*"]'),
    'spec.rules[0].from[0].source.serviceAccounts[0]',
    /wildcards are not allowed/,
  );
  assertProblem(
    src('notServiceAccounts: ["/sa"]'),
    'spec.rules[0].from[0].source.notServiceAccounts[0]',
    /namespace is empty/,
  );
  const many = JSON.stringify(Array.from({ length: 17 }, (_, i) => `sa${i}`));
  assertProblem(
    src(`serviceAccounts: ${many}`),
    'spec.rules[0].from[0].source.serviceAccounts',
    /at most 16/,
  );
  assertProblem(
    src('notServiceAccounts: [a], namespaces: [b]'),
    'spec.rules[0].from[0].source.notServiceAccounts',
    /cannot be combined with principals or namespaces.*separate "from" entries/,
  );
  assertClean(src('serviceAccounts: ["ns/sa", "sa"], ipBlocks: ["10.0.0.0/8"]'));
});

test('when: a supported key, values or notValues, and values checked per key', () => {
  const when = (c: string) => ap(`  rules: [{ when: [${c}] }]`);
  assertProblem(
    when('{ key: source.ip }'),
    'spec.rules[0].when[0]',
    /set values or notValues \(or both\) for key source\.ip/,
  );
  assertProblem(when('{ key: source.ip, values: [] }'), 'spec.rules[0].when[0]', /set values or notValues/);
  assertProblem(when('{ values: [a] }'), 'spec.rules[0].when[0].key', /a condition needs a key/);
  assertProblem(
    when('{ key: "request.header[x]", values: [a] }'),
    'spec.rules[0].when[0].key',
    /unknown key "request\.header\[x\]": use one of request\.headers\[<name>\], source\.ip/,
  );
  assertProblem(
    when('{ key: request.headers, values: [a] }'),
    'spec.rules[0].when[0].key',
    /must name an entry in brackets, e\.g\. request\.headers\[x-user\]/,
  );
  assertProblem(
    when('{ key: "request.auth.claims[]", values: [a] }'),
    'spec.rules[0].when[0].key',
    /in brackets/,
  );
  assertProblem(
    when('{ key: destination.port, values: ["80", "eighty"] }'),
    'spec.rules[0].when[0].values[1]',
    /port number/,
  );
  assertProblem(
    when('{ key: "destination.labels[app]", values: [a] }'),
    'spec.rules[0].when[0].key',
    /policy's selector instead/,
  );
  assertProblem(
    when('{ key: destination.namespace, values: [a] }'),
    'spec.rules[0].when[0].key',
    /its own namespace/,
  );
  assertProblem(
    when('{ key: destination.user, values: [a] }'),
    'spec.rules[0].when[0].key',
    /no longer supported/,
  );
  assertProblem(
    when('{ key: source.serviceAccount, values: ["a/b/c"] }'),
    'spec.rules[0].when[0].values[0]',
    /serviceAccount/,
  );
  assertProblem(
    when('{ key: connection.sni, notValues: [""] }'),
    'spec.rules[0].when[0].notValues[0]',
    /must not be empty/,
  );
  assertClean(
    when(
      '{ key: "request.headers[x-a]", values: ["*"] }, { key: destination.port, values: ["0", "65535"] }, { key: "experimental.envoy.filters.a.b[c]", notValues: [x] }',
    ),
  );
});

test('selector, targetRef and targetRefs are mutually exclusive; targets are Services or Gateways in the same namespace', () => {
  assertProblem(
    ap(
      '  selector: { matchLabels: { app: a } }\n  targetRef: { kind: Gateway, group: gateway.networking.k8s.io, name: gw }',
    ),
    'spec.targetRef',
    /set only one of selector, targetRef and targetRefs \(found selector and targetRef\)/,
  );
  assertProblem(
    ap('  targetRef: { kind: Deployment, group: apps, name: a }'),
    'spec.targetRef.kind',
    /can target a Service.*\(got "apps\/Deployment"\)/,
  );
  assertProblem(
    ap('  targetRef: { kind: Service, name: a, namespace: other }'),
    'spec.targetRef.namespace',
    /cross-namespace references are not supported/,
  );
  assertProblem(
    ap('  selector: { matchLabels: { "app": "*" } }'),
    'spec.selector.matchLabels.app',
    /wildcards are not allowed/,
  );
  assertClean(
    ap(
      '  targetRefs: [{ kind: Service, group: "", name: a }, { kind: Gateway, group: gateway.networking.k8s.io, name: gw }]',
    ),
  );
  assertClean(ap('  selector: {}'));
});

test('problems point at the line of the field', () => {
  const { problems: ps } = load(
    ap(`  action: ALLOW
  rules:
  - from:
    - source:
        ipBlocks:
        - 10.0.0.0/99`),
  );
  assert.equal(ps.length, 1, show(ps));
  assert.equal(ps[0]?.line, 10);
  assert.equal(ps[0]?.file, 'test.yaml');
  assert.equal(ps[0]?.name, 'foo/ap');
});

// ---- PeerAuthentication ------------------------------------------------------------------------------

test('PeerAuthentication: mode enum, portLevelMtls needs a selector and port keys 1-65535', () => {
  assertProblem(
    pa('  mtls: { mode: strict }'),
    'spec.mtls.mode',
    /one of STRICT, PERMISSIVE, DISABLE, UNSET \(got "strict"\)/,
  );
  assertProblem(
    pa('  portLevelMtls: { 8080: { mode: DISABLE } }'),
    'spec.portLevelMtls',
    /needs a selector with matchLabels/,
  );
  assertProblem(
    pa('  selector: {}\n  portLevelMtls: { 8080: { mode: DISABLE } }'),
    'spec.portLevelMtls',
    /needs a selector/,
  );
  assertProblem(
    pa(
      '  selector: { matchLabels: { app: a } }\n  portLevelMtls: { 0: { mode: DISABLE }, http: { mode: STRICT } }',
    ),
    'spec.portLevelMtls["0"]',
    /between 1 and 65535/,
  );
  assertProblem(
    pa('  selector: { matchLabels: { app: a } }\n  portLevelMtls: { http: { mode: STRICT } }'),
    'spec.portLevelMtls.http',
    /port keys must be numbers such as "8080" \(got "http"\)/,
  );
  const [r] = assertClean(
    pa(
      '  selector: { matchLabels: { app: a } }\n  mtls: { mode: STRICT }\n  portLevelMtls: { 8080: { mode: PERMISSIVE } }',
    ),
  );
  assert.ok(r?.kind === 'PeerAuthentication');
  assert.deepEqual(r.spec.portLevelMtls, { 8080: { mode: 'PERMISSIVE' } });
});

// ---- RequestAuthentication ---------------------------------------------------------------------------

test('RequestAuthentication: issuer required, jwksUri an http(s) URL, jwks or jwksUri not both', () => {
  assertProblem(
    ra('  jwtRules: [{ jwksUri: "https://example.com/jwks" }]'),
    'spec.jwtRules[0].issuer',
    /needs an issuer: the "iss" claim/,
  );
  assertProblem(ra('  jwtRules: [{ issuer: "" }]'), 'spec.jwtRules[0].issuer', /must not be empty/);
  assertProblem(
    ra('  jwtRules: [{ issuer: a, jwksUri: "ftp://example.com/jwks" }]'),
    'spec.jwtRules[0].jwksUri',
    /unsupported scheme "ftp": use an http:\/\/ or https:\/\/ URL/,
  );
  assertProblem(
    ra('  jwtRules: [{ issuer: a, jwksUri: "example.com/jwks" }]'),
    'spec.jwtRules[0].jwksUri',
    /invalid URL/,
  );
  assertProblem(
    ra('  jwtRules: [{ issuer: a, jwksUri: "https://example.com/jwks", jwks: "{}" }]'),
    'spec.jwtRules[0].jwks',
    /set only one of jwksUri and jwks/,
  );
  assertProblem(
    ra('  jwtRules: [{ issuer: a, jwks: "not json" }]'),
    'spec.jwtRules[0].jwks',
    /invalid JWKS: not JSON/,
  );
  assertProblem(
    ra(
      `  jwtRules: [{ issuer: a, jwks: '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}' }]`,
    ),
    'spec.jwtRules[0].jwks',
    /invalid JWKS: key 0 \(EC\) cannot be loaded/,
  );
  assert.match(jwksProblem('{"keys": []}') ?? '', /empty/);
  assert.match(jwksProblem('{"foo": 1}') ?? '', /"keys" list/);
  assert.equal(jwksProblem('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'), undefined);
});

test('RequestAuthentication: header names, timeout, presence; jwks_uri is read as jwksUri', () => {
  assertProblem(
    ra('  jwtRules: [{ issuer: a, fromHeaders: [{ prefix: "Bearer " }] }]'),
    'spec.jwtRules[0].fromHeaders[0].name',
    /missing required field "name"/,
  );
  assertProblem(
    ra('  jwtRules: [{ issuer: a, outputClaimToHeaders: [{ header: "x user", claim: sub }] }]'),
    'spec.jwtRules[0].outputClaimToHeaders[0].header',
    /letters, digits, "-" and "_" \(got "x user"\)/,
  );
  assertProblem(
    ra('  jwtRules: [{ issuer: a, outputClaimToHeaders: [{ header: x-user }] }]'),
    'spec.jwtRules[0].outputClaimToHeaders[0].claim',
    /missing required field "claim"/,
  );
  assertProblem(ra('  jwtRules: [{ issuer: a, timeout: 0s }]'), 'spec.jwtRules[0].timeout', /at least 1ms/);
  assertProblem(
    ra('  jwtRules: [{ issuer: a, presence: MANDATORY }]'),
    'spec.jwtRules[0].presence',
    /OPTIONAL or REQUIRED/,
  );
  assertProblem(
    ra('  jwtRules: [{ issuer: a, jwksUri: "https://a/j", jwks_uri: "https://a/j" }]'),
    'spec.jwtRules[0].jwks_uri',
    /set only one of jwksUri and jwks/,
  );
  const [r] = assertClean(
    ra('  jwtRules: [{ issuer: a, jwks_uri: "http://idp:8080/jwks", presence: REQUIRED, timeout: 5s }]'),
  );
  assert.ok(r?.kind === 'RequestAuthentication');
  assert.deepEqual(r.spec.jwtRules, [
    { issuer: 'a', jwksUri: 'http://idp:8080/jwks', presence: 'REQUIRED', timeout: '5s' },
  ]);
  assertProblem(
    ra('  selector: { matchLabels: { a: b } }\n  targetRefs: []'),
    'spec.targetRefs',
    /set only one of selector, targetRef and targetRefs/,
  );
});

// ---- MeshConfig --------------------------------------------------------------------------------------

test("MeshConfig: a real Istio meshConfig block loads; Weft's fields are checked", () => {
  const [r] = assertClean(
    mesh(`  accessLogFile: /dev/stdout
  enablePrometheusMerge: true
  defaultConfig:
    holdApplicationUntilProxyStarts: true
    tracing: { sampling: 10 }
  rootNamespace: istio-system
  trustDomain: cluster.local
  trustDomainAliases: [old.example.org]
  enableAutoMtls: true
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
  pathNormalization: { normalization: DEFAULT }
  someFieldFromANewerIstio: { x: 1 }
  extensionProviders:
  - name: sample-ext-authz-http
    envoyExtAuthzHttp:
      service: ext-authz.foo.svc.cluster.local
      port: 8000
      timeout: 2s
      pathPrefix: /check
      failOpen: false
      statusOnError: "503"
      includeHeadersInCheck: ["x-ext-authz"]
      headersToUpstreamOnAllow: ["x-ext-authz-check-result"]
      headersToDownstreamOnDeny: ["x-ext-authz-check-result"]
      includeRequestBodyInCheck: { maxRequestBytes: 1024, allowPartialMessage: true }
  - name: sample-ext-authz-grpc
    envoyExtAuthzGrpc: { service: ext-authz.foo.svc.cluster.local, port: 9000 }
  - name: otel
    opentelemetry: { service: opentelemetry-collector.observability.svc.cluster.local, port: 4317 }`),
  );
  assert.ok(r?.kind === 'MeshConfig');
  assert.equal(r.spec.pathNormalization?.normalization, 'BASE', 'DEFAULT is stored as BASE');
  const http = r.spec.extensionProviders?.[0]?.envoyExtAuthzHttp;
  assert.deepEqual(
    http?.includeRequestHeadersInCheck,
    ['x-ext-authz'],
    'the deprecated name is read as the new one',
  );
  assert.equal(r.spec.someFieldFromANewerIstio !== undefined, true, 'other fields are kept');
});

test('MeshConfig: typos, enums, trust domain and extension provider mistakes', () => {
  assertProblem(
    mesh('  trustDomian: example.org'),
    'spec.trustDomian',
    /unknown field "trustDomian" \(did you mean "trustDomain"\?\)/,
  );
  assertProblem(
    mesh('  trustDomain: Cluster.Local'),
    'spec.trustDomain',
    /invalid trust domain "Cluster\.Local": use lowercase DNS labels/,
  );
  assertProblem(mesh('  rootNamespace: Istio_System'), 'spec.rootNamespace', /DNS-1123 label/);
  assertProblem(
    mesh('  outboundTrafficPolicy: { mode: DENY }'),
    'spec.outboundTrafficPolicy.mode',
    /ALLOW_ANY or REGISTRY_ONLY \(got "DENY"\)/,
  );
  assertProblem(
    mesh('  pathNormalization: { normalization: MERGE }'),
    'spec.pathNormalization.normalization',
    /one of DEFAULT, NONE, BASE/,
  );
  assertProblem(mesh('  enableAutoMtls: "yes"'), 'spec.enableAutoMtls', /expected true or false/);
  const provider = (p: string) => mesh(`  extensionProviders:\n  - ${p}`);
  assertProblem(
    provider('name: a\n    envoyExtAuthzHttp: { service: ext }'),
    'spec.extensionProviders[0].envoyExtAuthzHttp.port',
    /missing required field "port"/,
  );
  assertProblem(
    provider('name: a\n    envoyExtAuthzHttp: { service: ext, port: 0 }'),
    'spec.extensionProviders[0].envoyExtAuthzHttp.port',
    /between 1 and 65535/,
  );
  assertProblem(
    provider('name: a\n    envoyExtAuthzHttp: { service: "Ext_Authz", port: 80 }'),
    'spec.extensionProviders[0].envoyExtAuthzHttp.service',
    /invalid host "Ext_Authz"/,
  );
  assertProblem(
    provider('name: a\n    envoyExtAuthzHttp: { service: "foo/ext", port: 80 }'),
    'spec.extensionProviders[0].envoyExtAuthzHttp.service',
    /after "foo\/"/,
  );
  assertProblem(
    provider('name: a\n    envoyExtAuthzHttp: { service: ext, port: 80, statusOnError: 503 }'),
    'spec.extensionProviders[0].envoyExtAuthzHttp.statusOnError',
    /as a string, e\.g\. "503"/,
  );
  assertProblem(
    provider('name: a\n    envoyExtAuthzHttp: { service: ext, port: 80, statusOnError: "999" }'),
    'spec.extensionProviders[0].envoyExtAuthzHttp.statusOnError',
    /HTTP status code/,
  );
  assertProblem(
    provider('name: a\n    envoyExtAuthzHttp: { service: ext, port: 80, pathPrefix: check }'),
    'spec.extensionProviders[0].envoyExtAuthzHttp.pathPrefix',
    /must start with "\/"/,
  );
  assertProblem(
    provider('name: a\n    envoyExtAuthzHttp: { service: ext, port: 80, failOpn: true }'),
    'spec.extensionProviders[0].envoyExtAuthzHttp.failOpn',
    /did you mean "failOpen"/,
  );
  assertProblem(
    provider('name: a'),
    'spec.extensionProviders[0]',
    /needs a provider kind, e\.g\. envoyExtAuthzHttp/,
  );
  assertProblem(
    provider('name: a\n    zipkin: {}\n    datadog: {}'),
    'spec.extensionProviders[0].datadog',
    /exactly one kind/,
  );
  assertProblem(
    provider('envoyExtAuthzHttp: { service: ext, port: 80 }'),
    'spec.extensionProviders[0].name',
    /needs a name/,
  );
  assertProblem(
    mesh(
      '  extensionProviders:\n  - { name: a, prometheus: {} }\n  - { name: a, zipkin: { service: z, port: 9411 } }',
    ),
    'spec.extensionProviders[1].name',
    /duplicate extension provider name "a"/,
  );
  assertClean(provider('name: a\n    envoyExtAuthzHttp: { service: "127.0.0.1", port: 80 }'));
  assertClean(provider('name: a\n    envoyExtAuthzHttp: { service: "foo/ext.example.com", port: 80 }'));
});

test('kubectl-style names for the security kinds and MeshConfig', () => {
  const want: Record<string, string> = {
    pa: 'PeerAuthentication',
    peerauthentications: 'PeerAuthentication',
    'peerauthentication.security.istio.io': 'PeerAuthentication',
    ap: 'AuthorizationPolicy',
    AuthorizationPolicies: 'AuthorizationPolicy',
    ra: 'RequestAuthentication',
    requestauthentication: 'RequestAuthentication',
    meshconfig: 'MeshConfig',
  };
  for (const [arg, kind] of Object.entries(want)) assert.equal(kindFromArg(arg), kind, arg);
});
