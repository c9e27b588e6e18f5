// Istio's Sidecar resource, live: one `weft up` mesh with two client sidecars in `default` (the test is
// their app, speaking to their outbound ports), a service `web` in `default` and `api` in `shop`, and a
// plain HTTP server on 127.0.0.1 standing in for a host outside the mesh. Sidecars are applied while
// the mesh runs, and each step is checked through the real proxies:
//  - a namespace-wide Sidecar (egress "./*", REGISTRY_ONLY): `web` answers, `api.shop` is unknown to the
//    sidecar and gets 502 NR, as does the outside host;
//  - a Sidecar selecting one workload (egress "shop/*", ALLOW_ANY) wins over the namespace-wide one for
//    that workload only: it reaches `api.shop` and the outside host, and no longer knows `web`;
//  - with the namespace's Sidecars gone, a Sidecar in the root namespace applies, "." meaning the
//    workload's own namespace; with none left, the mesh-wide view and policy come back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { changeConfig } from './support/config-sync.js';
import { freePort } from '../src/local/ports.js';

const CLIENT = 'client-0.default';
const OTHER = 'other-0.default';
const FLAGS = 'x-weft-response-flags';

interface Reply {
  status: number;
  flags: string;
  body: string;
}

describe('Sidecar resource', { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  const out = { client: 0, other: 0 };
  let outside: http.Server;
  let outsidePort = 0;

  function call(from: 'client' | 'other', host: string, path = '/sidecar'): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: out[from], path, headers: { host }, agent: false, timeout: 15_000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, flags: String(res.headers[FLAGS] ?? ''), body }),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  /** Which of a set of hosts a client reaches: "200 <pod>" or "<status> <flags>". */
  async function reach(from: 'client' | 'other'): Promise<Record<string, string>> {
    const hosts = { web: 'web:8080', api: 'api.shop:8080', outside: `127.0.0.1:${outsidePort}` };
    const res: Record<string, string> = {};
    for (const [k, h] of Object.entries(hosts)) {
      const r = await call(from, h);
      res[k] =
        r.status === 200
          ? `200 ${(JSON.parse(r.body) as { pod?: string }).pod ?? 'outside'}`
          : `${r.status} ${r.flags}`;
    }
    return res;
  }

  async function apply(name: string, yaml: string, verb: 'apply' | 'delete' = 'apply'): Promise<void> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    await changeConfig(mesh, [verb, '-f', file], [CLIENT, OTHER]);
  }

  const echo = (name: string, ns: string) => `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${name}}}
spec:
  serviceAccount: ${name}
  ports: [{name: http, containerPort: 8080}]
  command: [node, dist/test/support/echo-server.js]
  readinessProbe: {httpGet: {path: /health}}
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec:
  ports: [{port: 8080, name: http}]
  selector: {app: ${name}}
---`;

  const client = (name: string, port: number) => `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}, labels: {app: ${name}}}
spec:
  serviceAccount: ${name}
  sidecar: {outboundPort: ${port}}
---`;

  const NAMESPACE_WIDE = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  egress: [{hosts: ["./*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`;
  const FOR_CLIENT = `
apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: client-to-shop, namespace: default}
spec:
  workloadSelector: {labels: {app: client}}
  egress: [{hosts: ["shop/*"]}]
  outboundTrafficPolicy: {mode: ALLOW_ANY}
`;
  const ROOT = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  egress: [{hosts: ["./*", "shop/api.shop.svc.cluster.local"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`;

  before(async () => {
    dir = await tempDir('weft-sidecar-');
    out.client = await freePort();
    out.other = await freePort();
    outside = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ outside: true }));
    });
    await new Promise<void>((r) => outside.listen(0, '127.0.0.1', r));
    outsidePort = (outside.address() as AddressInfo).port;
    await writeFile(
      join(dir, 'mesh.yaml'),
      `${echo('web', 'default')}\n${echo('api', 'shop')}\n${client('client', out.client)}\n${client('other', out.other)}`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
    await waitFor('both services through the client sidecar', async () => {
      const r = await reach('client');
      return r.web === '200 web-0' && r.api === '200 api-0' && r;
    });
  });

  after(async () => {
    await mesh?.stop();
    outside?.close();
  });

  test('without a Sidecar: every service, and the outside host (ALLOW_ANY, the mesh default)', async () => {
    assert.deepEqual(await reach('other'), { web: '200 web-0', api: '200 api-0', outside: '200 outside' });
  });

  test('a namespace-wide Sidecar: its own namespace only; the rest follows its REGISTRY_ONLY (502 NR)', async () => {
    await apply('namespace-wide', NAMESPACE_WIDE);
    const want = { web: '200 web-0', api: '502 NR', outside: '502 NR' };
    for (const from of ['client', 'other'] as const)
      await waitFor(`${from} scoped to default`, async () => {
        const r = await reach(from);
        return JSON.stringify(r) === JSON.stringify(want) || undefined;
      });
    assert.deepEqual(await reach('client'), want);
    const sc = await mesh.weft(['get', 'sidecars', '-o', 'yaml']);
    assert.equal(sc.code, 0, sc.stderr);
    assert.match(sc.stdout, /kind: Sidecar/);
    assert.match(sc.stdout, /mode: REGISTRY_ONLY/);
  });

  test('a Sidecar selecting one workload wins for it alone: shop only, ALLOW_ANY for the rest', async () => {
    await apply('for-client', FOR_CLIENT);
    // `web` is unknown to this sidecar now; ALLOW_ANY sends it to the name itself, which does not resolve.
    const want = { web: '404 NR', api: '200 api-0', outside: '200 outside' };
    await waitFor('client scoped to shop', async () => {
      const r = await reach('client');
      return JSON.stringify(r) === JSON.stringify(want) || undefined;
    });
    assert.deepEqual(await reach('client'), want);
    assert.deepEqual(await reach('other'), { web: '200 web-0', api: '502 NR', outside: '502 NR' });
  });

  test('the root namespace Sidecar applies where the namespace has none; "." is the workload namespace', async () => {
    await apply('root', ROOT);
    await apply('namespace-wide', NAMESPACE_WIDE, 'delete');
    await apply('for-client', FOR_CLIENT, 'delete');
    const want = { web: '200 web-0', api: '200 api-0', outside: '502 NR' };
    for (const from of ['client', 'other'] as const)
      await waitFor(`${from} under the root Sidecar`, async () => {
        const r = await reach(from);
        return JSON.stringify(r) === JSON.stringify(want) || undefined;
      });
    // Removing it gives back the mesh-wide view.
    await apply('root', ROOT, 'delete');
    await waitFor('no Sidecar again', async () => {
      const r = await reach('client');
      return (r.api === '200 api-0' && r.outside === '200 outside') || undefined;
    });
  });
});
