import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from './analyze.js';
import { loadPaths, parseDocuments } from './load.js';
import { fixture } from './testing.js';
import { kubeObjects } from './analyze-kube.js';
import { formatProblem, type ConfigProblem, type Resource } from './types.js';

const errors = (ps: ConfigProblem[]) => ps.filter((p) => p.severity === 'error');
const show = (ps: ConfigProblem[]) => ps.map(formatProblem).join('\n');

async function load(...files: string[]): Promise<Resource[]> {
  const { resources, problems } = await loadPaths(files.map((f) => fixture(f)));
  assert.deepEqual(errors(problems), [], show(problems));
  return resources;
}

function parse(text: string): Resource[] {
  const { resources, problems } = parseDocuments(text, 'test.yaml');
  assert.deepEqual(errors(problems), [], show(problems));
  return resources;
}

const vs = (name: string, http: string, extra = '') =>
  `---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}}\nspec:\n  hosts: [${name}]\n${extra}  http:\n${http}\n`;
const svc = (name: string, ns = 'default', selector = `{app: ${name}}`) =>
  `---\napiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: ${selector}\n  ports: [{port: 9080, name: http}]\n`;
const workload = (name: string, labels: string) =>
  `---\napiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: ${name}, labels: ${labels}}\nspec: {ports: [{containerPort: 9080}]}\n`;

test('bookinfo services + all DestinationRules + reviews-v3 route: no errors', async () => {
  const resources = await load(
    'istio-bookinfo/platform-kube/bookinfo.yaml',
    'istio-bookinfo/destination-rule-all.yaml',
    'istio-bookinfo/virtual-service-reviews-v3.yaml',
    'istio-bookinfo/bookinfo-gateway.yaml',
  );
  const problems = analyze(resources);
  assert.deepEqual(errors(problems), [], show(problems));
  // No Workloads were loaded, so each selector is worth a warning; nothing else is.
  assert.ok(
    problems.every((p) => p.code === 'WEFT_ERR_ANALYZE_NO_WORKLOADS'),
    show(problems),
  );
});

test('with Workloads behind the Services, there is nothing to report', () => {
  const text =
    svc('reviews') +
    workload('reviews-v1', '{app: reviews, version: v1}') +
    vs('reviews', '  - route: [{destination: {host: reviews}}]');
  assert.deepEqual(analyze(parse(text)), []);
});

test('a subset no DestinationRule defines is reported at the subset line', async () => {
  const resources = await load(
    'istio-bookinfo/platform-kube/bookinfo.yaml',
    'istio-bookinfo/destination-rule-all.yaml',
  );
  const text = vs('reviews', '  - route:\n    - destination:\n        host: reviews\n        subset: v9');
  const problems = errors(analyze([...resources, ...parse(text)]));
  assert.equal(problems.length, 1, show(problems));
  const [p] = problems as [ConfigProblem];
  assert.equal(p.code, 'WEFT_ERR_ANALYZE_UNKNOWN_SUBSET');
  assert.equal(p.field, 'spec.http[0].route[0].destination.subset');
  assert.equal(p.file, 'test.yaml');
  assert.equal(p.line, 11);
  assert.equal(p.name, 'default/reviews');
  assert.match(
    p.message,
    /subset "v9" of host "reviews" is not defined by any DestinationRule for reviews\.default\.svc\.cluster\.local \(IST0101/,
  );
});

test('a host no Service defines is an error; external and fully qualified names are not', () => {
  const routes = [
    'reviewz',
    'reviews.default',
    'reviews.default.svc',
    'reviews.default.svc.cluster.local',
    'www.googleapis.com',
    'example.org',
    '*.example.com',
  ]
    .map((h) => `  - route: [{destination: {host: "${h}"}}]\n    match: [{uri: {prefix: /${h}}}]`)
    .join('\n');
  const problems = analyze(parse(svc('reviews') + vs('reviews', routes)));
  assert.deepEqual(
    errors(problems).map((p) => [p.code, p.field, p.line]),
    [['WEFT_ERR_ANALYZE_UNKNOWN_HOST', 'spec.http[0].route[0].destination.host', 15]],
  );
  assert.match(
    errors(problems)[0]?.message ?? '',
    /host "reviewz" \(reviewz\.default\.svc\.cluster\.local\) does not match any Service or ServiceEntry \(IST0101/,
  );
});

test('mirrors, ports and exportTo visibility are checked like Istio', () => {
  const text =
    svc('reviews') +
    `---\napiVersion: v1\nkind: Service\nmetadata:\n  name: private\n  annotations: {networking.istio.io/exportTo: "."}\nspec: {ports: [{port: 80}]}\n` +
    vs(
      'reviews',
      '  - route: [{destination: {host: reviews, port: {number: 9999}}}]\n    mirror: {host: ghost}',
    ) +
    `---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: peek, namespace: other}\nspec:\n  hosts: [peek]\n  http:\n  - route: [{destination: {host: private.default.svc.cluster.local}}]\n`;
  const got = errors(analyze(parse(text))).map(
    (p) => `${p.name} ${p.field}: ${p.message.replace(/ \(IST0101.*$/, '')}`,
  );
  assert.deepEqual(got, [
    'default/reviews spec.http[0].route[0].destination.port.number: host "reviews" has no port 9999; Service reviews has 9080',
    'default/reviews spec.http[0].mirror.host: mirror host "ghost" (ghost.default.svc.cluster.local) does not match any Service or ServiceEntry',
    'other/peek spec.http[0].route[0].destination.host: host "private.default.svc.cluster.local" is not visible from namespace other: Service default/private is exported only to default (networking.istio.io/exportTo)',
  ]);
});

test('gateway references: same namespace, ns/name, legacy name.ns, and mesh', () => {
  const gw = (name: string, ns: string) =>
    `---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]\n`;
  const text =
    svc('web') +
    gw('public', 'default') +
    gw('edge', 'infra') +
    vs(
      'web',
      '  - route: [{destination: {host: web}}]',
      '  gateways: [public, infra/edge, edge.infra, mesh, missing, infra/public]\n',
    );
  // Hosts a gateway does not serve and conflicting gateways are analyze-routes.test.ts's.
  const problems = analyze(parse(text)).filter(
    (p) => !['WEFT_ERR_ANALYZE_HOST_NOT_IN_GATEWAY', 'WEFT_ERR_ANALYZE_GATEWAY_CONFLICT'].includes(p.code),
  );
  assert.deepEqual(
    problems.map((p) => [p.code, p.field, p.message.replace(/ \(IST0101.*$/, '')]),
    [
      [
        'WEFT_ERR_ANALYZE_NO_WORKLOADS',
        'spec.selector',
        'selector app=web matches no Workload in namespace default, so the Service has no endpoints',
      ],
      [
        'WEFT_ERR_ANALYZE_UNKNOWN_GATEWAY',
        'spec.gateways[4]',
        'gateway "missing" (default/missing) does not exist',
      ],
      [
        'WEFT_ERR_ANALYZE_UNKNOWN_GATEWAY',
        'spec.gateways[5]',
        'gateway "infra/public" (infra/public) does not exist',
      ],
    ],
  );
});

test('selectors: Services need a Workload in their namespace; Gateways may use the built-in gateways', () => {
  const gw = (name: string, selector: string) =>
    `---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: ${name}}\nspec:\n  selector: ${selector}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]\n`;
  const text =
    svc('api', 'default', '{app: api}') +
    svc('api', 'staging', '{app: api}') +
    svc('headless', 'default', '{}') +
    workload('api', '{app: api, version: v1}') +
    workload('my-gw', '{role: edge}') +
    gw('ingress', '{istio: ingressgateway}') +
    gw('egress', '{istio: egressgateway}') +
    gw('custom', '{role: edge}') +
    gw('nowhere', '{istio: ingress}');
  // Gateways without routes are their own check (analyze-routes.test.ts).
  const problems = analyze(parse(text)).filter((p) => p.code !== 'WEFT_ERR_ANALYZE_GATEWAY_NO_ROUTES');
  assert.deepEqual(
    problems.map((p) => [p.severity, p.code, p.name]),
    [
      ['warning', 'WEFT_ERR_ANALYZE_NO_WORKLOADS', 'staging/api'],
      ['warning', 'WEFT_ERR_ANALYZE_GATEWAY_NO_WORKLOAD', 'default/nowhere'],
    ],
  );
  assert.equal(problems[1]?.line, 58); // the `selector:` line of the last Gateway
});

// Istio's own analyzer cases (expected.json) are analyze-istio.test.ts's.

test('security: selectors that match nothing, undefined CUSTOM providers, unserved ports, plaintext toward STRICT', () => {
  const problems = analyze(
    parse(
      svc('echo') +
        workload('echo', '{app: echo}') +
        `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: typo}
spec:
  selector: {matchLabels: {app: ehco}}
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: custom}
spec:
  action: CUSTOM
  provider: {name: opa}
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: echo}
spec:
  selector: {matchLabels: {app: echo}}
  mtls: {mode: STRICT}
  portLevelMtls: {"8080": {mode: PERMISSIVE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {tls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules: [{}]
`,
    ),
  );
  const got = problems.map((p) => `${p.severity} ${p.kind} ${p.name} ${p.field}: ${p.message}`);
  const has = (re: RegExp) =>
    assert.ok(
      got.some((g) => re.test(g)),
      `${re}\n${got.join('\n')}`,
    );
  has(
    /^warning AuthorizationPolicy default\/typo spec\.selector\.matchLabels: selector app=ehco matches no workload in namespace default.*IST0127/,
  );
  has(
    /^error AuthorizationPolicy default\/custom spec\.provider\.name: extension provider "opa" is not defined/,
  );
  has(
    /^warning PeerAuthentication default\/echo spec\.portLevelMtls\["8080"\]: port 8080 is not a container port of the selected workloads \(9080\)/,
  );
  has(
    /^error DestinationRule default\/echo spec\.trafficPolicy\.tls\.mode: tls\.mode DISABLE sends plaintext to echo\.default\.svc\.cluster\.local, but echo only accept mTLS/,
  );
  assert.ok(!got.some((g) => g.includes('istio-system/edge')), 'a policy for the built-in gateway is fine');
});

test('Kubernetes manifests count for analysis only: Deployment pod labels are workloads, Namespaces exist', () => {
  const text = `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  rules: [{from: [{source: {namespaces: [payments, "pay*", ops]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: all, namespace: shop}
spec: {}
`;
  const kube = kubeObjects(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template: {metadata: {labels: {app: api}}, spec: {containers: [{name: api, image: api}]}}
---
apiVersion: v1
kind: Namespace
metadata: {name: payments}
`);
  const show = (ps: ConfigProblem[]) => ps.map((p) => `${p.code} ${p.name} ${p.field}`);
  assert.deepEqual(show(analyze(parse(text), kube)), [
    'WEFT_ERR_ANALYZE_UNKNOWN_NAMESPACE shop/api spec.rules[0].from[0].source.namespaces[2]',
  ]);
  // Without the manifests, nothing runs in shop and only the policies' own namespace exists.
  assert.deepEqual(show(analyze(parse(text))), [
    'WEFT_ERR_ANALYZE_NO_WORKLOADS shop/api spec.selector.matchLabels',
    'WEFT_ERR_ANALYZE_UNKNOWN_NAMESPACE shop/api spec.rules[0].from[0].source.namespaces[0]',
    'WEFT_ERR_ANALYZE_UNKNOWN_NAMESPACE shop/api spec.rules[0].from[0].source.namespaces[1]',
    'WEFT_ERR_ANALYZE_UNKNOWN_NAMESPACE shop/api spec.rules[0].from[0].source.namespaces[2]',
    'WEFT_ERR_ANALYZE_NO_WORKLOADS shop/all metadata.namespace',
  ]);
});

test('ServiceEntry hosts: their ports are checked like a Service, and exportTo hides them', () => {
  const se = (name: string, ns: string, host: string, extra = '') =>
    `---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  hosts: [${host}]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}]\n  resolution: DNS\n${extra}`;
  const text =
    se('api', 'default', 'api.example.com') +
    se('private', 'egress', 'www.private.test', '  exportTo: ["."]\n') +
    vs('web', '  - route: [{destination: {host: api.example.com}}]') +
    vs('web2', '  - route: [{destination: {host: api.example.com, port: {number: 8080}}}]') +
    vs('web3', '  - route: [{destination: {host: www.private.test, port: {number: 80}}}]') +
    vs('web4', '  - route: [{destination: {host: www.elsewhere.test}}]');
  const got = analyze(parse(text))
    .filter((p) => p.kind === 'VirtualService')
    .map((p) => `${p.code} ${p.name}: ${p.message}`);
  // www.elsewhere.test: no ServiceEntry declares it, so it may be a real outside name; nothing to say.
  assert.deepEqual(got, [
    'WEFT_ERR_ANALYZE_PORT_REQUIRED default/web: host "api.example.com" names no port, and ServiceEntry default/api has several (80, 443): set destination.port.number (IST0112 VirtualServiceDestinationPortSelectorRequired)',
    'WEFT_ERR_ANALYZE_UNKNOWN_HOST default/web2: host "api.example.com" has no port 8080; ServiceEntry default/api has 80, 443 (IST0101 ReferencedResourceNotFound)',
    'WEFT_ERR_ANALYZE_UNKNOWN_HOST default/web3: host "www.private.test" is not visible from namespace default: ServiceEntry egress/private is exported only to egress; add the namespace to its exportTo (IST0101 ReferencedResourceNotFound)',
  ]);
});
