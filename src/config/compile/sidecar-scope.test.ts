// The Sidecar resource: schema checks (Istio's ValidateSidecar messages) and the scope a workload's
// sidecar gets, on the examples of Istio's Sidecar reference page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Resource } from '../types.js';
import type { ProxyIdentity } from '../../model/snapshot.js';
import { MeshIndex } from './inputs.js';
import { compileSnapshot } from './snapshot.js';
import { sidecarFor } from './sidecar-scope.js';

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

const problems = (spec: string, apiVersion = 'networking.istio.io/v1') =>
  parseDocuments(`apiVersion: ${apiVersion}\nkind: Sidecar\nmetadata: {name: s}\nspec: ${spec}\n`, 'x.yaml')
    .problems.filter((p) => p.severity === 'error')
    .map((p) => `${p.field ?? ''}: ${p.message}`);

const service = (name: string, ns: string, port = 9080) => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {ports: [{port: ${port}, name: http}], selector: {app: ${name}}}
---`;

const mesh = `
${service('ratings', 'prod-us1')}
${service('reviews', 'prod-us1')}
${service('api', 'prod-apis')}
${service('api-grpc', 'prod-apis', 7000)}
${service('other', 'elsewhere')}
${service('telemetry', 'istio-system', 8080)}
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: prod-apis}
spec: {hosts: [api.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS}
---`;

function proxy(ns: string, labels: Record<string, string>): ProxyIdentity {
  return {
    id: `w-0.${ns}`,
    workload: 'w',
    namespace: ns,
    serviceAccount: 'w',
    spiffeId: `spiffe://cluster.local/ns/${ns}/sa/w`,
    labels,
    kind: 'sidecar',
  };
}

function known(rs: Resource[], ns: string, labels: Record<string, string> = {}) {
  const snap = compileSnapshot(new MeshIndex(rs, []), proxy(ns, labels));
  return { hosts: snap.outbound.virtualHosts.map((v) => v.name).sort(), policy: snap.outbound.policy };
}

test('schema: accepted as Istio writes it (v1, v1beta1, v1alpha3); Istio reasons for bad ones', () => {
  const ok =
    '{egress: [{port: {number: 9080, protocol: HTTP, name: h}, hosts: [prod-apis/*]}, {hosts: ["./*", "~/*", "*/x.example.com", "istio-system/*.svc.cluster.local"]}]}';
  for (const v of ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'])
    assert.deepEqual(problems(ok, v), [], v);
  assert.deepEqual(problems('{outboundTrafficPolicy: {mode: REGISTRY_ONLY}}'), []);
  const bad: Array<[string, RegExp]> = [
    ['{}', /empty configuration provided/],
    ['{egress: [{hosts: [reviews]}]}', /namespace\/dnsName/],
    ['{egress: [{hosts: ["/reviews"]}]}', /must not be empty/],
    ['{egress: [{hosts: ["Bad_NS/*"]}]}', /invalid namespace/],
    ['{egress: [{hosts: ["ns/a..b"]}]}', /invalid dnsName/],
    ['{egress: [{hosts: []}]}', /at least one host/],
    ['{egress: [{hosts: ["*/*"]}, {port: {number: 80}, hosts: ["*/*"]}]}', /empty port should be the last/],
    ['{egress: [{port: {number: 80}, hosts: ["*/*"]}, {port: {number: 80}, hosts: ["*/*"]}]}', /unique/],
    [
      '{workloadSelector: {labels: {}}, egress: [{hosts: ["*/*"]}]}',
      /workloadSelector labels cannot be empty/,
    ],
    ['{outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: x}}}', /only with ALLOW_ANY/],
    ['{egres: [{hosts: ["*/*"]}]}', /did you mean "egress"/],
  ];
  for (const [spec, want] of bad) assert.match(problems(spec).join('\n'), want, spec);
});

test('which Sidecar applies: workload selector, then namespace-wide, then the root namespace', () => {
  const rs = parse(`
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec: {rootNamespace: istio-config}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-config}
spec: {egress: [{hosts: ["./*", "istio-system/*"]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: only-root-workloads, namespace: istio-config}
spec: {workloadSelector: {labels: {app: x}}, egress: [{hosts: ["*/*"]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: prod-us1}
spec: {egress: [{hosts: ["prod-us1/*", "prod-apis/*", "istio-system/*"]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ratings, namespace: prod-us1}
spec:
  workloadSelector: {labels: {app: ratings}}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  egress:
  - port: {number: 9080, protocol: HTTP, name: egresshttp}
    hosts: ["prod-apis/*"]
  - hosts: ["istio-system/*"]
`);
  const index = new MeshIndex(rs, []);
  const name = (ns: string, labels: Record<string, string>) => {
    const s = sidecarFor(index, ns, labels);
    return s && `${s.metadata.namespace}/${s.metadata.name}`;
  };
  assert.equal(name('prod-us1', { app: 'ratings' }), 'prod-us1/ratings');
  assert.equal(name('prod-us1', { app: 'reviews' }), 'prod-us1/default');
  assert.equal(name('elsewhere', { app: 'x' }), 'istio-config/default');
  const none = new MeshIndex(parse(service('a', 'b')), []);
  assert.equal(sidecarFor(none, 'b', {}), undefined);
});

test('egress hosts scope the virtual hosts; ports, ".", ServiceEntries; outboundTrafficPolicy per Sidecar', () => {
  const sidecars = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec: {egress: [{hosts: ["./*", "istio-system/*"]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ratings, namespace: prod-us1}
spec:
  workloadSelector: {labels: {app: ratings}}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  egress:
  - port: {number: 9080, protocol: HTTP, name: egresshttp}
    hosts: ["prod-apis/*"]
  - hosts: ["istio-system/*", "prod-apis/api.example.com"]
`;
  const rs = parse(mesh + sidecars);
  // Without a Sidecar of its own, prod-us1's reviews gets the root default: its own namespace and istio-system.
  assert.deepEqual(known(rs, 'prod-us1', { app: 'reviews' }), {
    hosts: [
      'ratings.prod-us1.svc.cluster.local:9080',
      'reviews.prod-us1.svc.cluster.local:9080',
      'telemetry.istio-system.svc.cluster.local:8080',
    ],
    policy: 'ALLOW_ANY',
  });
  // ratings: port 9080 from prod-apis only (api-grpc is on 7000), the other ports from istio-system,
  // and one ServiceEntry host.
  assert.deepEqual(known(rs, 'prod-us1', { app: 'ratings' }), {
    hosts: [
      'api.example.com:443',
      'api.prod-apis.svc.cluster.local:9080',
      'telemetry.istio-system.svc.cluster.local:8080',
    ],
    policy: 'REGISTRY_ONLY',
  });
  // No Sidecar at all: everything, the mesh's policy.
  assert.equal(known(parse(mesh), 'elsewhere').hosts.length, 7);
});

test('VirtualServices: used when the sidecar knows one of their hosts; their destinations become known', () => {
  const rs = parse(`${mesh}
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: prod-us1}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: other.elsewhere.svc.cluster.local}}]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s, namespace: prod-us1}
spec: {egress: [{hosts: ["./reviews.prod-us1.svc.cluster.local"]}]}
`);
  const index = new MeshIndex(rs, []);
  const snap = compileSnapshot(index, proxy('prod-us1', {}));
  assert.deepEqual(snap.outbound.virtualHosts.map((v) => v.name).sort(), [
    'other.elsewhere.svc.cluster.local:9080',
    'reviews.prod-us1.svc.cluster.local:9080',
  ]);
  const reviews = snap.outbound.virtualHosts.find((v) => v.name.startsWith('reviews'))!;
  const action = reviews.routes[0]!.action;
  assert.equal(
    action.kind === 'forward' && action.clusters[0]!.cluster,
    'outbound|9080||other.elsewhere.svc.cluster.local',
  );
  // A VirtualService in a namespace the Sidecar does not import is not used, even for a host it knows.
  const elsewhere = parse(`${mesh}
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: elsewhere}
spec:
  hosts: [reviews.prod-us1.svc.cluster.local]
  http: [{route: [{destination: {host: other.elsewhere.svc.cluster.local}}]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s, namespace: prod-apis}
spec: {egress: [{hosts: ["prod-us1/*"]}]}
`);
  const snap2 = compileSnapshot(new MeshIndex(elsewhere, []), proxy('prod-apis', {}));
  assert.deepEqual(snap2.outbound.virtualHosts.map((v) => v.name).sort(), [
    'ratings.prod-us1.svc.cluster.local:9080',
    'reviews.prod-us1.svc.cluster.local:9080',
  ]);
  const r2 = snap2.outbound.virtualHosts.find((v) => v.name.startsWith('reviews'))!.routes[0]!.action;
  assert.equal(
    r2.kind === 'forward' && r2.clusters[0]!.cluster,
    'outbound|9080||reviews.prod-us1.svc.cluster.local',
  );
});
