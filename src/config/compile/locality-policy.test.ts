// DestinationRule localityLbSetting: what the schema accepts (Istio's webhook rules) and what reaches the
// clusters (distribute on its own, failover only with outlier detection, nothing with enabled: false).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem } from '../types.js';
import { MeshIndex } from './inputs.js';
import { buildClusters } from './clusters.js';

const rule = (lb: string, outlier = false) => `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo
  trafficPolicy:
    ${outlier ? 'outlierDetection: {consecutive5xxErrors: 1}' : ''}
    loadBalancer:
      localityLbSetting: ${lb}
`;

function locality(yaml: string) {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  const c = buildClusters(new MeshIndex(resources, [])).find((x) => x.name.startsWith('outbound|8080||echo'));
  return c?.locality;
}

function problems(lb: string): string {
  return parseDocuments(rule(lb), 'inline.yaml').problems.map(formatProblem).join('\n');
}

test('distribute applies without outlier detection, with its weights in written order', () => {
  assert.deepEqual(
    locality(
      rule(`{distribute: [{from: "us-west/zone1/*", to: {"us-west/zone1/*": 80, "us-west/zone2/*": 20}}]}`),
    ),
    {
      failover: [],
      distribute: [
        {
          from: 'us-west/zone1/*',
          to: [
            { locality: 'us-west/zone1/*', weight: 80 },
            { locality: 'us-west/zone2/*', weight: 20 },
          ],
        },
      ],
    },
  );
});

test('failover and failoverPriority need outlier detection; enabled: false turns everything off', () => {
  const lb = `{failover: [{from: us-east, to: eu-west}], failoverPriority: [topology.istio.io/network]}`;
  assert.equal(locality(rule(lb)), undefined);
  assert.deepEqual(locality(rule(lb, true)), {
    failover: [{ from: 'us-east', to: 'eu-west' }],
    failoverPriority: ['topology.istio.io/network'],
  });
  assert.deepEqual(locality(rule('{}', true)), { failover: [] }); // Istio's default: on
  assert.equal(locality(rule('{enabled: false}', true)), undefined);
  assert.equal(
    locality(rule(`{enabled: false, distribute: [{from: "*", to: {"r1/*": 100}}]}`, true)),
    undefined,
  );
});

test('the schema refuses what Istio refuses', () => {
  assert.match(
    problems(`{distribute: [{from: "*", to: {"r1/*": 60, "r2/*": 30}}]}`),
    /add up to 100 \(got 90\)/,
  );
  assert.match(problems(`{distribute: [{from: "*", to: {"r1/*": 0, "r2/*": 100}}]}`), /r1/);
  assert.match(problems(`{distribute: [{from: "r1/*/a", to: {"r1": 100}}]}`), /only as the last part/);
  assert.match(
    problems(`{distribute: [{from: "*", to: {"r1": 100}}], failover: [{from: r1, to: r2}]}`),
    /both distribute and failover/,
  );
  assert.match(problems(`{failover: [{from: r1, to: r1}]}`), /another region/);
  assert.match(problems(`{failover: [{from: r1, to: "r*"}]}`), /wildcard/);
  assert.equal(
    problems(`{failoverPriority: [topology.istio.io/network, "topology.kubernetes.io/region=r1"]}`),
    '',
  );
});

test('meshConfig.localityLbSetting is the default; a DestinationRule that sets its own wins', () => {
  const mesh = `
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  localityLbSetting:
    distribute: [{from: "*", to: {"us-east/*": 100}}]
`;
  const service = rule('{enabled: true}').split('---')[0]!;
  assert.deepEqual(locality(`${mesh}---${service}`), {
    failover: [],
    distribute: [{ from: '*', to: [{ locality: 'us-east/*', weight: 100 }] }],
  });
  assert.deepEqual(locality(`${mesh}---${rule('{enabled: false}')}`), undefined);
  // The mesh setting is checked like a DestinationRule's (Istio's webhook rules).
  const bad = parseDocuments(mesh.replace('100', '90'), 'mesh.yaml').problems.map(formatProblem);
  assert.match(bad.join('\n'), /localityLbSetting/);
});
