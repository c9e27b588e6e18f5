// tcpKeepalive (DestinationRule connectionPool.tcp and MeshConfig): which clusters get SO_KEEPALIVE, with
// which time, interval and probe count, and what the schema refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem } from '../types.js';
import { MeshIndex } from './inputs.js';
import { buildClusters } from './clusters.js';
import type { TcpKeepalive } from '../../model/snapshot.js';

const services = `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080}, {name: tcp, port: 9000}]
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: default}
spec:
  selector: {app: other}
  ports: [{name: http, port: 8080}]
`;

const mesh = (keepalive: string) => `
---
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  tcpKeepalive: ${keepalive}
`;

const rule = (trafficPolicy: string) => `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo
  trafficPolicy: ${trafficPolicy}
`;

/** Cluster name -> its keep-alive settings, for the clusters that have some. */
function settings(yaml: string): Record<string, TcpKeepalive> {
  const { resources, problems } = parseDocuments(services + yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  const out: Record<string, TcpKeepalive> = {};
  for (const c of buildClusters(new MeshIndex(resources, [])))
    if (c.connectionPool?.tcpKeepalive !== undefined && c.name.includes('.default.'))
      out[c.name] = c.connectionPool.tcpKeepalive;
  return out;
}

/** Cluster name -> keep-alive time, for the clusters that have one. */
const keepalives = (yaml: string): Record<string, number> =>
  Object.fromEntries(Object.entries(settings(yaml)).map(([k, v]) => [k, v.timeMs]));

const ECHO_8080 = 'outbound|8080||echo.default.svc.cluster.local';
const ECHO_9000 = 'outbound|9000||echo.default.svc.cluster.local';
const OTHER = 'outbound|8080||other.default.svc.cluster.local';

test('no tcpKeepalive anywhere: no cluster sets SO_KEEPALIVE', () => {
  assert.deepEqual(keepalives(''), {});
  assert.deepEqual(keepalives(rule('{connectionPool: {tcp: {maxConnections: 5}}}')), {});
});

test("a DestinationRule's tcpKeepalive: its time, or 0 (the system's) when it gives none", () => {
  const full = { timeMs: 7000, intervalMs: 2000, probes: 3 };
  assert.deepEqual(
    settings(rule('{connectionPool: {tcp: {tcpKeepalive: {time: 7s, interval: 2s, probes: 3}}}}')),
    { [ECHO_8080]: full, [ECHO_9000]: full },
  );
  assert.deepEqual(keepalives(rule('{connectionPool: {tcp: {tcpKeepalive: {}}}}')), {
    [ECHO_8080]: 0,
    [ECHO_9000]: 0,
  });
});

test("meshConfig.tcpKeepalive applies to every cluster; a rule's time wins, and a rule without one keeps the mesh's", () => {
  const all = keepalives(mesh('{time: 30s}'));
  assert.equal(all[ECHO_8080], 30_000);
  assert.equal(all[OTHER], 30_000);
  const tp = `
    connectionPool: {tcp: {maxConnections: 5}}
    portLevelSettings:
    - port: {number: 9000}
      connectionPool: {tcp: {tcpKeepalive: {time: 5s}}}`;
  const mixed = keepalives(mesh('{time: 30s}') + rule(tp));
  assert.equal(mixed[ECHO_8080], 30_000); // a connectionPool that says nothing of keep-alive
  assert.equal(mixed[ECHO_9000], 5_000);
  assert.equal(mixed[OTHER], 30_000);
  // A rule's empty tcpKeepalive takes the mesh's time, as Istio merges the two field by field.
  assert.equal(
    keepalives(mesh('{time: 30s}') + rule('{connectionPool: {tcp: {tcpKeepalive: {}}}}'))[ECHO_8080],
    30_000,
  );
});

test('interval and probes, field by field from the narrowest policy that gives them; 0 probes means unset', () => {
  const tp = `
    connectionPool: {tcp: {tcpKeepalive: {interval: 20s}}}
    portLevelSettings:
    - port: {number: 9000}
      connectionPool: {tcp: {tcpKeepalive: {probes: 4}}}`;
  const got = settings(mesh('{time: 30s, interval: 75s, probes: 9}') + rule(tp));
  assert.deepEqual(got[ECHO_8080], { timeMs: 30_000, intervalMs: 20_000, probes: 9 });
  assert.deepEqual(got[ECHO_9000], { timeMs: 30_000, intervalMs: 20_000, probes: 4 });
  assert.deepEqual(got[OTHER], { timeMs: 30_000, intervalMs: 75_000, probes: 9 });
  // Interval and probes without a time anywhere: the system's time, with these.
  assert.deepEqual(
    settings(rule('{connectionPool: {tcp: {tcpKeepalive: {probes: 0, interval: 5s}}}}'))[ECHO_8080],
    {
      timeMs: 0,
      intervalMs: 5000,
    },
  );
});

test('a malformed tcpKeepalive is refused with the field and the reason', () => {
  const { problems } = parseDocuments(
    services + rule('{connectionPool: {tcp: {tcpKeepalive: {time: soon, retries: 3}}}}'),
    'inline.yaml',
  );
  const text = problems.map(formatProblem).join('\n');
  assert.match(text, /tcpKeepalive\.time.*invalid duration "soon"/);
  assert.match(text, /tcpKeepalive.*retries/);
  const meshProblems = parseDocuments(mesh('{probes: -1}'), 'mesh.yaml').problems;
  assert.match(meshProblems.map(formatProblem).join('\n'), /tcpKeepalive\.probes/);
});
