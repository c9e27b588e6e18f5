// envoyOtelAls end to end: a `weft up` mesh (a client sidecar whose app is this test, the echo service,
// the tcp-echo service) whose MeshConfig names two OpenTelemetry access log providers as the default,
// both pointing at an OTLP/gRPC logs receiver in this test (@grpc/grpc-js, decoding with the
// opentelemetry-proto definitions as protobufjs generated them in @opentelemetry/otlp-transformer 0.57),
// and an envoyHttpAls provider Weft does not implement. Checked:
//  - an HTTP request arrives as LogRecords from both sidecars: body = the provider's text format, or
//    Istio's default format when it sets none; attributes = its labels, each formatted; the log name as
//    the scope; the request's start as the timestamp;
//  - an opaque TCP stream (CONNECT through the client's sidecar, mTLS to tcp-echo's) arrives from
//    tcp-echo's sidecar with DOWNSTREAM_TLS_VERSION and the caller's SPIFFE ID;
//  - with a DENY AuthorizationPolicy, the closed connection carries CONNECTION_TERMINATION_DETAILS
//    `rbac_access_denied_matched_policy[ns[default]-policy[deny-client]-rule[0]]`;
//  - the envoyHttpAls provider is named in the proxy log as writing nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import otlpRoot from 'otlp-transformer-protobufjs/build/src/generated/root.js';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { changeConfig } from './support/config-sync.js';
import { freePort } from '../src/local/ports.js';
import { ECHO_YAML, TCP_ECHO_YAML, clientYaml } from './support/mesh-yaml.js';

const CLIENT = 'client-0.default';
const ECHO = 'echo-0.default';
const TCP = 'tcp-echo-0.default';

interface Message {
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  toObject(m: unknown, o: object): unknown;
}
const logsV1 = (
  otlpRoot as unknown as {
    opentelemetry: {
      proto: {
        collector: {
          logs: { v1: { ExportLogsServiceRequest: Message; ExportLogsServiceResponse: Message } };
        };
      };
    };
  }
).opentelemetry.proto.collector.logs.v1;

interface OtlpValue {
  stringValue?: string;
  intValue?: string;
  boolValue?: boolean;
}
interface OtlpLogs {
  resourceLogs?: Array<{
    resource?: { attributes?: Array<{ key: string; value?: OtlpValue }> };
    scopeLogs?: Array<{
      scope?: { name?: string };
      logRecords?: Array<{
        timeUnixNano?: string;
        body?: OtlpValue;
        attributes?: Array<{ key: string; value?: OtlpValue }>;
      }>;
    }>;
  }>;
}

/** One LogRecord as the checks read it. */
interface Entry {
  scope: string;
  body: string;
  attrs: Record<string, string>;
  timeMs: number;
  resourceAttrs: number;
}

const value = (v: OtlpValue | undefined) => String(v?.stringValue ?? v?.intValue ?? v?.boolValue ?? '');

/** An OTLP/gRPC logs collector: LogsService/Export, decoded with the real protos. */
async function startReceiver(): Promise<{ port: number; entries: Entry[]; close(): Promise<void> }> {
  const entries: Entry[] = [];
  const server = new grpc.Server();
  const { ExportLogsServiceRequest: Req, ExportLogsServiceResponse: Res } = logsV1;
  const service: grpc.ServiceDefinition = {
    Export: {
      path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: unknown) => Buffer.from(Req.encode(m).finish()),
      requestDeserialize: (b: Buffer) => Req.decode(b),
      responseSerialize: (m: unknown) => Buffer.from(Res.encode(m).finish()),
      responseDeserialize: (b: Buffer) => Res.decode(b),
    },
  };
  server.addService(service, {
    Export: (call: grpc.ServerUnaryCall<unknown, unknown>, done: grpc.sendUnaryData<unknown>) => {
      const req = Req.toObject(call.request, { longs: String, defaults: false }) as OtlpLogs;
      for (const rl of req.resourceLogs ?? []) {
        for (const sl of rl.scopeLogs ?? []) {
          for (const lr of sl.logRecords ?? []) {
            entries.push({
              scope: sl.scope?.name ?? '',
              body: value(lr.body),
              attrs: Object.fromEntries((lr.attributes ?? []).map((a) => [a.key, value(a.value)])),
              timeMs: Number(BigInt(lr.timeUnixNano ?? '0') / 1_000_000n),
              resourceAttrs: rl.resource?.attributes?.length ?? 0,
            });
          }
        }
      }
      done(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return {
    port,
    entries,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** CONNECT host:port through the outbound listener, send a line, and return what came back. */
function tcpThrough(outbound: number, target: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(outbound, '127.0.0.1', () =>
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
    );
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), 3_000);
    s.on('data', (d: Buffer) => {
      text += d.toString();
      if (/hello from .*\n/.test(text) && !text.includes('ping-otel')) s.write('ping-otel\n');
      if (text.endsWith('ping-otel\n')) done(false);
    });
    s.on('close', () => done(true));
    s.on('error', () => done(true));
  });
}

const LABELS = `{ id: '%REQ(X-REQUEST-ID)%', code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%',
          tls: '%DOWNSTREAM_TLS_VERSION%', peer: '%DOWNSTREAM_PEER_URI_SAN%',
          term: '%CONNECTION_TERMINATION_DETAILS%', cluster: '%UPSTREAM_CLUSTER%' }`;

describe('envoyOtelAls: access logs as OpenTelemetry LogRecords over OTLP/gRPC', { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let outbound: number;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  function call(path: string, requestId: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: outbound,
          path,
          headers: { host: 'echo:8080', 'x-request-id': requestId, 'user-agent': 'otel-als-e2e/1' },
          agent: false,
          timeout: 15_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    receiver = await startReceiver();
    dir = await tempDir('weft-otel-als-');
    outbound = await freePort();
    await writeFile(
      join(dir, 'mesh.yaml'),
      `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  extensionProviders:
  - name: otel
    envoyOtelAls:
      service: 127.0.0.1
      port: ${receiver.port}
      logFormat:
        text: '%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%'
        labels: ${LABELS}
  - name: otel-default
    envoyOtelAls: {service: 127.0.0.1, port: ${receiver.port}, logName: weft-e2e}
  - name: grpc-als
    envoyHttpAls: {service: als.example.test, port: 9001}
  defaultProviders:
    accessLogging: [otel, otel-default, grpc-als]
---
${clientYaml(outbound)}
---
${ECHO_YAML}
---
${TCP_ECHO_YAML}
`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
  });

  after(async () => {
    await mesh?.stop();
    if (mesh) await rm(mesh.stateDir, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
    await receiver?.close();
  });

  test('an HTTP request: body = the text format (or Istio default), attributes = the labels', async () => {
    const before = Date.now();
    assert.equal(await call('/otel/ok', 'otel-ok-1'), 200);
    const mine = () => receiver.entries.filter((e) => e.body.includes('/otel/ok'));
    await waitFor('four records (two providers, two sidecars)', async () => mine().length >= 4, 20_000);
    const custom = mine().filter((e) => e.scope === 'otel_envoy_accesslog');
    const standard = mine().filter((e) => e.scope === 'weft-e2e');
    assert.equal(custom.length, 2, JSON.stringify(mine()));
    assert.equal(standard.length, 2, JSON.stringify(mine()));
    for (const e of custom) {
      assert.equal(e.body, 'GET /otel/ok 200');
      assert.equal(e.attrs.id, 'otel-ok-1');
      assert.equal(e.attrs.code, '200');
      assert.equal(e.attrs.flags, '-');
      assert.equal(e.attrs.term, '-');
      assert.ok(e.timeMs >= before - 1000 && e.timeMs <= Date.now(), `timestamp ${e.timeMs}`);
      assert.equal(e.resourceAttrs, 0, 'no built-in resource labels (istiod sets disable_builtin_labels)');
    }
    // The client side sent it to the echo service; the server side got it over mTLS from the client.
    const clusters = custom.map((e) => e.attrs.cluster).sort();
    assert.deepEqual(clusters, ['inbound|8080||', 'outbound|8080||echo.default.svc.cluster.local']);
    const server = custom.find((e) => e.attrs.cluster === 'inbound|8080||')!;
    assert.equal(server.attrs.peer, 'spiffe://cluster.local/ns/default/sa/client');
    assert.match(server.attrs.tls!, /^TLSv1\.[23]$/);
    // No labels: no attributes; no text: Istio's default format.
    for (const e of standard) {
      assert.deepEqual(e.attrs, {});
      assert.match(
        e.body,
        /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] "GET \/otel\/ok HTTP\/1\.1" 200 - via_upstream - "-" 0 \d+ /,
      );
      assert.match(e.body, /"otel-ok-1" "echo:8080" /);
    }
  });

  test("the proxy's metrics page counts what it exported and dropped, per provider", async () => {
    const client = await mesh.instance('client-0.default');
    const page = async () =>
      (await fetch(`http://127.0.0.1:${client.ports!.metrics!}/stats/prometheus`)).text();
    const exported = (text: string, provider: string) =>
      Number(
        new RegExp(
          `^weft_access_log_otel_records_exported_total\\{provider="${provider}"\\} (\\d+)$`,
          'm',
        ).exec(text)?.[1] ?? NaN,
      );
    // The batch goes out within a second of the request the previous test made.
    const text = await waitFor('exports counted', async () => {
      const t = await page();
      return exported(t, 'otel') >= 1 && exported(t, 'otel-default') >= 1 && t;
    });
    assert.match(
      text,
      /^weft_access_log_otel_records_dropped_total\{provider="otel",reason="queue_full"\} 0$/m,
    );
    assert.match(
      text,
      /^weft_access_log_otel_records_dropped_total\{provider="otel",reason="export_failed"\} 0$/m,
    );
  });

  test('an opaque TCP stream: logged by the server side with its downstream TLS version', async () => {
    const r = await tcpThrough(outbound, 'tcp-echo.default:9000');
    assert.match(r.text, /hello from tcp-echo-0/);
    const tcp = await waitFor(
      'the TCP record from tcp-echo',
      async () =>
        receiver.entries.find(
          (e) =>
            e.scope === 'otel_envoy_accesslog' &&
            e.attrs.cluster === 'inbound|9000||' &&
            e.attrs.code === '0',
        ),
      20_000,
    );
    assert.match(tcp.attrs.tls!, /^TLSv1\.[23]$/);
    assert.equal(tcp.attrs.peer, 'spiffe://cluster.local/ns/default/sa/client');
    assert.equal(tcp.attrs.term, '-');
    assert.equal(tcp.body, '- - 0', 'HTTP-only values are unknown on a TCP stream');
  });

  test('a TCP connection an AuthorizationPolicy denies: CONNECTION_TERMINATION_DETAILS names the rule', async () => {
    const file = join(dir, 'deny.yaml');
    await writeFile(
      file,
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: default}
spec:
  selector: {matchLabels: {app: tcp-echo}}
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/client]}}]
`,
    );
    assert.ok(await changeConfig(mesh, ['apply', '-f', file], [TCP]), 'the policy reached tcp-echo');
    const r = await tcpThrough(outbound, 'tcp-echo.default:9000');
    assert.doesNotMatch(r.text, /hello from tcp-echo-0/);
    const denied = await waitFor(
      'the denied connection',
      async () =>
        receiver.entries.find((e) => e.scope === 'otel_envoy_accesslog' && e.attrs.flags === 'RBAC'),
      20_000,
    );
    assert.equal(
      denied.attrs.term,
      'rbac_access_denied_matched_policy[ns[default]-policy[deny-client]-rule[0]]',
    );
    assert.equal(denied.attrs.peer, 'spiffe://cluster.local/ns/default/sa/client');
    assert.match(denied.attrs.tls!, /^TLSv1\.[23]$/);
  });

  test('an envoyHttpAls provider is not silently ignored: the proxy log says it writes nothing', async () => {
    for (const id of [CLIENT, ECHO]) {
      const log = await readFile((await mesh.instance(id)).logs.proxy, 'utf8');
      assert.match(
        log,
        /access log provider "grpc-als" \(envoyHttpAls\): Envoy's gRPC access log service is not implemented in Weft/,
      );
    }
  });
});
