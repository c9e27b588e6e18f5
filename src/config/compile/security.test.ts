// Which security policies reach which workload (Istio's scopes), the effective mTLS mode, auto mTLS on
// the client side, and how policy fields are carried into the snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Resource } from '../types.js';
import { MeshIndex, type InstanceView } from './inputs.js';
import { authorizationPolicies, effectiveMtls, inboundSecurity, jwtRules } from './security.js';
import { buildClusters } from './clusters.js';
import { portMode } from '../../model/security.js';
import type { ProxyIdentity } from '../../model/snapshot.js';

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

const proxy = (
  app: string,
  namespace = 'default',
  labels: Record<string, string> = { app },
): ProxyIdentity => ({
  id: `${app}-0.${namespace}`,
  workload: app,
  namespace,
  serviceAccount: app,
  spiffeId: `spiffe://cluster.local/ns/${namespace}/sa/${app}`,
  labels,
  kind: 'sidecar',
});

const instance = (p: ProxyIdentity): InstanceView => ({
  id: p.id,
  workload: p.workload,
  namespace: p.namespace,
  labels: p.labels,
  spiffeId: p.spiffeId,
  kind: 'sidecar',
  address: '127.0.0.1',
  inboundPort: 15006,
  ready: true,
});

const BASE = `
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: echo, labels: {app: echo}}
spec: {ports: [{containerPort: 8080}]}
`;

test('PeerAuthentication: workload beats namespace beats mesh; UNSET inherits; PERMISSIVE by default', () => {
  const pa = (ns: string, name: string, mode: string, selector = '') => `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}}
spec:
  ${selector}
  mtls: {mode: ${mode}}
---`;
  const echo = proxy('echo');
  const other = proxy('other', 'prod');
  assert.deepEqual(effectiveMtls(new MeshIndex(parse(BASE), []), echo), {
    mode: 'PERMISSIVE',
    ports: {},
    source: 'default',
  });
  const mesh = parse(pa('istio-system', 'default', 'STRICT'));
  assert.equal(effectiveMtls(new MeshIndex(mesh, []), other).mode, 'STRICT');
  const ns = parse(pa('istio-system', 'default', 'STRICT') + pa('default', 'ns', 'DISABLE'));
  assert.equal(effectiveMtls(new MeshIndex(ns, []), echo).mode, 'DISABLE');
  assert.equal(
    effectiveMtls(new MeshIndex(ns, []), other).mode,
    'STRICT',
    'another namespace keeps the mesh mode',
  );
  const unset = parse(
    pa('istio-system', 'default', 'STRICT') +
      pa('default', 'w', 'UNSET', 'selector: {matchLabels: {app: echo}}'),
  );
  assert.deepEqual(effectiveMtls(new MeshIndex(unset, []), echo), {
    mode: 'STRICT',
    ports: {},
    source: 'istio-system/default',
  });
  const ports = parse(`
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: w, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  mtls: {mode: STRICT}
  portLevelMtls:
    "8080": {mode: DISABLE}
    "9090": {mode: UNSET}
`);
  const m = effectiveMtls(new MeshIndex(ports, []), echo);
  assert.equal(portMode(m, 8080), 'DISABLE');
  assert.equal(portMode(m, 9090), 'STRICT');
  assert.equal(portMode(m, 7070), 'STRICT');
});

test('auto mTLS: plaintext to a DISABLE port; a DestinationRule tls.mode overrides either way', () => {
  const echo = proxy('echo');
  const disabled = `
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: echo, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  portLevelMtls: {"8080": {mode: DISABLE}}
`;
  const endpoints = (yaml: string) =>
    buildClusters(new MeshIndex(parse(yaml), [instance(echo)])).find(
      (c) => c.name === 'outbound|80||echo.default.svc.cluster.local',
    )!.endpoints;
  assert.equal(endpoints(BASE)[0]!.plaintext, undefined, 'mTLS by default');
  assert.equal(
    endpoints(BASE + disabled)[0]!.plaintext,
    true,
    'the service port targets container port 8080',
  );
  const dr = (mode: string) => `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec: {host: echo, trafficPolicy: {tls: {mode: ${mode}}}}
`;
  assert.equal(endpoints(BASE + disabled + dr('ISTIO_MUTUAL'))[0]!.plaintext, undefined);
  assert.equal(endpoints(BASE + dr('DISABLE'))[0]!.plaintext, true);
});

test('AuthorizationPolicy scopes: root namespace (with and without selector), namespace, selector; Istio order', () => {
  const ap = (ns: string, name: string, action: string, selector = '') => `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  ${selector}
  action: ${action}
  rules: [{}]
---`;
  const index = new MeshIndex(
    parse(
      ap('istio-system', 'mesh-allow', 'ALLOW') +
        ap('istio-system', 'mesh-echo', 'AUDIT', 'selector: {matchLabels: {app: echo}}') +
        ap('default', 'ns-deny', 'DENY') +
        ap('default', 'echo-only', 'ALLOW', 'selector: {matchLabels: {app: echo}}') +
        ap('prod', 'prod-deny', 'DENY'),
    ),
    [],
  );
  const names = (p: ProxyIdentity) => authorizationPolicies(index, p).map((x) => `${x.action} ${x.name}`);
  assert.deepEqual(names(proxy('echo')), [
    'DENY default/ns-deny',
    'ALLOW default/echo-only',
    'ALLOW istio-system/mesh-allow',
    'AUDIT istio-system/mesh-echo',
  ]);
  assert.deepEqual(names(proxy('other')), ['DENY default/ns-deny', 'ALLOW istio-system/mesh-allow']);
  assert.deepEqual(names(proxy('api', 'prod')), ['DENY prod/prod-deny', 'ALLOW istio-system/mesh-allow']);
});

test('rule fields: serviceAccounts become principals in any trust domain, path escapes are upper-cased', () => {
  const index = new MeshIndex(
    parse(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: sa, namespace: default}
spec:
  rules:
  - from: [{source: {serviceAccounts: [client, prod/batch]}}]
    to: [{operation: {paths: ["/a%2fb"]}}]
`),
    [],
  );
  const [p] = authorizationPolicies(index, proxy('echo'));
  assert.deepEqual(p!.rules[0]!.from, [{ principals: ['*/ns/default/sa/client', '*/ns/prod/sa/batch'] }]);
  assert.deepEqual(p!.rules[0]!.to, [{ paths: ['/a%2Fb'] }]);
});

test('RequestAuthentication and MeshConfig reach the workloads they select', () => {
  const index = new MeshIndex(
    parse(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwksUri: https://example.com/jwks.json
    fromHeaders: [{name: X-Token, prefix: "Bearer "}]
    presence: REQUIRED
---
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  pathNormalization: {normalization: MERGE_SLASHES}
  extensionProviders:
  - name: ext
    envoyExtAuthzHttp: {service: ext-authz.default.svc.cluster.local, port: 8000, includeRequestHeadersInCheck: [X-Ext-Authz]}
---
apiVersion: v1
kind: Service
metadata: {name: ext-authz}
spec: {selector: {app: ext-authz}, ports: [{name: http, port: 8000}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: custom, namespace: default}
spec:
  action: CUSTOM
  provider: {name: ext}
  rules: [{to: [{operation: {paths: ["/private*"]}}]}]
`),
    [],
  );
  assert.deepEqual(jwtRules(index, proxy('other')), []);
  const [rule] = jwtRules(index, proxy('echo'));
  assert.deepEqual(rule!.fromHeaders, [{ name: 'x-token', prefix: 'Bearer ' }]);
  assert.equal(rule!.required, true);
  const sec = inboundSecurity(index, proxy('echo'));
  assert.equal(sec.pathNormalization, 'MERGE_SLASHES');
  assert.deepEqual(
    sec.providers.map((p) => [p.name, p.host, p.port, p.viaMesh, p.includeRequestHeadersInCheck]),
    [['ext', 'ext-authz.default.svc.cluster.local', 8000, true, ['x-ext-authz']]],
  );
});
