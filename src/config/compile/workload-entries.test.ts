// WorkloadEntry endpoints in the clusters of ServiceEntries (workloadSelector) and Services (selector),
// with Istio's example of VMs behind a MESH_INTERNAL ServiceEntry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Resource } from '../types.js';
import { MeshIndex } from './inputs.js';
import { buildClusters } from './clusters.js';

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

// From Istio's ServiceEntry reference ("VMs with sidecars and WorkloadEntry"), ports adapted.
const VMS = `
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: details-svc-vm-1, namespace: bookinfo}
spec:
  serviceAccount: details-legacy
  address: 2.2.2.2
  labels: {app: details-legacy, instance-id: vm1, security.istio.io/tlsMode: istio}
  locality: us-east1/us-east1-b
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: details-svc-vm-2, namespace: bookinfo}
spec:
  address: 3.3.3.3
  ports: {http: 18080}
  labels: {app: details-legacy, instance-id: vm2}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: elsewhere, namespace: other}
spec:
  address: 4.4.4.4
  labels: {app: details-legacy}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: details-svc, namespace: bookinfo}
spec:
  hosts: [details.bookinfo.com]
  location: MESH_INTERNAL
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}
  resolution: STATIC
  workloadSelector:
    labels: {app: details-legacy}
`;

test('a MESH_INTERNAL ServiceEntry selects WorkloadEntries of its namespace: port, identity, mTLS by label', () => {
  const clusters = buildClusters(new MeshIndex(parse(VMS), []));
  const c = clusters.find((x) => x.service === 'details.bookinfo.com' && !x.subset);
  assert.ok(c, 'a cluster for the ServiceEntry host');
  assert.equal(c.external, undefined, 'in the mesh');
  const eps = [...c.endpoints].sort((a, b) => a.address.localeCompare(b.address));
  assert.deepEqual(
    eps.map((e) => ({ ...e, labels: e.labels['instance-id'] })),
    [
      {
        address: '2.2.2.2',
        port: 8080, // no ports map: the service port's targetPort
        identity: 'spiffe://cluster.local/ns/bookinfo/sa/details-legacy',
        instance: 'WorkloadEntry/bookinfo/details-svc-vm-1',
        labels: 'vm1',
        healthy: true,
        locality: { region: 'us-east1', zone: 'us-east1-b' },
      },
      {
        address: '3.3.3.3',
        port: 18080, // the entry's own port for "http"
        identity: 'spiffe://cluster.local/ns/bookinfo/sa/default',
        instance: 'WorkloadEntry/bookinfo/details-svc-vm-2',
        labels: 'vm2',
        healthy: true,
        plaintext: true, // no tlsMode label: no sidecar in front of it
      },
    ],
  );
});

test('a Service selects WorkloadEntries like Workloads; a DestinationRule subset narrows them', () => {
  const index = new MeshIndex(
    parse(
      VMS +
        `---
apiVersion: v1
kind: Service
metadata: {name: details, namespace: bookinfo}
spec:
  selector: {app: details-legacy}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: details, namespace: bookinfo}
spec:
  host: details
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets: [{name: vm2, labels: {instance-id: vm2}}]
`,
    ),
    [],
  );
  const clusters = buildClusters(index);
  const all = clusters.find((c) => c.service === 'details.bookinfo.svc.cluster.local' && !c.subset)!;
  assert.deepEqual(all.endpoints.map((e) => `${e.address}:${e.port}`).sort(), [
    '2.2.2.2:9080',
    '3.3.3.3:18080',
  ]);
  assert.ok(
    all.endpoints.every((e) => e.plaintext === undefined),
    'ISTIO_MUTUAL in the rule: mTLS to every entry',
  );
  const vm2 = clusters.find((c) => c.service === 'details.bookinfo.svc.cluster.local' && c.subset === 'vm2')!;
  assert.deepEqual(
    vm2.endpoints.map((e) => e.instance),
    ['WorkloadEntry/bookinfo/details-svc-vm-2'],
  );
});
