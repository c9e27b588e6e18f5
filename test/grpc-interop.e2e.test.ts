// gRPC's interop cases (../shared/fixtures/grpc-interop/interop-cases.json) with @grpc/grpc-js: first
// directly against the in-process TestService (a baseline that checks the harness itself), then through
// the mesh: client → h2c (prior knowledge) into its sidecar's outbound listener, routed by :authority
// grpc-interop:50051 → mTLS HTTP/2 to the server's sidecar → h2c to the server workload. Then gRPC fault
// injection (a VirtualService abort with grpcStatus) and the destination sidecar's access log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { freePort } from '../src/local/ports.js';
import { loadTesting, startInteropServer } from './support/grpc-interop-server.js';
import { clientYaml } from './support/mesh-yaml.js';
import {
  checkExpect,
  interopClients,
  loadCases,
  runCase,
  runsOf,
  unary,
  type InteropClients,
} from './support/grpc-interop-client.js';

const interop = loadCases();
const pkg = loadTesting();
const AUTHORITY = 'grpc-interop:50051';

describe('gRPC interop cases directly against the TestService (baseline)', () => {
  let server: grpc.Server;
  let clients: InteropClients;

  before(async () => {
    const s = await startInteropServer();
    server = s.server;
    clients = interopClients(pkg, `127.0.0.1:${s.port}`);
  });

  after(() => {
    clients?.close();
    server?.forceShutdown();
  });

  for (const c of interop.cases)
    for (const run of runsOf(c))
      test(run.name, async () => checkExpect(c, await runCase(clients, c, run.rpc), interop.status_codes));
});

describe('gRPC interop cases through the mesh', { timeout: 120_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let clients: InteropClients;

  before(async () => {
    dir = await tempDir();
    const outbound = await freePort();
    await writeFile(
      join(dir, 'mesh.yaml'),
      `apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: grpc-interop, labels: {app: grpc-interop}}
spec:
  serviceAccount: grpc-interop
  ports: [{name: grpc, containerPort: 50051}]
  command: [node, dist/test/support/grpc-interop-server.js]
---
apiVersion: v1
kind: Service
metadata: {name: grpc-interop}
spec:
  selector: {app: grpc-interop}
  ports: [{name: grpc, port: 50051, appProtocol: grpc}]
---
${clientYaml(outbound)}
`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
    // h2c with prior knowledge into the client's sidecar, which routes by :authority.
    clients = interopClients(pkg, `127.0.0.1:${outbound}`, { 'grpc.default_authority': AUTHORITY });
    // The client sidecar may get the server's endpoint a moment after the mesh reports ready: until then
    // the call maps to UNAVAILABLE (503, no healthy upstream) or UNIMPLEMENTED (404, no route).
    await waitFor(
      'a route to grpc-interop',
      async () => {
        const { code } = await unary(clients.test, 'EmptyCall', {});
        return code !== grpc.status.UNAVAILABLE && code !== grpc.status.UNIMPLEMENTED;
      },
      15_000,
    ).catch(() => {
      /* each case reports what it gets */
    });
  });

  after(async () => {
    clients?.close();
    await mesh?.stop();
  });

  for (const c of interop.cases)
    for (const run of runsOf(c)) {
      test(run.name, async () => checkExpect(c, await runCase(clients, c, run.rpc), interop.status_codes));
    }

  /** Response flags of the client sidecar's last outbound access log line ('-' when none). */
  async function lastOutboundFlags(): Promise<string | undefined> {
    const client = (await mesh.instances()).find((i) => i.workload === 'client');
    const lines = (await readFile(client!.logs.proxy, 'utf8')).split('\n');
    const last = lines.filter((l) => / outbound "POST /.test(l)).pop();
    return last ? / outbound "[^"]*" \d+ (\S+) /.exec(last)?.[1] : undefined;
  }

  /** Calls EmptyCall until the client sidecar logs it with (or without) the fault flag FI. */
  const faultActive = (active: boolean) =>
    waitFor(
      `the fault to be ${active ? 'applied' : 'removed'}`,
      async () => {
        await unary(clients.test, 'EmptyCall', {});
        return /FI/.test((await lastOutboundFlags()) ?? '') === active;
      },
      10_000,
    );

  test('a VirtualService fault abort with grpcStatus UNAVAILABLE fails calls with UNAVAILABLE', async () => {
    const file = join(dir, 'fault.yaml');
    await writeFile(
      file,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: grpc-interop}
spec:
  hosts: [grpc-interop]
  http:
  - fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: grpc-interop}}]
`,
    );
    const applied = await mesh.weft(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    try {
      await faultActive(true);
      const aborted = await unary(clients.test, 'UnaryCall', { response_size: 10 });
      assert.equal(aborted.code, grpc.status.UNAVAILABLE, `got ${aborted.code} "${aborted.details}"`);
      assert.deepEqual(aborted.responses, []);
    } finally {
      const deleted = await mesh.weft(['delete', '-f', file]);
      assert.equal(deleted.code, 0, deleted.stderr);
      await faultActive(false);
    }
  });

  test("the destination sidecar's access log shows the calls arriving over HTTP/2", async () => {
    const server = (await mesh.instances()).find((i) => i.workload === 'grpc-interop');
    assert.ok(server, 'the grpc-interop instance');
    // One call of each kind, so this test stands alone (whatever their outcome, they reach the server).
    for (const name of [
      'empty_unary',
      'large_unary',
      'client_streaming',
      'server_streaming',
      'empty_stream',
    ]) {
      const c = interop.cases.find((x) => x.case === name)!;
      await runCase(clients, c, runsOf(c)[0]!.rpc);
    }
    const log = await waitFor(
      'inbound gRPC lines in the access log',
      async () => {
        const text = await readFile(server.logs.proxy, 'utf8');
        return /inbound "POST \/grpc\.testing\.TestService\/UnaryCall /.test(text) && text;
      },
      5_000,
    );
    const inbound = log.split('\n').filter((l) => / inbound "POST \/grpc\.testing\./.test(l));
    assert.ok(inbound.length > 0, 'inbound gRPC access log lines');
    for (const l of inbound) assert.match(l, /HTTP\/2\.0"/, l);
    for (const m of ['EmptyCall', 'UnaryCall', 'StreamingInputCall', 'StreamingOutputCall', 'FullDuplexCall'])
      assert.ok(
        inbound.some((l) => l.includes(`/grpc.testing.TestService/${m} HTTP/2.0"`)),
        `an inbound HTTP/2 line for ${m}`,
      );
  });
});
