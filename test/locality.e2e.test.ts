// DestinationRule localityLbSetting through real proxies. Three echo instances of one service:
// `local` shares the client's locality (r1/z1) but answers 500 to everything (a broken zone), `east` is in
// r2, `west` in r3; the client and `west` carry network=n1, `east` network=n2. Locality comes from the
// workloads' topology labels, as in Kubernetes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { freePort } from '../src/local/ports.js';

const workload = (name: string, locality: string, network: string, env: Record<string, string> = {}) => {
  const [region, zone] = locality.split('/');
  return `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata:
  name: ${name}
  labels: {app: echo, network: ${network}, topology.kubernetes.io/region: ${region}, topology.kubernetes.io/zone: ${zone}}
spec:
  serviceAccount: echo
  ports: [{name: http, containerPort: 8080}]
  command: [node, dist/test/support/echo-server.js]
  env: ${JSON.stringify(env)}
  readinessProbe: {httpGet: {path: /health}}
---`;
};

/** Outlier detection that ejects the broken instance on its first 500, for the whole test. */
const OUTLIER = `outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 300s, maxEjectionPercent: 100}`;

describe('locality load balancing through sidecars', { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let outbound: number;
  let dir: string;

  /** Which instance answered each of n requests (status-500 for the broken one). */
  async function spread(n: number): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const res = await request(`http://127.0.0.1:${outbound}/`, { headers: { host: 'echo:8080' } });
      const text = await res.body.text();
      const key =
        res.statusCode === 200 ? (JSON.parse(text) as { pod: string }).pod : `status-${res.statusCode}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  async function rule(lb: string, outlier = true): Promise<void> {
    const file = join(dir, 'rule.yaml');
    await writeFile(
      file,
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    ${outlier ? OUTLIER : ''}
    loadBalancer: {localityLbSetting: ${lb}}
`,
    );
    const r = await mesh.weft(['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
  }

  /** Waits until `n` requests in a row all land on `pod`, then checks 40 more. */
  async function settlesOn(pod: string): Promise<void> {
    await waitFor(`traffic to settle on ${pod}`, async () => (await spread(10)).get(pod) === 10);
    assert.deepEqual([...(await spread(40))], [[pod, 40]]);
  }

  before(async () => {
    dir = await tempDir();
    outbound = await freePort();
    await writeFile(
      join(dir, 'mesh.yaml'),
      [
        workload('local', 'r1/z1', 'n1', { ECHO_STATUS: '500' }),
        workload('east', 'r2/z1', 'n2'),
        workload('west', 'r3/z1', 'n1'),
        `
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080}]
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata:
  name: client
  labels: {app: client, network: n1, topology.kubernetes.io/region: r1, topology.kubernetes.io/zone: z1}
spec:
  serviceAccount: client
  sidecar: {outboundPort: ${outbound}}
`,
      ].join('\n'),
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
  });

  after(async () => {
    await mesh?.stop();
  });

  test('distribute: 75/25 between two regions from the client locality; the unnamed zone gets nothing', async () => {
    // No outlier detection: distribute does not need it (Istio applies it on its own).
    await rule(`{distribute: [{from: "r1/z1/*", to: {"r2/*": 75, "r3/*": 25}}]}`, false);
    await waitFor('the weights to apply', async () => !(await spread(20)).has('status-500'));
    // Random draws: over 1,000 requests 7 % is almost five standard deviations (over 400, three).
    const counts = await spread(1000);
    assert.equal(counts.get('status-500'), undefined, 'local (r1/z1) is not in `to`');
    const east = (counts.get('east-0') ?? 0) / 1000;
    assert.ok(Math.abs(east - 0.75) <= 0.07, `east got ${(east * 100).toFixed(1)}%`);
    assert.equal((counts.get('east-0') ?? 0) + (counts.get('west-0') ?? 0), 1000);
  });

  test('failover: once the client zone is ejected, traffic goes to the region `failover` names', async () => {
    await rule(`{failover: [{from: r1, to: r2}]}`);
    await settlesOn('east-0');
  });

  test('failoverPriority: endpoints sharing a longer prefix of the listed labels come first', async () => {
    // [network, region]: local (n1, r1) first, then west (n1, r3), then east (n2). local is ejected, so
    // west, although region failover would pick r2.
    await rule(`{failoverPriority: [network, topology.kubernetes.io/region]}`);
    await settlesOn('west-0');
    // `key=value` matches endpoints against that value instead of the client's label.
    await rule(`{failoverPriority: ["network=n2"]}`);
    await settlesOn('east-0');
  });

  test('a priority with some endpoints down keeps 1.4 x its healthy share (Envoy overprovisioning)', async () => {
    // [network]: local and west share priority 0, and local is ejected: 0 keeps 70 %, east gets 30 %.
    await rule(`{failoverPriority: [network]}`);
    await waitFor('the rule to apply', async () => ((await spread(20)).get('east-0') ?? 0) < 20);
    const counts = await spread(1000);
    const west = (counts.get('west-0') ?? 0) / 1000;
    assert.ok(Math.abs(west - 0.7) <= 0.07, `west got ${(west * 100).toFixed(1)}%`);
  });

  test('enabled: false turns locality off: both healthy regions share the traffic', async () => {
    await rule(`{enabled: false, failover: [{from: r1, to: r2}]}`);
    await waitFor('both regions to serve', async () => {
      const c = await spread(20);
      return (c.get('east-0') ?? 0) > 0 && (c.get('west-0') ?? 0) > 0;
    });
  });
});
