// VirtualService delegation with Istio's reference example (namespaces renamed to valid DNS labels):
// the root's rules hand /productpage and /reviews to VirtualServices without hosts in other namespaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Resource } from '../types.js';
import { MeshIndex } from './inputs.js';

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

const EXAMPLE = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo, namespace: default}
spec:
  hosts: [bookinfo.com]
  gateways: [mygateway]
  http:
  - match: [{uri: {prefix: /productpage}}]
    timeout: 3s
    delegate: {name: productpage, namespace: ns-a}
  - match: [{uri: {prefix: /reviews}}]
    delegate: {name: reviews, namespace: ns-b}
  - match: [{uri: {prefix: /ratings}}]
    delegate: {name: missing}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: productpage, namespace: ns-a}
spec:
  http:
  - match: [{uri: {prefix: /productpage/v1/}}]
    route: [{destination: {host: productpage-v1}}]
  - match: [{uri: {prefix: /elsewhere}}]
    route: [{destination: {host: elsewhere}}]
  - route: [{destination: {host: productpage}}]
    timeout: 1s
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ns-b}
spec:
  exportTo: [.]
  http:
  - route: [{destination: {host: reviews.ns-b.svc.cluster.local}}]
`;

test("delegates merge into their root, narrowed by the root's match, in the delegates' namespaces", () => {
  const index = new MeshIndex(parse(EXAMPLE), []);
  assert.deepEqual(
    index.virtualServices.map((v) => `${v.metadata.namespace}/${v.metadata.name}`),
    ['default/bookinfo'],
    'delegates never route on their own',
  );
  const rules = index.virtualServices[0]!.spec.http!;
  assert.deepEqual(
    rules.map((r) => ({
      match: r.match?.map((m) => m.uri),
      host: r.route?.[0]?.destination.host,
      timeout: r.timeout,
    })),
    [
      // the delegate's narrower prefix, with the root's timeout filled in
      {
        match: [{ prefix: '/productpage/v1/' }],
        host: 'productpage-v1.ns-a.svc.cluster.local',
        timeout: '3s',
      },
      // /elsewhere is outside the root's /productpage: dropped. No match: the root's match, own timeout.
      { match: [{ prefix: '/productpage' }], host: 'productpage.ns-a.svc.cluster.local', timeout: '1s' },
      // exported only to ns-b, so the default namespace's root cannot use it; a missing delegate too
    ],
  );
});

test('a delegate exported to the root namespace is used', () => {
  const index = new MeshIndex(parse(EXAMPLE.replace('exportTo: [.]', 'exportTo: [default]')), []);
  const hosts = index.virtualServices[0]!.spec.http!.map((r) => r.route?.[0]?.destination.host);
  assert.deepEqual(hosts, [
    'productpage-v1.ns-a.svc.cluster.local',
    'productpage.ns-a.svc.cluster.local',
    'reviews.ns-b.svc.cluster.local',
  ]);
  assert.deepEqual(index.virtualServices[0]!.spec.http![2]!.match, [{ uri: { prefix: '/reviews' } }]);
});
