// Access logs end to end, in one `weft up` mesh: a client sidecar (the test is its app) calling an echo
// service, a ServiceEntry whose only endpoint refuses connections (503 UF), a Service without endpoints
// (503 UH) and a name nobody serves (404 NR). Config changes while it runs, as a user would make them:
//  - MeshConfig `accessLogFile: /dev/stdout`: Istio's default TEXT format in the proxy log, with the flags,
//    details, addresses and cluster names Envoy would print, on the client and the server side;
//  - a mesh-wide Telemetry selecting a JSON file provider with `filter.expression: response.code >= 400`:
//    only the errors, as JSON objects with Istio's keys, in that file, and nothing more on stdout;
//  - a workload-scope Telemetry for the client overriding it (the envoy provider, no filter);
//  - `disabled: true` for the client: its requests are no longer logged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { changeConfig } from './support/config-sync.js';
import { freePort } from '../src/local/ports.js';
import { ECHO_YAML, clientYaml } from './support/mesh-yaml.js';

const CLIENT = 'client-0.default';
const ECHO = 'echo-0.default';

interface Reply {
  status: number;
  flags: string;
}

describe('access logs: formats, providers, Telemetry filters and scopes', { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let outbound: number;
  let jsonFile: string;

  function call(host: string, path: string, requestId: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: outbound,
          path,
          headers: { host, 'user-agent': 'access-log-e2e/1', 'x-request-id': requestId },
          agent: false,
          timeout: 15_000,
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              flags: String(res.headers['x-weft-response-flags'] ?? ''),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  const log = async (id: string) => readFile((await mesh.instance(id)).logs.proxy, 'utf8');
  const lineWith = (text: string, needle: string) => text.split('\n').find((l) => l.includes(needle));

  async function apply(name: string, yaml: string, watch = [CLIENT]): Promise<void> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    assert.ok(await changeConfig(mesh, ['apply', '-f', file], watch), `${name} reached ${watch.join(', ')}`);
  }

  /** The four requests of each phase: a 200, and the 503 UF, 503 UH and 404 NR local replies. */
  async function phase(tag: string): Promise<void> {
    assert.equal((await call('echo:8080', `/${tag}/ok`, `${tag}-ok`)).status, 200);
    const uf = await call('dead.example.test', `/${tag}/uf`, `${tag}-uf`);
    assert.deepEqual([uf.status, uf.flags], [503, 'UF']);
    const uh = await call('empty:8080', `/${tag}/uh`, `${tag}-uh`);
    assert.deepEqual([uh.status, uh.flags], [503, 'UH']);
    const nr = await call('no-such-host.invalid', `/${tag}/nr`, `${tag}-nr`);
    assert.deepEqual([nr.status, nr.flags], [404, 'NR']);
  }

  before(async () => {
    dir = await tempDir('weft-access-log-');
    outbound = await freePort();
    const closed = await freePort(); // nothing listens there: connect failures
    jsonFile = join(dir, 'access.json');
    await writeFile(
      join(dir, 'mesh.yaml'),
      `${clientYaml(outbound)}
---
${ECHO_YAML}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nobody}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dead}
spec:
  hosts: [dead.example.test]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${closed}}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
  });

  after(async () => {
    await mesh?.stop();
    if (mesh) await rm(mesh.stateDir, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("no access log config: Weft's compact line, as before", async () => {
    await phase('p0');
    const text = await waitFor('the p0 lines', async () => {
      const t = await log(CLIENT);
      return t.includes('/p0/nr') && t;
    });
    assert.match(
      text,
      /\] outbound "GET \/p0\/ok HTTP\/1\.1" 200 - \d+ "echo:8080" "127\.0\.0\.1:\d+" outbound\|8080\|\|echo\.default\.svc\.cluster\.local /,
    );
    assert.match(
      text,
      /\] outbound "GET \/p0\/uf HTTP\/1\.1" 503 UF \d+ "dead\.example\.test" "127\.0\.0\.1:\d+" outbound\|80\|\|dead\.example\.test /,
    );
  });

  test("MeshConfig accessLogFile: Istio's default TEXT format, client and server side", async () => {
    await apply(
      'mesh-config',
      `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  accessLogFile: /dev/stdout
  extensionProviders:
  - name: json-errors
    envoyFileAccessLog:
      path: ${jsonFile}
      logFormat: {labels: {}}
`,
      [CLIENT, ECHO],
    );
    await phase('p1');
    const text = await waitFor('the p1 lines', async () => {
      const t = await log(CLIENT);
      return t.includes('/p1/nr') && t;
    });
    const ok = lineWith(text, '/p1/ok');
    // [start] "GET path proto" code flags details termination "failure" rx tx duration upstream-time
    // "xff" "ua" "request id" "authority" "upstream host" cluster upstream-local downstream-local
    // downstream-remote sni route
    assert.match(
      ok ?? '',
      new RegExp(
        String.raw`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /p1/ok HTTP/1\.1" 200 - via_upstream - "-" 0 \d+ \d+ - "-" ` +
          String.raw`"access-log-e2e/1" "p1-ok" "echo:8080" "127\.0\.0\.1:\d+" outbound\|8080\|\|echo\.default\.svc\.cluster\.local ` +
          String.raw`127\.0\.0\.1:\d+ 127\.0\.0\.1:${outbound} 127\.0\.0\.1:\d+ - \S+$`,
      ),
      text,
    );
    assert.match(
      lineWith(text, '/p1/uf') ?? '',
      /"GET \/p1\/uf HTTP\/1\.1" 503 UF upstream_reset_before_response_started\{remote_connection_failure\} - "delayed_connect_error:_Connection_refused" 0 \d+ \d+ - .* "127\.0\.0\.1:\d+" outbound\|80\|\|dead\.example\.test /,
    );
    assert.match(
      lineWith(text, '/p1/uh') ?? '',
      /"GET \/p1\/uh HTTP\/1\.1" 503 UH no_healthy_upstream - "-" 0 \d+ \d+ - .* "-" outbound\|8080\|\|empty\.default\.svc\.cluster\.local /,
    );
    assert.match(
      lineWith(text, '/p1/nr') ?? '',
      /"GET \/p1\/nr HTTP\/1\.1" 404 NR route_not_found - "-" 0 \d+ \d+ - .* "-" - /,
    );
    // The server side: echo's sidecar, over mTLS, to the app's cluster. (The SNI column shows what the
    // client sent: Istio's outbound_.8080_._.echo… cluster SNI, or the Host name with undici's pools.)
    const server = await waitFor('the inbound p1 line', async () => lineWith(await log(ECHO), '/p1/ok'));
    assert.match(
      server,
      /"GET \/p1\/ok HTTP\/1\.1" 200 - via_upstream - "-" 0 \d+ \d+ - "-" "access-log-e2e\/1" "p1-ok" "echo:8080" "127\.0\.0\.1:\d+" inbound\|8080\|\| 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ \S+ default$/,
    );
  });

  test('mesh-wide Telemetry: JSON file provider with response.code >= 400, nothing else', async () => {
    await apply(
      'telemetry-mesh',
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging:
  - providers: [{name: json-errors}]
    filter: {expression: response.code >= 400}
`,
      [CLIENT, ECHO],
    );
    await phase('p2');
    const entries = await waitFor('the p2 errors in the JSON file', async () => {
      const lines = (await readFile(jsonFile, 'utf8').catch(() => '')).split('\n').filter(Boolean);
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      return parsed.some((e) => e.path === '/p2/nr') && parsed;
    });
    const p2 = entries.filter((e) => String(e.path).startsWith('/p2/'));
    assert.deepEqual(p2.map((e) => [e.path, e.response_code, e.response_flags]).sort(), [
      ['/p2/nr', 404, 'NR'],
      ['/p2/uf', 503, 'UF'],
      ['/p2/uh', 503, 'UH'],
    ]);
    const uf = p2.find((e) => e.path === '/p2/uf')!;
    assert.equal(uf.request_id, 'p2-uf');
    assert.equal(uf.user_agent, 'access-log-e2e/1');
    assert.equal(uf.upstream_cluster, 'outbound|80||dead.example.test');
    assert.equal(uf.x_forwarded_for, null);
    assert.equal(typeof uf.duration, 'number');
    assert.deepEqual(Object.keys(uf), [...Object.keys(uf)].sort());
    const text = await log(CLIENT);
    assert.ok(!text.includes('/p2/'), 'the Telemetry replaced the mesh-wide accessLogFile');
  });

  test('a workload-scope Telemetry overrides the mesh one, then disables logging', async () => {
    await apply(
      'telemetry-client',
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: client-logs, namespace: default}
spec:
  selector: {matchLabels: {app: client}}
  accessLogging:
  - providers: [{name: envoy}]
`,
    );
    await phase('p3');
    const text = await waitFor('the p3 lines', async () => {
      const t = await log(CLIENT);
      return t.includes('/p3/nr') && t;
    });
    assert.match(lineWith(text, '/p3/ok') ?? '', /"GET \/p3\/ok HTTP\/1\.1" 200 - via_upstream /);
    const json = await readFile(jsonFile, 'utf8');
    assert.ok(!json.includes('/p3/uf'), 'the client no longer writes to the mesh-wide provider');

    await apply(
      'telemetry-client',
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: client-logs, namespace: default}
spec:
  selector: {matchLabels: {app: client}}
  accessLogging:
  - disabled: true
`,
    );
    await phase('p4');
    // The echo side still logs (mesh-wide JSON errors only), the client side nothing at all.
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!(await log(CLIENT)).includes('/p4/'), 'disabled: no client line');
    assert.ok(!(await readFile(jsonFile, 'utf8')).includes('/p4/'), 'disabled: no JSON line for the client');
  });

  test('a bad format or filter is refused with the file and field', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: bad, namespace: default}
spec:
  accessLogging:
  - filter: {expression: "response.cod >= 400"}
`,
    );
    const r = await mesh.weft(['apply', '-f', file]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr + r.stdout,
      /bad\.yaml:\d+: .*accessLogging\[0\]\.filter\.expression: .*unknown attribute response\.cod/,
    );
  });

  test('durations, the upstream local address, and a CONNECT tunnel in the configured JSON format', async () => {
    const timingFile = join(dir, 'timing.log');
    const tcpFile = join(dir, 'tcp.json');
    await apply(
      'mesh-config',
      `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  extensionProviders:
  - name: json-errors
    envoyFileAccessLog:
      path: ${jsonFile}
      logFormat: {labels: {}}
  - name: timing
    envoyFileAccessLog:
      path: ${timingFile}
      logFormat:
        text: "%REQ(X-REQUEST-ID)% %REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION% %DURATION% %UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_HOST%"
  - name: tcp-json
    envoyFileAccessLog:
      path: ${tcpFile}
      logFormat:
        labels:
          method: "%REQ(:METHOD)%"
          protocol: "%PROTOCOL%"
          code: "%RESPONSE_CODE%"
          flags: "%RESPONSE_FLAGS%"
          received: "%BYTES_RECEIVED%"
          sent: "%BYTES_SENT%"
          duration: "%DURATION%"
          cluster: "%UPSTREAM_CLUSTER%"
          upstream: "%UPSTREAM_HOST%"
          upstream_local: "%UPSTREAM_LOCAL_ADDRESS%"
          downstream: "%DOWNSTREAM_REMOTE_ADDRESS%"
          peer: "%DOWNSTREAM_PEER_URI_SAN%"
          start: "%START_TIME%"
`,
      [], // new providers nobody uses yet: no proxy's config changes
    );
    await apply(
      'telemetry-client',
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: client-logs, namespace: default}
spec:
  selector: {matchLabels: {app: client}}
  accessLogging:
  - providers: [{name: timing}, {name: tcp-json}]
`,
    );
    await apply(
      'telemetry-echo',
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: echo-logs, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  accessLogging:
  - providers: [{name: tcp-json}]
`,
      [ECHO],
    );

    // A request whose body comes in two parts, 100 ms apart, to an echo that answers 50 ms after the
    // body ended: the request ends, then the response starts, then it is sent.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: outbound,
          method: 'POST',
          path: '/p5/body?delay=50ms',
          headers: { host: 'echo:8080', 'x-request-id': 'p5-body', 'content-type': 'text/plain' },
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write('x'.repeat(1000));
      setTimeout(() => req.end('y'.repeat(1000)), 100);
    });
    assert.equal(status, 200);
    const line = await waitFor('the p5 timing line', async () =>
      lineWith(await readFile(timingFile, 'utf8').catch(() => ''), 'p5-body'),
    );
    const [, request, response, tx, total, local, upstreamHost] = line.split(' ');
    const [req, resp, sent, duration] = [request, response, tx, total].map(Number);
    for (const n of [req, resp, sent, duration]) assert.ok(Number.isInteger(n) && n! >= 0, line);
    assert.ok(req! <= resp! && resp! <= duration!, `REQUEST ≤ RESPONSE ≤ DURATION: ${line}`);
    assert.ok(req! > 0, `the body ended after the headers: ${line}`);
    assert.ok(resp! + sent! <= duration! + 1, line);
    assert.match(local ?? '', /^127\.0\.0\.1:\d+$/, line);
    assert.notEqual(local, upstreamHost, 'the local end of the connection, not the peer');

    // CONNECT echo:8080, then an HTTP request inside the tunnel.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(outbound, '127.0.0.1', () =>
        socket.write('CONNECT echo:8080 HTTP/1.1\r\nHost: echo:8080\r\n\r\n'),
      );
      let data = '';
      let sentInside = false;
      socket.on('data', (c: Buffer) => {
        data += c.toString('latin1');
        if (!sentInside && data.includes('\r\n\r\n')) {
          sentInside = true;
          socket.write('GET /p5/tunnel HTTP/1.1\r\nHost: echo:8080\r\nConnection: close\r\n\r\n');
        }
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      socket.setTimeout(15_000, () => reject(new Error(`tunnel timed out: ${data}`)));
    });
    assert.match(reply, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 /);
    const tunnel = await waitFor('both sides of the tunnel in the JSON file', async () => {
      const entries = (await readFile(tcpFile, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const client = entries.find((e) => e.method === 'CONNECT');
      const server = entries.find((e) => e.cluster === 'inbound|8080||' && e.method === null);
      return client && server && { client, server };
    });
    // The client side logs the CONNECT request (as Envoy's HTTP connection manager), with the bytes
    // that went through the tunnel.
    const c = tunnel.client;
    assert.equal(c.code, 200);
    assert.equal(c.cluster, 'outbound|8080||echo.default.svc.cluster.local');
    assert.ok((c.received as number) > 0 && (c.sent as number) > 0, JSON.stringify(c));
    assert.match(String(c.upstream_local), /^127\.0\.0\.1:\d+$/);
    assert.match(String(c.downstream), /^127\.0\.0\.1:\d+$/, 'read before the tunnel closed');
    // The server side logs a TCP stream: no method or protocol, code 0, the bytes both ways.
    const sv = tunnel.server;
    assert.equal(sv.code, 0);
    assert.equal(sv.protocol, null);
    assert.equal(sv.flags, '-');
    assert.equal(sv.peer, 'spiffe://cluster.local/ns/default/sa/client');
    assert.equal(sv.received, c.received, 'the bytes the client sent through the tunnel');
    assert.ok((sv.sent as number) > 0, JSON.stringify(sv));
    assert.equal(typeof sv.duration, 'number');
    assert.match(String(sv.upstream), /^127\.0\.0\.1:\d+$/);
    assert.match(String(sv.upstream_local), /^127\.0\.0\.1:\d+$/);
    assert.match(String(sv.downstream), /^127\.0\.0\.1:\d+$/);
    assert.match(String(sv.start), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(
      !(await log(ECHO)).includes('inbound tcp'),
      "no Weft TCP line: the Telemetry's provider decides",
    );
  });

  test('disabled: true silences TCP streams too', async () => {
    await apply(
      'telemetry-echo',
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: echo-logs, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  accessLogging:
  - disabled: true
`,
      [ECHO],
    );
    const tcpFile = join(dir, 'tcp.json');
    const count = async () =>
      (await readFile(tcpFile, 'utf8')).split('\n').filter((l) => l.includes('"cluster":"inbound|8080||"'))
        .length;
    const before = await count();
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(outbound, '127.0.0.1', () =>
        socket.write(
          'CONNECT echo:8080 HTTP/1.1\r\nHost: echo:8080\r\n\r\nGET /p6 HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n',
        ),
      );
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(reply, /Connection Established\r\n\r\nHTTP\/1\.1 200 /);
    // The client still logs its CONNECT (with the bytes that came with its head); the server nothing.
    await waitFor('the client CONNECT line', async () =>
      (await readFile(tcpFile, 'utf8')).split('\n').filter((l) => l.includes('"method":"CONNECT"')).length >=
      2
        ? true
        : undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await count(), before, 'no server-side TCP entry');
    assert.ok(!(await log(ECHO)).includes('inbound tcp'), 'nor a Weft TCP line');
  });
});
