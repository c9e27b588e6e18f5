// AuthorizationPolicy and RequestAuthentication (JWT) end to end, through real proxies: every request goes
// from a client's sidecar over mTLS to the server's sidecar, so principals and namespaces are the callers'
// real SPIFFE identities (client: default/client, sleep: legacy/sleep); plaintext requests straight to the
// server's inbound port are the caller without an identity. The server is Istio's httpbin as the samples
// name it (namespace foo, labels app: httpbin, version: v1; the echo server answers), so Istio's policy
// fixtures apply unchanged. Also: path normalization against ALLOW and DENY policies, CUSTOM with Istio's
// ext-authz sample as a mesh workload, gRPC, opaque TCP, the ingress gateway, metrics and access logs.
// One mesh for the whole file; each test applies its config and deletes it before the next.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Client, Pool } from 'undici';
import * as grpc from '@grpc/grpc-js';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { proxyVersions } from './support/config-sync.js';
import { MeshClient } from '../src/cli/mesh-client.js';
import { fixture } from './support/paths.js';
import { DENY_BODY } from './support/ext-authz-server.js';
import { GRPC_DENY_BODY, startGrpcAuthzServer, type GrpcAuthzServer } from './support/grpc-authz-server.js';
import { loadTesting } from './support/grpc-interop-server.js';
import { interopClients, unary, type InteropClients } from './support/grpc-interop-client.js';
import {
  ISTIO_ISSUER,
  istioJwks,
  istioToken,
  makeSigningKey,
  nowSeconds,
  signToken,
  startJwksServer,
  tamperPayload,
  type JwksServer,
  type SigningKey,
} from './support/jwt.js';
import { freePort } from '../src/local/ports.js';

interface Echo {
  path: string;
  method: string;
  headers: Record<string, string[] | undefined>;
  pod: string;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json?: Echo;
  flags: string;
}

const HTTPBIN = 'httpbin-0.foo';
const GRPC = 'grpc-interop-0.default';
const TCP = 'tcp-echo-0.default';
const INGRESS = 'istio-ingressgateway-0.istio-system';
const HOST = 'httpbin.foo:8000';
const FQDN_HOST = 'httpbin.foo.svc.cluster.local:8000';
const CLIENT_PRINCIPAL = 'cluster.local/ns/default/sa/client';
const SLEEP_PRINCIPAL = 'cluster.local/ns/legacy/sa/sleep';
const RBAC_BODY = 'RBAC: access denied';
const MY_ISSUER = 'https://weft.test/issuer';
const AUTHZ_FIXTURES = join('istio-samples', 'authz-policies');

/** A raw HTTP/1.1 exchange on a fresh connection: the response text, or "" if the connection was closed. */
function rawHttp(port: number, req: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(req));
    let data = '';
    s.setTimeout(5_000, () => s.destroy());
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('close', () => resolve(data));
    s.on('error', () => resolve(data));
  });
}

const rawStatus = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
const rawBody = (raw: string) => raw.slice(raw.indexOf('\r\n\r\n') + 4);

/** CONNECT host:port through an outbound listener; what came back before the tunnel closed (or 3 s). */
function tcpThrough(
  outbound: number,
  target: string,
  send?: string,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(outbound, '127.0.0.1', () =>
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
    );
    let text = '';
    let sent = false;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), 3_000);
    s.on('data', (d: Buffer) => {
      text += d.toString();
      if (send && !sent && /hello from /.test(text)) {
        sent = true;
        s.write(send);
      }
      if (!send && /hello from .*\n/.test(text)) done(false);
      if (send && text.endsWith(send)) done(false);
    });
    s.on('close', () => done(true));
    s.on('error', () => done(true));
  });
}

describe('AuthorizationPolicy and RequestAuthentication through sidecars', { timeout: 300_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let clientOut: number;
  let sleepOut: number;
  let gatewayPort: number;
  let httpbinInbound: number;
  let client: Pool;
  let sleep: Pool;
  let edge: Pool;
  let grpcClients: InteropClients;
  let key: SigningKey;
  let jwks: JwksServer;

  /**
   * One request through a client's sidecar. The path goes out exactly as written: a Pool takes it as the
   * request target, whereas request(url) parses a URL first, which already resolves "/a/../b" and
   * "/a/%2e%2e/b" on the client side, so the proxy would never see those shapes.
   */
  async function send(
    from: Pool,
    path: string,
    o: { method?: string; headers?: Record<string, string>; host?: string; body?: Buffer } = {},
  ): Promise<Reply> {
    const res = await from.request({
      path,
      method: (o.method ?? 'GET') as 'GET',
      headers: { host: o.host ?? HOST, ...o.headers },
      ...(o.body ? { body: o.body } : {}),
    });
    const text = await res.body.text();
    let json: Echo | undefined;
    try {
      json = JSON.parse(text) as Echo;
    } catch {
      json = undefined;
    }
    const headers = res.headers as Reply['headers'];
    return {
      status: res.statusCode,
      headers,
      text,
      json,
      flags: String(headers['x-weft-response-flags'] ?? ''),
    };
  }

  /** Plaintext straight to httpbin's inbound port: a caller without a peer identity. */
  const plaintext = async (path = '/', extra = ''): Promise<number> =>
    rawStatus(
      await rawHttp(
        httpbinInbound,
        `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${extra}Connection: close\r\n\r\n`,
      ),
    );

  function allowed(r: Reply, what: string): void {
    assert.equal(r.status, 200, `${what}: expected 200, got ${r.status} ${r.flags} ${r.text.slice(0, 200)}`);
  }

  function denied(r: Reply, what: string): void {
    assert.equal(r.status, 403, `${what}: expected 403, got ${r.status} ${r.text.slice(0, 200)}`);
    assert.equal(r.text, RBAC_BODY, what);
    assert.equal(r.flags, 'RBAC', what);
  }

  const file = (name: string) => join(dir, `${name}.yaml`);

  /**
   * `weft apply -f` / `weft delete -f` through the admin API the CLI calls (spawning the CLI per change
   * costs about a second on a small machine, and this file makes dozens of changes), then wait until every proxy
   * in `watch` runs a new version and has ACKed it. A watched proxy that gets no new version fails the test:
   * the requests that follow would check stale config.
   */
  async function change(op: 'apply' | 'delete', paths: string[], watch: string[]): Promise<void> {
    const before = await proxyVersions(mesh);
    const files = await Promise.all(
      paths.map(async (p) => ({ name: p, content: await readFile(p, 'utf8') })),
    );
    const api = await MeshClient.connect({ stateDir: mesh.stateDir });
    const { status, body } = await api.call('POST', `/apis/v1/${op}`, { files, keys: [] });
    assert.equal(status, 200, `${op} ${paths.join(' ')}: ${JSON.stringify(body)}`);
    await waitFor(
      `${watch.join(', ')} to ACK the config after ${op} ${paths.map((p) => basename(p)).join(' ')}`,
      async () => {
        const now = await proxyVersions(mesh);
        return watch.every((id) => {
          const v = now.get(id);
          return v && v.acked === v.served && v.served !== before.get(id)?.served;
        });
      },
    );
  }

  async function apply(name: string, yaml: string, watch = [HTTPBIN]): Promise<void> {
    await writeFile(file(name), yaml);
    await change('apply', [file(name)], watch);
  }

  /** Deletes what earlier apply() calls wrote, in one change. */
  async function remove(names: string[], watch = [HTTPBIN]): Promise<void> {
    await change('delete', names.map(file), watch);
  }

  /** Applies, runs the checks, and deletes again even when a check fails, so the next test starts clean. */
  async function withConfig(name: string, yaml: string, fn: () => Promise<void>, watch = [HTTPBIN]) {
    await apply(name, yaml, watch);
    try {
      await fn();
    } finally {
      await remove([name], watch);
    }
  }

  async function withFixture(name: string, fn: () => Promise<void>): Promise<void> {
    const path = fixture(AUTHZ_FIXTURES, name);
    await change('apply', [path], [HTTPBIN]);
    try {
      await fn();
    } finally {
      await change('delete', [path], [HTTPBIN]);
    }
  }

  async function metrics(id: string): Promise<string> {
    const port = (await mesh.instance(id)).ports?.metrics;
    assert.ok(port, `${id} has a metrics port`);
    return (await fetch(`http://127.0.0.1:${port}/stats/prometheus`)).text();
  }

  /** The value of one series, matched by name and a subset of its labels (0 when absent). */
  function sample(text: string, name: string, labels: Record<string, string>): number {
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
        return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return 0;
  }

  /** An ALLOW/DENY/AUDIT policy on httpbin with the given rules (YAML flow or block text). */
  const policy = (name: string, action: string, rules: string, ns = 'foo', selector = '{app: httpbin}') => `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {matchLabels: ${selector}}
  action: ${action}
  rules:
${rules}
`;

  const meshConfig = (normalization?: string) => {
    const provider = (name: string) => `
  - name: ${name}
    envoyExtAuthzHttp:
      service: ext-authz.default.svc.cluster.local
      port: 8000
      includeRequestHeadersInCheck: [x-ext-authz]
      headersToUpstreamOnAllow: [x-ext-authz-check-result]
      headersToDownstreamOnDeny: [x-ext-authz-check-result, x-ext-authz-check-received]`;
    return `
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:${normalization ? `\n  pathNormalization: {normalization: ${normalization}}` : ''}
  extensionProviders:${provider('sample-ext-authz-http')}${provider('default')}
`;
  };

  before(async () => {
    dir = await tempDir();
    [clientOut, sleepOut, gatewayPort] = [await freePort(), await freePort(), await freePort()];
    key = await makeSigningKey('weft-test-key');
    jwks = await startJwksServer(key);
    const workload = (name: string, ns: string, labels: string, port: string, command: string[]) => `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}, namespace: ${ns}, labels: ${labels}}
spec:
  serviceAccount: ${name}
  ports: [${port}]
  command: ${JSON.stringify(command)}
---`;
    const adopted = (name: string, ns: string, outbound: number) => `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${name}}}
spec:
  serviceAccount: ${name}
  sidecar: {outboundPort: ${outbound}}
---`;
    await writeFile(
      file('mesh'),
      `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: httpbin, namespace: foo, labels: {app: httpbin, version: v1}}
spec:
  serviceAccount: httpbin
  ports: [{name: http, containerPort: 8080}]
  command: [node, dist/test/support/echo-server.js]
  readinessProbe: {httpGet: {path: /health}}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
---
${workload('ext-authz', 'default', '{app: ext-authz}', '{name: http, containerPort: 8000}', ['node', 'dist/test/support/ext-authz-main.js'])}
apiVersion: v1
kind: Service
metadata: {name: ext-authz, namespace: default}
spec:
  selector: {app: ext-authz}
  ports: [{name: http, port: 8000}]
---
${workload('grpc-interop', 'default', '{app: grpc-interop}', '{name: grpc, containerPort: 50051}', ['node', 'dist/test/support/grpc-interop-server.js'])}
apiVersion: v1
kind: Service
metadata: {name: grpc-interop, namespace: default}
spec:
  selector: {app: grpc-interop}
  ports: [{name: grpc, port: 50051, appProtocol: grpc}]
---
${workload('tcp-echo', 'default', '{app: tcp-echo}', '{name: tcp, containerPort: 9000}', ['node', 'dist/test/support/stream-servers.js', 'tcp'])}
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: default}
spec:
  selector: {app: tcp-echo}
  ports: [{name: tcp, port: 9000}]
---
${adopted('client', 'default', clientOut)}
${adopted('sleep', 'legacy', sleepOut)}
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
  - route: [{destination: {host: httpbin.foo.svc.cluster.local, port: {number: 8000}}}]
`,
    );
    mesh = await RunningMesh.up([file('mesh')]);
    httpbinInbound = (await mesh.instance(HTTPBIN)).ports!.inbound;
    // A request that hangs fails its test in seconds rather than at undici's 300 s default.
    const timeouts = { headersTimeout: 15_000, bodyTimeout: 15_000 };
    client = new Pool(`http://127.0.0.1:${clientOut}`, { connections: 4, ...timeouts });
    sleep = new Pool(`http://127.0.0.1:${sleepOut}`, { connections: 4, ...timeouts });
    edge = new Pool(`http://127.0.0.1:${gatewayPort}`, { connections: 2, ...timeouts });
    grpcClients = interopClients(loadTesting(), `127.0.0.1:${clientOut}`, {
      'grpc.default_authority': 'grpc-interop:50051',
    });
    // The clients' sidecars may learn httpbin's endpoint a moment after the mesh reports ready.
    await waitFor('httpbin through both clients', async () => {
      const [a, b] = [await send(client, '/'), await send(sleep, '/')];
      return a.status === 200 && b.status === 200;
    });
  });

  after(async () => {
    grpcClients?.close();
    await Promise.all([client?.close(), sleep?.close(), edge?.close()]);
    await jwks?.close();
    await mesh?.stop();
  });

  describe('sources: who may call', () => {
    test('no policy: every caller is allowed, mesh callers with their SPIFFE identity', async () => {
      const a = await send(client, '/');
      allowed(a, 'client');
      assert.deepEqual(a.json?.headers['x-forwarded-client-cert'], [
        `By=spiffe://cluster.local/ns/foo/sa/httpbin;URI=spiffe://${CLIENT_PRINCIPAL}`,
      ]);
      const b = await send(sleep, '/');
      allowed(b, 'sleep');
      assert.match(
        String(b.json?.headers['x-forwarded-client-cert']),
        new RegExp(`URI=spiffe://${SLEEP_PRINCIPAL}`),
      );
      assert.equal(await plaintext('/'), 200);
    });

    test('ALLOW by principals admits that identity only; a plaintext caller has none', async () => {
      await withConfig(
        'allow-principal',
        policy('allow-principal', 'ALLOW', `  - from: [{source: {principals: ["${CLIENT_PRINCIPAL}"]}}]`),
        async () => {
          allowed(await send(client, '/'), 'client');
          denied(await send(sleep, '/'), 'sleep');
          assert.equal(await plaintext('/'), 403, 'plaintext');
        },
      );
    });

    test('ALLOW by namespaces: the namespace comes from the peer certificate', async () => {
      await withConfig(
        'allow-ns',
        policy('allow-ns', 'ALLOW', '  - from: [{source: {namespaces: ["default"]}}]'),
        async () => {
          allowed(await send(client, '/'), 'client (default)');
          denied(await send(sleep, '/'), 'sleep (legacy)');
          assert.equal(await plaintext('/'), 403, 'plaintext (no namespace)');
        },
      );
    });

    test('ALLOW by notPrincipals: everyone but that identity, plaintext callers included', async () => {
      await withConfig(
        'allow-not-principal',
        policy(
          'allow-not-principal',
          'ALLOW',
          `  - from: [{source: {notPrincipals: ["${CLIENT_PRINCIPAL}"]}}]`,
        ),
        async () => {
          denied(await send(client, '/'), 'client');
          allowed(await send(sleep, '/'), 'sleep');
          assert.equal(await plaintext('/'), 200, 'plaintext');
        },
      );
    });

    test('ALLOW by serviceAccounts admits only the service accounts listed', async () => {
      await withConfig(
        'allow-sa',
        policy('allow-sa', 'ALLOW', '  - from: [{source: {serviceAccounts: ["default/client"]}}]'),
        async () => {
          allowed(await send(client, '/'), 'client (default/client)');
          denied(await send(sleep, '/'), 'sleep (legacy/sleep)');
          assert.equal(await plaintext('/'), 403, 'plaintext');
        },
      );
    });

    test('ALLOW-nothing denies all; rules: [{}] allows all; DENY beats ALLOW', async () => {
      await apply(
        'allow-nothing',
        `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: foo}
spec: {}
`,
      );
      try {
        denied(await send(client, '/'), 'client under allow-nothing');
        denied(await send(sleep, '/'), 'sleep under allow-nothing');
        assert.equal(await plaintext('/'), 403, 'plaintext under allow-nothing');
        await apply('allow-all', policy('allow-all', 'ALLOW', '  - {}'));
        allowed(await send(client, '/'), 'client with allow-all');
        allowed(await send(sleep, '/'), 'sleep with allow-all');
        assert.equal(await plaintext('/'), 200, 'plaintext with allow-all');
        await apply(
          'deny-client',
          policy('deny-client', 'DENY', `  - from: [{source: {principals: ["${CLIENT_PRINCIPAL}"]}}]`),
        );
        denied(await send(client, '/'), 'client: DENY beats ALLOW');
        allowed(await send(sleep, '/'), 'sleep');
      } finally {
        await remove(['allow-nothing', 'allow-all', 'deny-client']);
      }
    });

    test('ipBlocks and notIpBlocks match the peer address (127.0.0.1/8)', async () => {
      await withConfig(
        'ip',
        policy('ip', 'ALLOW', '  - from: [{source: {ipBlocks: ["127.0.0.1/8"]}}]'),
        async () => {
          allowed(await send(client, '/'), 'client in 127.0.0.1/8');
          assert.equal(await plaintext('/'), 200, 'plaintext in 127.0.0.1/8');
          await apply('ip', policy('ip', 'ALLOW', '  - from: [{source: {notIpBlocks: ["127.0.0.1/8"]}}]'));
          denied(await send(client, '/'), 'client not in notIpBlocks');
          assert.equal(await plaintext('/'), 403, 'plaintext not in notIpBlocks');
        },
      );
    });

    test('AUDIT does not change the outcome but is counted', async () => {
      const before = sample(await metrics(HTTPBIN), 'weft_authz_decisions_total', {
        decision: 'audit',
        policy: 'foo/audit-paths',
      });
      await apply('audit', policy('audit-paths', 'AUDIT', '  - to: [{operation: {paths: ["/audited/*"]}}]'));
      await apply(
        'audit-deny',
        policy('audit-deny', 'DENY', '  - to: [{operation: {paths: ["/audited/deny"]}}]'),
      );
      try {
        allowed(await send(client, '/audited/a'), 'client, audited');
        allowed(await send(sleep, '/audited/b'), 'sleep, audited');
        denied(await send(client, '/audited/deny'), 'an AUDIT match does not allow what a DENY denies');
        const text = await metrics(HTTPBIN);
        const n = sample(text, 'weft_authz_decisions_total', {
          decision: 'audit',
          action: 'AUDIT',
          policy: 'foo/audit-paths',
        });
        assert.ok(n - before >= 2, `audit decisions counted: ${n - before}`);
      } finally {
        await remove(['audit', 'audit-deny']);
      }
    });
  });

  describe('operations and conditions', () => {
    test('hosts (case-insensitive, prefix), ports (the workload port), methods', async () => {
      await withConfig(
        'ops',
        policy(
          'ops',
          'ALLOW',
          `  - to: [{operation: {hosts: ["HTTPBIN.foo.svc.cluster.local:*"], paths: ["/hosts"]}}]
  - to: [{operation: {ports: ["8080"], paths: ["/ports"]}}]
  - to: [{operation: {ports: ["8000"], paths: ["/service-port"]}}]
  - to: [{operation: {methods: ["GET", "HEAD"], paths: ["/methods"]}}]`,
        ),
        async () => {
          allowed(await send(client, '/hosts', { host: FQDN_HOST }), 'host matches the prefix');
          denied(await send(client, '/hosts'), `host ${HOST} does not`);
          allowed(await send(client, '/ports'), 'port 8080 is the workload (target) port');
          denied(await send(client, '/service-port'), 'port 8000 is only the service port');
          allowed(await send(client, '/methods'), 'GET');
          allowed(await send(client, '/methods', { method: 'HEAD' }), 'HEAD');
          denied(await send(client, '/methods', { method: 'POST' }), 'POST');
          denied(await send(client, '/elsewhere'), 'no rule');
        },
      );
    });

    test('paths: exact, prefix, suffix, {*} and {**} templates, notPaths; the query is not part of the path', async () => {
      await withConfig(
        'paths',
        policy(
          'paths',
          'ALLOW',
          `  - to:
    - operation:
        paths: ["/exact", "/prefix/*", "*/suffix", "/tmpl/{*}/x", "/deep/{**}/end"]
        notPaths: ["/prefix/secret*"]`,
        ),
        async () => {
          const expect: Array<[string, number]> = [
            ['/exact', 200],
            ['/exact?q=1', 200],
            ['/exact/', 403],
            ['/exactly', 403],
            ['/prefix/a', 200],
            ['/prefix/a/b', 200],
            ['/prefix', 403],
            ['/prefix/secret', 403],
            ['/prefix/secret/x', 403],
            ['/a/b/suffix', 200],
            ['/suffix/x', 403],
            ['/tmpl/one/x', 200],
            ['/tmpl/one/two/x', 403],
            ['/tmpl/x', 403],
            ['/deep/a/end', 200],
            ['/deep/a/b/c/end', 200],
            ['/deep/a/b/other', 403],
          ];
          for (const [path, status] of expect) {
            const r = await send(client, path);
            if (status === 200) allowed(r, path);
            else denied(r, path);
          }
        },
      );
    });

    test('when: request.headers, source.principal and destination.port', async () => {
      await withConfig(
        'when',
        policy(
          'when',
          'ALLOW',
          `  - when:
    - {key: "request.headers[X-User]", values: ["alice*"]}
    - {key: source.principal, values: ["${CLIENT_PRINCIPAL}"]}
    - {key: destination.port, values: ["8080"]}
  - when:
    - {key: "request.headers[x-svc-port]", values: ["*"]}
    - {key: destination.port, values: ["8000"]}
  - when:
    - {key: "request.headers[x-dst-port]", values: ["*"]}
    - {key: destination.port, values: ["8080"]}`,
        ),
        async () => {
          allowed(await send(client, '/', { headers: { 'x-user': 'alice-1' } }), 'client, x-user alice-1');
          denied(await send(client, '/', { headers: { 'x-user': 'bob' } }), 'client, x-user bob');
          denied(await send(client, '/'), 'client without x-user');
          denied(await send(sleep, '/', { headers: { 'x-user': 'alice' } }), 'sleep is not the principal');
          denied(await send(sleep, '/', { headers: { 'x-svc-port': '1' } }), 'destination.port is not 8000');
          allowed(
            await send(sleep, '/', { headers: { 'x-dst-port': '1' } }),
            'destination.port 8080, header present',
          );
        },
      );
    });
  });

  describe('path normalization', () => {
    test('ALLOW only /public/*: dot segments, encoded dots and backslashes do not reach other paths', async () => {
      await withConfig(
        'public',
        policy('public', 'ALLOW', '  - to: [{operation: {paths: ["/public/*"]}}]'),
        async () => {
          const ok = await send(client, '/public/./x');
          allowed(ok, '/public/./x');
          assert.equal(ok.json?.path, '/public/x', 'the app receives the normalized path');
          const decoded = await send(client, '/%70ublic/x');
          allowed(decoded, '/%70ublic/x (an encoded unreserved character)');
          assert.equal(decoded.json?.path, '/public/x');
          for (const p of [
            '/public/../admin',
            '/public/%2e%2e/admin',
            '/public/%2E%2E/admin',
            '/public/x/../../admin',
            '/./admin',
            '/PUBLIC/x',
          ])
            denied(await send(client, p), p);
          // A backslash is a slash after normalization (undici would refuse to send one: a raw request).
          const raw = await rawHttp(
            clientOut,
            `GET /public\\..\\admin HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
          );
          assert.equal(rawStatus(raw), 403, raw);
          assert.equal(rawBody(raw), RBAC_BODY);
          // An escaped slash stays escaped (BASE): "..%2Fadmin" is one segment under /public, never /admin.
          const escaped = await send(client, '/public/..%2fadmin');
          allowed(escaped, '/public/..%2fadmin');
          assert.equal(escaped.json?.path, '/public/..%2Fadmin');
        },
      );
    });

    test('%2F stays escaped by default: DENY /admin/* does not match /admin%2Fx, and the app never sees /admin/x', async () => {
      await withConfig(
        'deny-admin',
        policy('deny-admin', 'DENY', '  - to: [{operation: {paths: ["/admin/*"]}}]'),
        async () => {
          denied(await send(client, '/admin/x'), '/admin/x');
          denied(await send(client, '/public/../admin/x'), '/public/../admin/x');
          for (const p of ['/admin%2Fx', '/admin%2fx']) {
            const r = await send(client, p);
            allowed(r, p);
            assert.equal(r.json?.path, '/admin%2Fx', `${p} reaches the app escaped`);
          }
        },
      );
    });

    test('a request that cannot be normalized (%00) gets 400 and never reaches the app', async () => {
      const r = await send(client, '/a%00b');
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json, undefined, 'answered by the proxy');
      assert.match(r.text, /NUL/);
    });

    test('MeshConfig pathNormalization MERGE_SLASHES makes //admin match /admin', async () => {
      await withConfig(
        'deny-exact-admin',
        policy('deny-exact-admin', 'DENY', '  - to: [{operation: {paths: ["/admin"]}}]'),
        async () => {
          denied(await send(client, '/admin'), '/admin');
          const base = await send(client, '//admin');
          allowed(base, '//admin under BASE');
          assert.equal(base.json?.path, '//admin');
          await apply('meshconfig', meshConfig('MERGE_SLASHES'));
          try {
            denied(await send(client, '//admin'), '//admin under MERGE_SLASHES');
            const merged = await send(client, '//public///x');
            allowed(merged, '//public///x');
            assert.equal(merged.json?.path, '/public/x');
          } finally {
            await remove(['meshconfig']);
          }
          allowed(await send(client, '//admin'), '//admin once the MeshConfig is gone');
        },
      );
    });
  });

  describe('RequestAuthentication (JWT)', () => {
    const ra = () => `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - issuer: ${ISTIO_ISSUER}
    jwks: ${JSON.stringify(istioJwks())}
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders:
    - {header: x-jwt-sub, claim: sub}
    - {header: x-jwt-foo, claim: foo}
  - issuer: ${MY_ISSUER}
    jwksUri: ${jwks.url}
    audiences: [weft-e2e]
    forwardOriginalToken: true
    outputClaimToHeaders:
    - {header: x-jwt-role, claim: nested.level.role}
`;
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const mine = (role: string, extra: Record<string, unknown> = {}) =>
      signToken(key, {
        iss: MY_ISSUER,
        sub: `user-${role}`,
        aud: 'weft-e2e',
        nested: { level: { role } },
        ...extra,
      });

    before(async () => {
      await apply('ra', ra());
    });

    after(async () => {
      await remove(['ra']);
    });

    test('demo.jwt is accepted: claims and payload reach the app as headers, the token does not (forwardOriginalToken false)', async () => {
      const demo = istioToken('demo.jwt');
      const r = await send(client, '/headers', { headers: bearer(demo) });
      allowed(r, 'demo.jwt');
      assert.equal(r.json?.headers.authorization, undefined, 'the token was taken out');
      assert.deepEqual(r.json?.headers['x-jwt-payload'], [demo.split('.')[1]]);
      assert.deepEqual(r.json?.headers['x-jwt-sub'], [ISTIO_ISSUER]);
      assert.deepEqual(r.json?.headers['x-jwt-foo'], ['bar']);
      const none = await send(client, '/headers', {
        headers: { 'x-jwt-sub': 'forged', 'x-jwt-role': 'admin' },
      });
      allowed(none, 'no token: authentication passes, policy decides');
      assert.equal(none.json?.headers['x-jwt-sub'], undefined, 'a client cannot forge the output headers');
      assert.equal(none.json?.headers['x-jwt-role'], undefined);
      // The default locations also include the access_token query parameter, taken out like the header.
      const param = await send(client, `/headers?a=1&access_token=${demo}&b=2`);
      allowed(param, 'demo.jwt as access_token');
      assert.equal(param.json?.path, '/headers?a=1&b=2');
      assert.deepEqual(param.json?.headers['x-jwt-sub'], [ISTIO_ISSUER]);
      const badParam = await send(client, '/headers?access_token=abc');
      assert.equal(badParam.status, 401, badParam.text);
    });

    test('jwksUri served by a local server; forwardOriginalToken keeps Authorization; a nested claim as a header', async () => {
      const token = await mine('admin');
      const r = await send(client, '/headers', { headers: bearer(token) });
      allowed(r, 'a token signed here');
      assert.deepEqual(r.json?.headers.authorization, [`Bearer ${token}`]);
      assert.deepEqual(r.json?.headers['x-jwt-role'], ['admin']);
      assert.ok(jwks.fetches >= 1, 'the proxy fetched the key set');
    });

    test("invalid, expired, tampered and unknown-issuer tokens get 401 with Envoy's message", async () => {
      const before = await metrics(HTTPBIN);
      const cases: Array<[string, string, string]> = [
        [
          'not a JWT',
          'abc',
          'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
        ],
        ['expired', await mine('admin', { exp: nowSeconds() - 600 }), 'Jwt is expired'],
        ['tampered', tamperPayload(istioToken('demo.jwt'), { sub: 'admin' }), 'Jwt verification fails'],
        [
          'unknown issuer',
          await signToken(key, { iss: 'https://elsewhere.test', sub: 'x' }),
          'Jwt issuer is not configured',
        ],
        ['another audience', await mine('admin', { aud: 'elsewhere' }), 'Audiences in Jwt are not allowed'],
      ];
      for (const [what, token, message] of cases) {
        const r = await send(client, '/headers', { headers: bearer(token) });
        // Envoy answers a disallowed audience with 403, every other failure with 401.
        assert.equal(r.status, what === 'another audience' ? 403 : 401, `${what}: ${r.status} ${r.text}`);
        assert.equal(r.text, message, what);
        assert.match(
          String(r.headers['www-authenticate']),
          /^Bearer realm="http:\/\/.*", error="invalid_token"$/,
        );
      }
      const after = await metrics(HTTPBIN);
      const failures = (t: string) => sample(t, 'weft_jwt_authn_total', { result: 'failure' });
      assert.ok(failures(after) - failures(before) >= cases.length, 'failures counted');
      assert.ok(sample(after, 'weft_jwt_authn_total', { result: 'success' }) >= 1, 'successes counted');
    });

    test('requestPrincipals: ["*"] requires a valid token; an exact principal admits demo.jwt only', async () => {
      await withConfig(
        'require-jwt',
        policy('require-jwt', 'ALLOW', '  - from: [{source: {requestPrincipals: ["*"]}}]'),
        async () => {
          denied(await send(client, '/'), 'no token');
          allowed(await send(client, '/', { headers: bearer(istioToken('demo.jwt')) }), 'demo.jwt');
          allowed(await send(client, '/', { headers: bearer(await mine('user')) }), 'a token signed here');
          await apply(
            'require-jwt',
            policy(
              'require-jwt',
              'ALLOW',
              `  - from: [{source: {requestPrincipals: ["${ISTIO_ISSUER}/${ISTIO_ISSUER}"]}}]`,
            ),
          );
          allowed(
            await send(client, '/', { headers: bearer(istioToken('demo.jwt')) }),
            'demo.jwt, exact principal',
          );
          denied(await send(client, '/', { headers: bearer(await mine('user')) }), 'another principal');
          denied(await send(client, '/'), 'no token');
        },
      );
    });

    test("fromHeaders with a prefix and fromCookies; a token at another issuer's location is refused", async () => {
      const issuer = 'https://weft.test/locations';
      await withConfig(
        'ra-locations',
        `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt-locations, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - issuer: ${issuer}
    jwksUri: ${jwks.url}
    fromHeaders: [{name: x-jwt-assertion, prefix: "Token "}]
    fromCookies: [session]
    outputClaimToHeaders: [{header: x-jwt-sub, claim: sub}]
`,
        async () => {
          const token = await signToken(key, { iss: issuer, sub: 'located' });
          const h = await send(client, '/headers', { headers: { 'x-jwt-assertion': `Token ${token}` } });
          allowed(h, 'token in x-jwt-assertion');
          assert.deepEqual(h.json?.headers['x-jwt-sub'], ['located']);
          assert.equal(h.json?.headers['x-jwt-assertion'], undefined, 'the header was taken out');
          const c = await send(client, '/headers', { headers: { cookie: `a=b; session=${token}` } });
          allowed(c, 'token in the session cookie');
          assert.deepEqual(c.json?.headers['x-jwt-sub'], ['located']);
          assert.deepEqual(c.json?.headers.cookie, [`a=b; session=${token}`], 'cookies stay (as in Envoy)');
          const elsewhere = await send(client, '/headers', { headers: bearer(token) });
          assert.equal(elsewhere.status, 401, elsewhere.text);
          assert.equal(elsewhere.text, 'Jwt issuer is not configured');
          const tampered = await send(client, '/headers', {
            headers: { cookie: `session=${tamperPayload(token, { sub: 'admin' })}` },
          });
          assert.equal(tampered.status, 401, tampered.text);
        },
      );
    });

    test('when: request.auth.claims[groups] with groups-scope.jwt, and nested claims of a token signed here', async () => {
      await withConfig(
        'claims',
        policy(
          'claims',
          'ALLOW',
          `  - when: [{key: "request.auth.claims[groups]", values: ["group1"]}]
  - when: [{key: "request.auth.claims[nested][level][role]", values: ["admin"]}]`,
        ),
        async () => {
          allowed(
            await send(client, '/', { headers: bearer(istioToken('groups-scope.jwt')) }),
            'groups has group1',
          );
          denied(
            await send(client, '/', { headers: bearer(istioToken('demo.jwt')) }),
            'demo.jwt has no groups',
          );
          allowed(await send(client, '/', { headers: bearer(await mine('admin')) }), 'nested role admin');
          denied(await send(client, '/', { headers: bearer(await mine('user')) }), 'nested role user');
          denied(await send(client, '/'), 'no token');
        },
      );
    });
  });

  describe('CUSTOM: the ext-authz sample as a mesh workload', () => {
    // The providers reach a proxy's snapshot only with a CUSTOM policy that names them: no proxy gets a new
    // version for the MeshConfig alone, so there is nothing to wait for (the policies applied next are).
    before(async () => {
      await apply('meshconfig', meshConfig(), []);
    });

    after(async () => {
      await remove(['meshconfig'], []);
    });

    test('x-ext-authz: allow passes and headersToUpstreamOnAllow reach the app; otherwise the provider answers, flag UAEX', async () => {
      await withConfig(
        'ext-authz',
        `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: CUSTOM
  provider: {name: sample-ext-authz-http}
  rules:
  - to: [{operation: {paths: ["/headers"]}}]
`,
        async () => {
          const ok = await send(client, '/headers', { headers: { 'x-ext-authz': 'allow' } });
          allowed(ok, 'x-ext-authz: allow');
          assert.deepEqual(ok.json?.headers['x-ext-authz-check-result'], ['allowed']);
          const no = await send(client, '/headers', { headers: { 'x-ext-authz': 'deny' } });
          assert.equal(no.status, 403, no.text);
          assert.equal(no.text, DENY_BODY);
          assert.equal(no.flags, 'UAEX');
          assert.equal(no.headers['x-ext-authz-check-result'], 'denied');
          const none = await send(sleep, '/headers');
          assert.equal(none.status, 403);
          assert.equal(none.flags, 'UAEX');
          allowed(await send(client, '/ip'), 'a path no CUSTOM rule matches is not checked');
          const m = await metrics(HTTPBIN);
          assert.ok(
            sample(m, 'weft_authz_decisions_total', {
              decision: 'deny',
              action: 'CUSTOM',
              policy: 'foo/ext-authz',
            }) >= 2,
          );
        },
      );
    });

    // The check goes through httpbin's own outbound listener in absolute form (routed to the provider),
    // which would set Host to the URL's authority; Envoy sends the original :authority, and so does Weft.
    test('a mesh provider receives the original Host, as Envoy sends the check', async () => {
      await withConfig(
        'ext-authz-host',
        policy('ext-authz-host', 'CUSTOM', '  - to: [{operation: {paths: ["/host"]}}]').replace(
          'action: CUSTOM',
          'action: CUSTOM\n  provider: {name: sample-ext-authz-http}',
        ),
        async () => {
          const no = await send(client, '/host');
          assert.equal(no.status, 403, no.text);
          // The sample answers with a dump of the check it received: "GET <host><path>, headers: …".
          const seen = String(no.headers['x-ext-authz-check-received'] ?? '');
          assert.match(seen, new RegExp(`^GET ${HOST}/host, headers: `), seen.slice(0, 200));
          assert.doesNotMatch(seen, /x-weft-ext-authz-host/i, 'the marker does not reach the provider');
          // An app cannot use the marker to pick the Host of its own requests.
          const forged = await send(client, '/ip', {
            headers: { 'x-weft-ext-authz-host': 'guess evil.example' },
          });
          allowed(forged, 'a request with a forged marker');
          assert.deepEqual(forged.json?.headers.host, [HOST]);
          assert.equal(forged.json?.headers['x-weft-ext-authz-host'], undefined);
        },
      );
    });

    test('fixture custom-simple-http-in.yaml (provider "default"): /httpbin1 and /httpbin2 are checked', async () => {
      await withFixture('custom-simple-http-in.yaml', async () => {
        const no = await send(client, '/httpbin1');
        assert.equal(no.status, 403, no.text);
        assert.equal(no.text, DENY_BODY);
        assert.equal(no.flags, 'UAEX');
        allowed(
          await send(client, '/httpbin1', { headers: { 'x-ext-authz': 'allow' } }),
          '/httpbin1 allowed',
        );
        assert.equal((await send(sleep, '/httpbin2')).status, 403, '/httpbin2 checked too');
        allowed(await send(sleep, '/httpbin2', { headers: { 'x-ext-authz': 'allow' } }), '/httpbin2 allowed');
        allowed(await send(client, '/httpbin3'), '/httpbin3 is not checked');
      });
    });
  });

  describe('other protocols and the edge', () => {
    test('gRPC: a DENY gives PERMISSION_DENIED, an invalid token UNAUTHENTICATED', async () => {
      const empty = await unary(grpcClients.test, 'EmptyCall', {});
      assert.equal(empty.code, grpc.status.OK, empty.details);
      await apply(
        'grpc-policy',
        `${policy(
          'deny-unary',
          'DENY',
          '  - to: [{operation: {paths: ["/grpc.testing.TestService/UnaryCall"]}}]',
          'default',
          '{app: grpc-interop}',
        )}---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: grpc-jwt, namespace: default}
spec:
  selector: {matchLabels: {app: grpc-interop}}
  jwtRules: [{issuer: ${ISTIO_ISSUER}, jwks: ${JSON.stringify(istioJwks())}}]
`,
        [GRPC],
      );
      try {
        const ok = await unary(grpcClients.test, 'EmptyCall', {});
        assert.equal(ok.code, grpc.status.OK, ok.details);
        const deniedCall = await unary(grpcClients.test, 'UnaryCall', { response_size: 10 });
        assert.equal(
          deniedCall.code,
          grpc.status.PERMISSION_DENIED,
          `${deniedCall.code} ${deniedCall.details}`,
        );
        assert.equal(deniedCall.details, RBAC_BODY);
        const md = new grpc.Metadata();
        md.set('authorization', 'Bearer not.a.token');
        const unauth = await unary(grpcClients.test, 'EmptyCall', {}, md);
        assert.equal(unauth.code, grpc.status.UNAUTHENTICATED, `${unauth.code} ${unauth.details}`);
      } finally {
        await remove(['grpc-policy'], [GRPC]);
      }
    });

    test('TCP: an ALLOW by principals on a tcp port closes connections from other identities', async () => {
      const baseline = await tcpThrough(sleepOut, 'tcp-echo.default:9000');
      assert.match(baseline.text, /hello from tcp-echo-0/, 'sleep connects while no policy applies');
      await withConfig(
        'tcp-allow',
        policy(
          'tcp-allow',
          'ALLOW',
          `  - from: [{source: {principals: ["${CLIENT_PRINCIPAL}"]}}]`,
          'default',
          '{app: tcp-echo}',
        ),
        async () => {
          const ok = await tcpThrough(clientOut, 'tcp-echo.default:9000', 'ping-weft');
          assert.match(ok.text, /hello from tcp-echo-0\n/, ok.text);
          assert.ok(ok.text.endsWith('ping-weft'), `echoed: ${JSON.stringify(ok.text)}`);
          const no = await tcpThrough(sleepOut, 'tcp-echo.default:9000', 'ping-weft');
          // sleep's sidecar opens the tunnel; tcp-echo's sidecar closes it before a byte reaches the app.
          assert.ok(no.closed, 'the connection was closed');
          assert.equal(no.text, 'HTTP/1.1 200 Connection Established\r\n\r\n');
          const m = await metrics(TCP);
          assert.ok(sample(m, 'weft_authz_decisions_total', { decision: 'deny', action: 'ALLOW' }) >= 1, m);
          const line = new RegExp(`inbound tcp .* "spiffe://${SLEEP_PRINCIPAL}" denied RBAC`);
          await waitFor('the denied TCP line in the access log', async () =>
            line.test(await readFile((await mesh.instance(TCP)).logs.proxy, 'utf8')),
          );
        },
        [TCP],
      );
    });

    test('TCP: a DENY rule with an HTTP-only field (paths) ignores it on TCP, so it denies every connection', async () => {
      await withConfig(
        'tcp-deny-http',
        policy(
          'tcp-deny-http',
          'DENY',
          '  - to: [{operation: {paths: ["/never"]}}]',
          'default',
          '{app: tcp-echo}',
        ),
        async () => {
          const no = await tcpThrough(clientOut, 'tcp-echo.default:9000', 'ping-weft');
          assert.ok(no.closed, 'closed');
          assert.doesNotMatch(no.text, /hello from/);
        },
        [TCP],
      );
      assert.match((await tcpThrough(clientOut, 'tcp-echo.default:9000')).text, /hello from tcp-echo-0/);
    });

    test('ingress gateway: a policy selecting istio: ingressgateway denies by path at the edge', async () => {
      const edgeCall = (path: string) => send(edge, path, { host: 'edge.example.com' });
      allowed(await edgeCall('/admin/x'), 'no policy yet');
      await withConfig(
        'edge-deny',
        policy(
          'edge-deny-admin',
          'DENY',
          '  - to: [{operation: {paths: ["/admin", "/admin/*"]}}]',
          'istio-system',
          '{istio: ingressgateway}',
        ),
        async () => {
          denied(await edgeCall('/admin/x'), 'edge /admin/x');
          denied(await edgeCall('/public/../admin'), 'edge /public/../admin');
          const ok = await edgeCall('/public/x');
          allowed(ok, 'edge /public/x');
          assert.equal(ok.json?.pod, 'httpbin-0', 'routed to httpbin');
          allowed(await send(client, '/admin/x'), 'the sidecar is not covered by the gateway policy');
        },
        [INGRESS],
      );
    });

    // Istio's gateways use Envoy's use_remote_address with no trusted hops (numTrustedProxies 0): at the
    // edge remote.ip is the TCP peer and a client's own X-Forwarded-For is not believed.
    test('ingress gateway: remoteIpBlocks use the TCP peer; a client cannot choose its address with X-Forwarded-For', async () => {
      const edgeCall = (headers: Record<string, string> = {}) =>
        send(edge, '/x', { host: 'edge.example.com', headers });
      await withConfig(
        'edge-remote-ip',
        policy(
          'edge-deny-loopback',
          'DENY',
          '  - from: [{source: {remoteIpBlocks: ["127.0.0.0/8"]}}]',
          'istio-system',
          '{istio: ingressgateway}',
        ),
        async () => {
          denied(await edgeCall(), 'edge from 127.0.0.1');
          denied(
            await edgeCall({ 'x-forwarded-for': '203.0.113.7' }),
            'edge from 127.0.0.1 claiming 203.0.113.7',
          );
        },
        [INGRESS],
      );
    });

    test('ingress gateway: RequestAuthentication and requestPrincipals at the edge; the token is not forwarded', async () => {
      const edgeCall = (path: string, headers: Record<string, string> = {}) =>
        send(edge, path, { host: 'edge.example.com', headers });
      await withConfig(
        'edge-jwt',
        `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: edge-jwt, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules: [{issuer: ${ISTIO_ISSUER}, jwks: ${JSON.stringify(istioJwks())}}]
---
${policy('edge-require-jwt', 'ALLOW', '  - from: [{source: {requestPrincipals: ["*"]}}]', 'istio-system', '{istio: ingressgateway}')}`,
        async () => {
          denied(await edgeCall('/headers'), 'edge without a token');
          const bad = await edgeCall('/headers', { authorization: 'Bearer abc' });
          assert.equal(bad.status, 401, bad.text);
          const ok = await edgeCall('/headers', { authorization: `Bearer ${istioToken('demo.jwt')}` });
          allowed(ok, 'edge with demo.jwt');
          assert.equal(ok.json?.pod, 'httpbin-0');
          assert.equal(ok.json?.headers.authorization, undefined, 'the gateway took the token out');
        },
        [INGRESS],
      );
    });

    // The server's sidecar answers 403 before reading a large body; the client's sidecar must then read
    // the rest of it (RequestBody.release) so the app's keep-alive connection serves the next request.
    test("a denied upload does not stall the caller's keep-alive connection", async () => {
      await withConfig(
        'deny-upload',
        policy('deny-upload', 'DENY', '  - to: [{operation: {paths: ["/upload"]}}]'),
        async () => {
          const one = new Client(`http://127.0.0.1:${clientOut}`, {
            headersTimeout: 3_000,
            bodyTimeout: 3_000,
          });
          try {
            const post = await one.request({
              path: '/upload',
              method: 'POST',
              headers: { host: HOST },
              body: Buffer.alloc(1024 * 1024, 1),
            });
            assert.equal(post.statusCode, 403);
            assert.equal(await post.body.text(), RBAC_BODY);
            const next = await one.request({
              path: '/after-upload',
              method: 'GET',
              headers: { host: HOST },
            });
            assert.equal(next.statusCode, 200);
            await next.body.text();
          } finally {
            await one.destroy();
          }
        },
      );
    });

    test('metrics count denies with the policy name; the access log shows 403 with RBAC', async () => {
      await withConfig(
        'deny-metrics',
        policy('deny-metrics', 'DENY', '  - to: [{operation: {paths: ["/metrics-probe"]}}]'),
        async () => {
          const labels = { decision: 'deny', action: 'DENY', policy: 'foo/deny-metrics' };
          const before = sample(await metrics(HTTPBIN), 'weft_authz_decisions_total', labels);
          for (let i = 0; i < 3; i++) denied(await send(client, '/metrics-probe'), '/metrics-probe');
          const n = sample(await metrics(HTTPBIN), 'weft_authz_decisions_total', labels);
          assert.equal(n - before, 3);
          const log = await waitFor('the access log line', async () => {
            const text = await readFile((await mesh.instance(HTTPBIN)).logs.proxy, 'utf8');
            return / inbound "GET \/metrics-probe HTTP\/1\.1" 403 RBAC /.test(text) && text;
          });
          assert.match(
            log,
            new RegExp(
              `inbound "GET /metrics-probe HTTP/1\\.1" 403 RBAC \\d+ "spiffe://${CLIENT_PRINCIPAL}"`,
            ),
          );
        },
      );
    });
  });

  describe("Istio's AuthorizationPolicy fixtures, unchanged (namespace foo, app: httpbin, version: v1)", () => {
    test('allow-full-rule-in.yaml: no rule admits our callers (service accounts my-ns/my-sa, foo/sa-only; source 1.2.3.4, 5.6.0.0/16)', async () => {
      await withFixture('allow-full-rule-in.yaml', async () => {
        denied(await send(client, '/exact'), 'client');
        denied(await send(sleep, '/exact', { headers: { 'x-header': 'header' } }), 'sleep');
        assert.equal(await plaintext('/exact'), 403, 'plaintext');
      });
    });

    test('allow-path-in.yaml: notPaths "*" excludes every path, so every request is denied', async () => {
      await withFixture('allow-path-in.yaml', async () => {
        for (const p of ['/exact', '/prefix/a', '/a/suffix', '/path/template/x', '/x/path/template', '/'])
          denied(await send(client, p), p);
      });
    });

    test('deny-and-allow-in.yaml: only principal "allow" is allowed; the DENY of "deny" leaves others to ALLOW policies', async () => {
      await withFixture('deny-and-allow-in.yaml', async () => {
        denied(await send(client, '/'), 'client');
        denied(await send(sleep, '/'), 'sleep');
        assert.equal(await plaintext('/'), 403, 'plaintext');
        await withConfig('allow-all', policy('allow-all', 'ALLOW', '  - {}'), async () => {
          allowed(await send(client, '/'), 'client: the DENY of principal "deny" does not match');
          allowed(await send(sleep, '/'), 'sleep');
        });
      });
    });

    test('multiple-policies-in.yaml: any one ALLOW policy admits (methods, paths, request headers)', async () => {
      await withFixture('multiple-policies-in.yaml', async () => {
        allowed(await send(client, '/anything'), 'GET (httpbin-1)');
        allowed(await send(sleep, '/anything', { method: 'POST' }), 'POST (httpbin-1)');
        allowed(await send(client, '/v1', { method: 'DELETE' }), 'DELETE /v1 (httpbin-2)');
        allowed(await send(client, '/v2', { method: 'PUT' }), 'PUT /v2 (httpbin-2)');
        allowed(
          await send(client, '/other', { method: 'DELETE', headers: { 'x-abc': 'abc2' } }),
          'X-abc (httpbin-9)',
        );
        denied(await send(client, '/other', { method: 'DELETE' }), 'DELETE /other');
        denied(
          await send(client, '/other', { method: 'PUT', headers: { 'x-abc': 'abc3' } }),
          'PUT X-abc: abc3',
        );
        assert.equal(await plaintext('/anything'), 200, 'plaintext GET');
      });
    });

    test('single-policy-in.yaml: rules for other principals, hosts, ports and addresses deny our callers', async () => {
      await withFixture('single-policy-in.yaml', async () => {
        denied(await send(client, '/'), 'client');
        denied(await send(client, '/x', { headers: { 'x-header': 'header' } }), 'client with X-header');
        denied(await send(sleep, '/'), 'sleep');
      });
    });
  });

  describe('CUSTOM: an envoyExtAuthzGrpc provider (Envoy Authorization/Check over gRPC)', () => {
    // A real gRPC authorizer in this process (test/support/grpc-authz-server.ts); httpbin's sidecar calls it
    // directly (127.0.0.1 is not a mesh service). `dead` is a port nothing listens on.
    let authz: GrpcAuthzServer;
    let dead: number;
    const grpcPolicy = (provider: string) => `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: grpc-authz, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: CUSTOM
  provider: {name: ${provider}}
  rules:
  - to: [{operation: {paths: ["/grpc-authz/*"]}}]
`;

    before(async () => {
      authz = await startGrpcAuthzServer();
      dead = await freePort();
      await apply(
        'meshconfig-grpc',
        `
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  extensionProviders:
  - name: grpc-authz
    envoyExtAuthzGrpc: {service: 127.0.0.1, port: ${authz.port}, timeout: 5s}
  - name: grpc-authz-down-open
    envoyExtAuthzGrpc: {service: 127.0.0.1, port: ${dead}, failOpen: true}
  - name: grpc-authz-down
    envoyExtAuthzGrpc: {service: 127.0.0.1, port: ${dead}, statusOnError: "500"}
`,
        [],
      );
    });

    after(async () => {
      await remove(['meshconfig-grpc'], []);
      await authz?.close();
    });

    test('allow: the check carries the request and the caller; headers reach the app, one is removed, one the client', async () => {
      await withConfig('grpc-authz', grpcPolicy('grpc-authz'), async () => {
        const ok = await send(client, '/grpc-authz/allow?x=1', {
          headers: { 'x-grpc-authz': 'allow', 'x-appended': 'one', 'x-remove-me': 'secret' },
        });
        allowed(ok, 'x-grpc-authz: allow');
        assert.equal(ok.json?.path, '/grpc-authz/allow?x=1');
        assert.deepEqual(ok.json?.headers['x-grpc-authz-result'], ['allowed'], 'set on the upstream request');
        assert.deepEqual(ok.json?.headers['x-appended'], ['one,two'], 'appended (append: true)');
        assert.equal(ok.json?.headers['x-remove-me'], undefined, 'headers_to_remove');
        assert.equal(ok.headers['x-authz-response'], 'yes', 'response_headers_to_add');

        const seen = authz.seen.at(-1)!.attributes;
        assert.equal(seen.request.http.method, 'GET');
        assert.equal(seen.request.http.host, HOST);
        assert.equal(seen.request.http.path, '/grpc-authz/allow?x=1');
        assert.equal(seen.request.http.headers['x-grpc-authz'], 'allow');
        assert.equal(seen.source?.principal, `spiffe://${CLIENT_PRINCIPAL}`);
        assert.equal(seen.destination?.principal, `spiffe://cluster.local/ns/foo/sa/httpbin`);
        assert.equal(seen.source?.address?.socket_address?.address, '127.0.0.1');
        assert.equal(seen.destination?.address?.socket_address?.port_value, 8080);

        const checks = authz.seen.length;
        allowed(await send(client, '/ip'), 'a path no CUSTOM rule matches');
        assert.equal(authz.seen.length, checks, 'and it is not checked');
      });
    });

    test('deny: the denied_response status, body and headers reach the client, flag UAEX; without one 403', async () => {
      await withConfig('grpc-authz', grpcPolicy('grpc-authz'), async () => {
        const no = await send(client, '/grpc-authz/deny', { headers: { 'x-grpc-authz': 'deny' } });
        assert.equal(no.status, 401, no.text);
        assert.equal(no.text, GRPC_DENY_BODY);
        assert.equal(no.flags, 'UAEX');
        assert.equal(no.headers['x-denied-by'], 'grpc-authz');
        assert.equal(no.headers['www-authenticate'], 'Bearer realm="grpc-authz"');
        const plain = await send(sleep, '/grpc-authz/anything');
        assert.equal(plain.status, 403, plain.text);
        assert.equal(plain.flags, 'UAEX');
        const m = await metrics(HTTPBIN);
        assert.ok(
          sample(m, 'weft_authz_decisions_total', {
            decision: 'deny',
            action: 'CUSTOM',
            policy: 'foo/grpc-authz',
          }) >= 2,
        );
      });
    });

    test('an unreachable authorizer: failOpen lets requests through; otherwise statusOnError', async () => {
      await withConfig('grpc-authz', grpcPolicy('grpc-authz-down-open'), async () => {
        allowed(await send(client, '/grpc-authz/open'), 'failOpen');
      });
      await withConfig('grpc-authz', grpcPolicy('grpc-authz-down'), async () => {
        // 500 rather than 503: the client's sidecar retries a 503 (Istio's default retry policy) and then
        // reports its own flag, URX.
        const r = await send(client, '/grpc-authz/closed');
        assert.equal(r.status, 500, r.text);
        assert.equal(r.flags, 'UAEX');
        allowed(await send(client, '/ip'), 'paths no CUSTOM rule matches still pass');
      });
    });
  });
});
