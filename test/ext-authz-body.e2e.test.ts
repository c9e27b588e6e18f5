// ext-authz includeRequestBodyInCheck end to end (Envoy's with_request_body): a real HTTP authorizer (the
// ext-authz sample, test/support/ext-authz-server.ts) and a real grpc-js Authorization/Check server get
// the request body at the server's sidecar and at the ingress gateway; a body over maxRequestBytes is 413
// unless allowPartialMessage, which sends the first maxRequestBytes; either way the app receives the
// whole body, byte for byte (test/support/body-digest-server.ts answers its size and SHA-256).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Client, Pool } from 'undici';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { proxyVersions } from './support/config-sync.js';
import { MeshClient } from '../src/cli/mesh-client.js';
import { DENY_BODY, startExtAuthzServer, type ExtAuthzServer } from './support/ext-authz-server.js';
import { startGrpcAuthzServer, type GrpcAuthzServer } from './support/grpc-authz-server.js';
import type { BodyDigest } from './support/body-digest-server.js';
import { freePort } from '../src/local/ports.js';

const UPLOAD = 'upload-0.default';
const INGRESS = 'istio-ingressgateway-0.istio-system';
const HOST = 'upload.default:8000';
const MAX = 1024;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Printable bytes in a pattern that never lines up with MAX, so a cut in the wrong place shows. */
const text = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => 97 + ((i * 7) % 26)));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  digest?: BodyDigest;
}

describe('ext-authz includeRequestBodyInCheck', { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let http: ExtAuthzServer;
  let grpc: GrpcAuthzServer;
  let client: Pool;
  let edge: Pool;
  let clientOut: number;
  let gatewayPort: number;
  const edgeUrl = () => `http://127.0.0.1:${gatewayPort}`;

  async function send(
    from: Pool | Client,
    path: string,
    body: Buffer | Readable,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const res = await from.request({ path, method: 'POST', headers: { host: HOST, ...headers }, body });
    const t = await res.body.text();
    let digest: BodyDigest | undefined;
    try {
      digest = JSON.parse(t) as BodyDigest;
    } catch {
      digest = undefined;
    }
    return { status: res.statusCode, headers: res.headers as Reply['headers'], text: t, digest };
  }

  function reachedWhole(r: Reply, body: Buffer, what: string): void {
    assert.equal(r.status, 200, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.equal(r.digest?.size, body.length, `${what}: the app got every byte`);
    assert.equal(r.digest?.sha256, sha(body), `${what}: byte for byte`);
  }

  /** Through the admin API `weft apply` uses; then wait until the proxies in `watch` ACKed it. */
  async function change(op: 'apply' | 'delete', name: string, watch: string[]): Promise<void> {
    const before = await proxyVersions(mesh);
    const path = join(dir, `${name}.yaml`);
    const api = await MeshClient.connect({ stateDir: mesh.stateDir });
    const files = [{ name: path, content: await readFile(path, 'utf8') }];
    const { status, body } = await api.call('POST', `/apis/v1/${op}`, { files, keys: [] });
    assert.equal(status, 200, `${op} ${name}: ${JSON.stringify(body)}`);
    await waitFor(`${watch.join(', ')} to ACK ${op} ${name}`, async () => {
      const now = await proxyVersions(mesh);
      return watch.every((id) => {
        const v = now.get(id);
        return v && v.acked === v.served && v.served !== before.get(id)?.served;
      });
    });
  }

  /** A CUSTOM policy naming `provider`, applied for the duration of `fn`. */
  async function withProvider(provider: string, fn: () => Promise<void>, at = UPLOAD): Promise<void> {
    const gateway = at === INGRESS;
    await writeFile(
      join(dir, 'policy.yaml'),
      `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: body-check, namespace: ${gateway ? 'istio-system' : 'default'}}
spec:
  selector: {matchLabels: ${gateway ? '{istio: ingressgateway}' : '{app: upload}'}}
  action: CUSTOM
  provider: {name: ${provider}}
  rules: [{to: [{operation: {paths: ["/checked/*"]}}]}]
`,
    );
    await change('apply', 'policy', [at]);
    try {
      await fn();
    } finally {
      await change('delete', 'policy', [at]);
    }
  }

  before(async () => {
    dir = await tempDir();
    [http, grpc] = await Promise.all([startExtAuthzServer(), startGrpcAuthzServer()]);
    clientOut = await freePort();
    gatewayPort = await freePort();
    const httpProvider = (name: string, partial: boolean) => `
  - name: ${name}
    envoyExtAuthzHttp:
      service: 127.0.0.1
      port: ${http.port}
      includeRequestHeadersInCheck: [x-ext-authz, x-envoy-auth-partial-body]
      includeRequestBodyInCheck: {maxRequestBytes: ${MAX}, allowPartialMessage: ${partial}}`;
    const grpcProvider = (name: string, packAsBytes: boolean) => `
  - name: ${name}
    envoyExtAuthzGrpc:
      service: 127.0.0.1
      port: ${grpc.port}
      includeRequestBodyInCheck: {maxRequestBytes: ${MAX}, allowPartialMessage: true, packAsBytes: ${packAsBytes}}`;
    await writeFile(
      join(dir, 'mesh.yaml'),
      `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: upload, namespace: default, labels: {app: upload}}
spec:
  serviceAccount: upload
  ports: [{name: http, containerPort: 8080}]
  command: [node, dist/test/support/body-digest-server.js]
  readinessProbe: {httpGet: {path: /health}}
---
apiVersion: v1
kind: Service
metadata: {name: upload, namespace: default}
spec:
  selector: {app: upload}
  ports: [{name: http, port: 8000, targetPort: 8080}]
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: client, namespace: default, labels: {app: client}}
spec:
  serviceAccount: client
  sidecar: {outboundPort: ${clientOut}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${gatewayPort}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - match: [{uri: {prefix: /checked/direct}}]
    directResponse: {status: 200, body: {string: direct}}
  - route: [{destination: {host: upload.default.svc.cluster.local, port: {number: 8000}}}]
---
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  extensionProviders:${httpProvider('http-body', false)}${httpProvider('http-body-partial', true)}${grpcProvider('grpc-body', false)}${grpcProvider('grpc-body-bytes', true)}
`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
    const timeouts = { headersTimeout: 15_000, bodyTimeout: 15_000 };
    client = new Pool(`http://127.0.0.1:${clientOut}`, { connections: 2, ...timeouts });
    edge = new Pool(edgeUrl(), { connections: 2, ...timeouts });
    await waitFor('upload through the client sidecar and the gateway', async () => {
      const [a, b] = [await send(client, '/', text(1)), await send(edge, '/', text(1))];
      return a.status === 200 && b.status === 200;
    });
  });

  after(async () => {
    await Promise.all([client?.close(), edge?.close()]);
    await mesh?.stop();
    await Promise.all([http?.close(), grpc?.close()]);
  });

  test('HTTP authorizer at the sidecar: it sees the body; over maxRequestBytes 413 without a check, and the connection goes on', async () => {
    await withProvider('http-body', async () => {
      const small = text(700);
      reachedWhole(await send(client, '/checked/a', small, { 'x-ext-authz': 'allow' }), small, 'allowed');
      const seen = http.received.at(-1)!;
      assert.equal(seen.body, small.toString());
      assert.equal(seen.headers['content-length'], '700');
      assert.equal(seen.headers['x-envoy-auth-partial-body'], 'false');

      const denied = await send(client, '/checked/b', text(10));
      assert.equal(denied.status, 403);
      assert.equal(denied.text, DENY_BODY);
      assert.equal(
        http.received.at(-1)!.body,
        text(10).toString(),
        'a denied request was checked with its body',
      );

      // One connection, so the request after the 413 shows the rest of the big body was read.
      const one = new Client(`http://127.0.0.1:${clientOut}`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
      try {
        const checks = http.received.length;
        const big = await send(one, '/checked/c', text(300_000), { 'x-ext-authz': 'allow' });
        assert.equal(big.status, 413, big.text);
        assert.equal(big.text, 'Payload Too Large');
        assert.equal(http.received.length, checks, 'the authorizer was not asked');
        const after = text(5);
        reachedWhole(
          await send(one, '/checked/d', after, { 'x-ext-authz': 'allow' }),
          after,
          'next on the connection',
        );
      } finally {
        await one.destroy();
      }
      const exact = text(MAX);
      reachedWhole(await send(client, '/checked/e', exact, { 'x-ext-authz': 'allow' }), exact, 'exactly max');
      const unchecked = text(5_000);
      reachedWhole(await send(client, '/other', unchecked), unchecked, 'a path no CUSTOM rule matches');
    });
  });

  test('HTTP authorizer with allowPartialMessage: the first maxRequestBytes, marked partial; the app gets all, streamed or not', async () => {
    await withProvider('http-body-partial', async () => {
      const big = text(200_000);
      reachedWhole(
        await send(client, '/checked/big', big, { 'x-ext-authz': 'allow' }),
        big,
        'content-length',
      );
      let seen = http.received.at(-1)!;
      assert.equal(seen.body, big.subarray(0, MAX).toString());
      assert.equal(seen.headers['x-envoy-auth-partial-body'], 'true');

      // Chunked, in pieces with pauses: the check waits for the first MAX bytes only.
      const parts = [text(300), text(900), text(5_000), text(70_000)];
      const stream = Readable.from(
        (async function* () {
          for (const p of parts) {
            yield p;
            await new Promise((r) => setTimeout(r, 20));
          }
        })(),
      );
      const whole = Buffer.concat(parts);
      reachedWhole(
        await send(client, '/checked/chunked', stream, { 'x-ext-authz': 'allow' }),
        whole,
        'chunked',
      );
      seen = http.received.at(-1)!;
      assert.equal(seen.body, whole.subarray(0, MAX).toString());
      assert.equal(seen.headers['x-envoy-auth-partial-body'], 'true');
    });
  });

  test('gRPC authorizer: attributes.request.http.body, or raw_body with packAsBytes; the app gets the whole body', async () => {
    await withProvider('grpc-body', async () => {
      const big = text(3_000);
      reachedWhole(await send(client, '/checked/g', big, { 'x-grpc-authz': 'allow' }), big, 'grpc body');
      const http1 = grpc.seen.at(-1)!.attributes.request.http;
      assert.equal(http1.body, big.subarray(0, MAX).toString());
      assert.equal(http1.headers['x-envoy-auth-partial-body'], 'true');
      const small = text(10);
      reachedWhole(await send(client, '/checked/h', small, { 'x-grpc-authz': 'allow' }), small, 'small');
      assert.equal(grpc.seen.at(-1)!.attributes.request.http.body, small.toString());
      assert.equal(grpc.seen.at(-1)!.attributes.request.http.headers['x-envoy-auth-partial-body'], 'false');
    });
    await withProvider('grpc-body-bytes', async () => {
      const binary = Buffer.from(Array.from({ length: 4_000 }, (_, i) => (i * 31) % 256));
      reachedWhole(await send(client, '/checked/bin', binary, { 'x-grpc-authz': 'allow' }), binary, 'binary');
      const http2 = grpc.seen.at(-1)!.attributes.request.http;
      assert.equal(http2.body, undefined);
      assert.deepEqual(Buffer.from(http2.raw_body!), binary.subarray(0, MAX));
    });
  });

  test('at the ingress gateway: the authorizer sees the body, 413 over the limit, and the app gets the whole body', async () => {
    await withProvider(
      'http-body',
      async () => {
        const body = text(900);
        reachedWhole(await send(edge, '/checked/edge', body, { 'x-ext-authz': 'allow' }), body, 'gateway');
        assert.equal(http.received.at(-1)!.body, body.toString());
        // One connection to the gateway, which answers the 413 itself: the next request shows it read
        // the rest of the body instead of leaving the connection stalled behind it.
        const one = new Client(edgeUrl(), { headersTimeout: 5_000, bodyTimeout: 5_000 });
        try {
          const big = await send(one, '/checked/edge-big', text(300_000), { 'x-ext-authz': 'allow' });
          assert.equal(big.status, 413, big.text);
          const after = text(2_000);
          reachedWhole(await send(one, '/after', after), after, 'after the 413');
        } finally {
          await one.destroy();
        }
      },
      INGRESS,
    );
    await withProvider(
      'grpc-body',
      async () => {
        const big = text(100_000);
        reachedWhole(
          await send(edge, '/checked/edge-grpc', big, { 'x-grpc-authz': 'allow' }),
          big,
          'partial',
        );
        assert.equal(grpc.seen.at(-1)!.attributes.request.http.body, big.subarray(0, MAX).toString());
        // Allowed, then answered by the gateway itself (a direct response): the rest of the body it
        // read from must still be read, or the next request on the connection waits behind it.
        const one = new Client(edgeUrl(), { headersTimeout: 5_000, bodyTimeout: 5_000 });
        try {
          const direct = await send(one, '/checked/direct', text(300_000), { 'x-grpc-authz': 'allow' });
          assert.deepEqual([direct.status, direct.text], [200, 'direct']);
          const after = text(10);
          reachedWhole(await send(one, '/after-direct', after), after, 'after the direct response');
        } finally {
          await one.destroy();
        }
      },
      INGRESS,
    );
  });
});
