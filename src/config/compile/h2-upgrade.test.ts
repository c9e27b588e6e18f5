// h2UpgradePolicy (DestinationRule connectionPool.http and MeshConfig), as Istio's shouldH2Upgrade: which
// clusters get `h2Upgrade`, and what the schema refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem } from '../types.js';
import { MeshIndex } from './inputs.js';
import { buildClusters } from './clusters.js';

const services = `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080}, {name: http-admin, port: 9090}, {name: grpc, port: 7070}, {name: web, port: 8000}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: https, protocol: HTTP}]
`;

const mesh = (policy: string) => `
---
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  h2UpgradePolicy: ${policy}
`;

const rule = (host: string, trafficPolicy: string, subsets = '') => `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r-${host.replace(/\W/g, '-')}, namespace: default}
spec:
  host: ${host}
  trafficPolicy: ${trafficPolicy}
  ${subsets}
`;

/** The names of the clusters that are upgraded. */
function upgraded(yaml: string): string[] {
  const { resources, problems } = parseDocuments(services + yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return buildClusters(new MeshIndex(resources, []))
    .filter((c) => c.h2Upgrade === true)
    .map((c) => c.name)
    .sort();
}

const upgrade = '{connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}';

test('nothing is upgraded by default', () => {
  assert.deepEqual(upgraded(''), []);
  assert.deepEqual(upgraded(mesh('DO_NOT_UPGRADE')), []);
});

test('a DestinationRule UPGRADE upgrades its HTTP ports (declared HTTP or not), not gRPC (HTTP/2 already)', () => {
  assert.deepEqual(upgraded(rule('echo', upgrade)), [
    'outbound|8000||echo.default.svc.cluster.local',
    'outbound|8080||echo.default.svc.cluster.local',
    'outbound|9090||echo.default.svc.cluster.local',
  ]);
});

test('DEFAULT means the mesh-wide setting, which upgrades ports declared HTTP only', () => {
  const dflt = rule('echo', '{connectionPool: {http: {h2UpgradePolicy: DEFAULT, maxRetries: 3}}}');
  assert.deepEqual(upgraded(dflt), []);
  assert.deepEqual(upgraded(mesh('UPGRADE') + dflt), [
    'outbound|8080||echo.default.svc.cluster.local',
    'outbound|9090||echo.default.svc.cluster.local',
  ]);
  // No rule at all: the mesh setting too.
  assert.deepEqual(upgraded(mesh('UPGRADE')), [
    'outbound|8080||echo.default.svc.cluster.local',
    'outbound|9090||echo.default.svc.cluster.local',
  ]);
});

test('DO_NOT_UPGRADE in a rule wins over the mesh, and useClientProtocol never upgrades', () => {
  const dont = rule('echo', '{connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}}');
  assert.deepEqual(upgraded(mesh('UPGRADE') + dont), []);
  const client = rule(
    'echo',
    '{connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}',
  );
  assert.deepEqual(upgraded(client), []);
});

test('portLevelSettings and subsets: the narrowest connectionPool decides', () => {
  const tp = `
    connectionPool: {http: {h2UpgradePolicy: UPGRADE}}
    portLevelSettings:
    - port: {number: 9090}
      connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}
    - port: {number: 8000}
      connectionPool: {tcp: {maxConnections: 10}}`;
  const subsets = `subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 9090}
        connectionPool: {http: {h2UpgradePolicy: UPGRADE}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}`;
  assert.deepEqual(upgraded(rule('echo', tp, subsets)), [
    // port 8000's own connectionPool says nothing: the mesh's DO_NOT_UPGRADE, as in Istio.
    'outbound|8080|v1|echo.default.svc.cluster.local',
    'outbound|8080||echo.default.svc.cluster.local',
    'outbound|9090|v1|echo.default.svc.cluster.local',
  ]);
  // Port-level UPGRADE with the rule-wide DO_NOT_UPGRADE (and the mesh's UPGRADE).
  const portOnly = `
    connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}
    portLevelSettings:
    - port: {number: 8080}
      connectionPool: {http: {h2UpgradePolicy: UPGRADE}}`;
  assert.deepEqual(upgraded(mesh('UPGRADE') + rule('echo', portOnly)), [
    'outbound|8080||echo.default.svc.cluster.local',
  ]);
});

test('hosts outside the mesh are never upgraded, nor TLS origination', () => {
  const ext = (names: string[]) => names.filter((n) => n.endsWith('|api.example.com'));
  const all = upgraded(mesh('UPGRADE') + rule('api.example.com', upgrade));
  assert.ok(all.includes('outbound|8080||echo.default.svc.cluster.local')); // the mesh's own are
  assert.deepEqual(ext(all), []);
  const originate = `
    connectionPool: {http: {h2UpgradePolicy: UPGRADE}}
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: SIMPLE}`;
  assert.deepEqual(upgraded(rule('api.example.com', originate)), []);
});

test('a value outside the enum is refused at apply, with the file, line and field', () => {
  const bad = parseDocuments(
    services + rule('echo', '{connectionPool: {http: {h2UpgradePolicy: ALWAYS}}}'),
    'inline.yaml',
  ).problems.map(formatProblem);
  assert.equal(bad.length, 1, bad.join('\n'));
  assert.match(
    bad[0]!,
    /^inline\.yaml:\d+: .*connectionPool\.http\.h2UpgradePolicy: must be one of DEFAULT, DO_NOT_UPGRADE, UPGRADE \(got "?ALWAYS"?\)/,
  );
  const badMesh = parseDocuments(services + mesh('DEFAULT'), 'inline.yaml').problems.map(formatProblem);
  assert.equal(badMesh.length, 1, badMesh.join('\n'));
  assert.match(
    badMesh[0]!,
    /^inline\.yaml:\d+: .*h2UpgradePolicy: must be DO_NOT_UPGRADE or UPGRADE \(got "?DEFAULT"?\)/,
  );
});
