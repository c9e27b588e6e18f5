// WorkloadEntry through a real sidecar: two plain HTTP servers on 127.0.0.1 stand in for VMs that
// Weft does not run. A MESH_INTERNAL ServiceEntry (Istio's "VMs with WorkloadEntry" example) and a
// Service select them by label; the client's sidecar reaches them in plaintext (they carry no
// `security.istio.io/tlsMode: istio` label), and an entry applied while the mesh runs joins the
// balancing without a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { freePort } from '../src/local/ports.js';

/** A "VM": answers with its name. */
async function vm(name: string): Promise<{ srv: http.Server; port: number; hits: number }> {
  const state = { hits: 0 };
  const srv = http.createServer((req, res) => {
    state.hits++;
    res.setHeader('content-type', 'text/plain');
    res.end(`${name} ${req.headers.host ?? ''} ${req.url ?? ''}`);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  return {
    srv,
    port,
    get hits() {
      return state.hits;
    },
  };
}

const entry = (name: string, port: number) => `
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: default}
spec:
  serviceAccount: details-legacy
  address: 127.0.0.1
  ports: {http: ${port}}
  labels: {app: details-legacy, instance-id: ${name}}
`;

describe('WorkloadEntry endpoints through a sidecar', { timeout: 180_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let outbound: number;
  let vm1: Awaited<ReturnType<typeof vm>>;
  let vm2: Awaited<ReturnType<typeof vm>>;

  function call(host: string, path = '/'): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: outbound, path, headers: { host }, agent: false, timeout: 15_000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    dir = await tempDir('weft-we-');
    outbound = await freePort();
    vm1 = await vm('vm1');
    vm2 = await vm('vm2');
    await writeFile(
      join(dir, 'mesh.yaml'),
      `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: client, labels: {app: client}}
spec:
  sidecar: {outboundPort: ${outbound}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: details-svc, namespace: default}
spec:
  hosts: [details.bookinfo.com]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: details-legacy}}
---
apiVersion: v1
kind: Service
metadata: {name: details-legacy, namespace: default}
spec:
  selector: {app: details-legacy}
  ports: [{name: http, port: 9080}]
---
${entry('vm1', vm1.port)}`,
    );
    mesh = await RunningMesh.up([dir]);
  });

  after(async () => {
    await mesh?.stop();
    vm1?.srv.close();
    vm2?.srv.close();
  });

  test('a ServiceEntry host and a Service both reach the VM by its WorkloadEntry', async () => {
    const se = await call('details.bookinfo.com', '/details/0');
    assert.equal(se.status, 200, se.body);
    assert.equal(se.body, 'vm1 details.bookinfo.com /details/0');
    const svc = await call('details-legacy:9080', '/x');
    assert.equal(svc.status, 200, svc.body);
    assert.equal(svc.body, 'vm1 details-legacy:9080 /x');
    const r = await mesh.weft(['get', 'workloadentries']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /WorkloadEntry\s+default\s+vm1\s+address=127\.0\.0\.1/);
  });

  test('an entry applied while the mesh runs joins the balancing', async () => {
    const file = join(dir, 'vm2.yaml');
    await writeFile(file, entry('vm2', vm2.port));
    const applied = await mesh.weft(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor('vm2 to receive traffic', async () => {
      await call('details.bookinfo.com');
      return vm2.hits > 0;
    });
    const before1 = vm1.hits;
    const before2 = vm2.hits;
    for (let i = 0; i < 10; i++) assert.equal((await call('details.bookinfo.com')).status, 200);
    assert.ok(vm1.hits > before1 && vm2.hits > before2, `round robin over both: ${vm1.hits}, ${vm2.hits}`);
  });
});
