// Every protocol through sidecar -> mTLS -> sidecar: HTTP/1.1 with large, chunked and streamed bodies,
// HTTP/2 with prior knowledge from the app, WebSocket upgrades, and opaque TCP (through HTTP CONNECT)
// including a server that speaks first.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { wsConversation } from './support/ws-client.js';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { freePort } from '../src/local/ports.js';
import { clientYaml, STREAM_APPS_YAML, workloadYaml } from './support/mesh-yaml.js';

async function waitForText(get: () => Promise<string>, needle: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const t = await get();
    if (t.includes(needle)) return t;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no ${needle} after 10 s`);
}

describe('protocols through the mesh', { timeout: 180_000 }, () => {
  let mesh: RunningMesh;
  let outbound: number;
  let dir: string;

  before(async () => {
    dir = await tempDir();
    outbound = await freePort();
    const file = join(dir, 'mesh.yaml');
    await writeFile(
      file,
      [
        ...STREAM_APPS_YAML,
        workloadYaml('tcp-echo-canary', 9000, ['node', 'dist/test/support/stream-servers.js', 'tcp'], 'tcp'),
        `
${clientYaml(outbound)}
`,
      ].join('\n'),
    );
    mesh = await RunningMesh.up([file]);
    // Every instance is ready, but the client's sidecar may not have the snapshot that says so yet
    // (on a loaded machine the push lands a moment later): wait until echo answers through it.
    await waitFor('echo reachable through the client sidecar', async () => {
      const status = await new Promise<number>((resolve) => {
        const req = http.get(
          { host: '127.0.0.1', port: outbound, path: '/ready', headers: { host: 'echo:8080' }, agent: false },
          (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          },
        );
        req.on('error', () => resolve(0));
      });
      return status === 200;
    });
  });

  after(async () => {
    await mesh?.stop();
  });

  test('HTTP/1.1: a 5 MB upload streams through both proxies intact, chunked and with content-length', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 7);
    for (const chunked of [false, true]) {
      const res = await new Promise<{ status: number; text: string; flags: string }>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: outbound,
            method: 'POST',
            path: '/upload',
            headers: { host: 'echo:8080', ...(chunked ? {} : { 'content-length': body.length }) },
          },
          (r) => {
            let text = '';
            r.on('data', (c: Buffer) => (text += c.toString()));
            r.on('end', () =>
              resolve({
                status: r.statusCode ?? 0,
                text,
                flags: String(r.headers['x-weft-response-flags'] ?? ''),
              }),
            );
          },
        );
        req.on('error', reject);
        // Write in pieces so a chunked body really is chunked.
        for (let i = 0; i < body.length; i += 256 * 1024) req.write(body.subarray(i, i + 256 * 1024));
        req.end();
      });
      assert.equal(res.status, 200, `chunked=${chunked} flags=${res.flags} ${res.text.slice(0, 300)}`);
      assert.equal(
        (JSON.parse(res.text) as { bodyLength: number }).bodyLength,
        body.length,
        `chunked=${chunked}`,
      );
    }
  });

  test('HTTP/1.1: 100-continue is honoured', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: outbound,
        method: 'PUT',
        path: '/c',
        headers: { host: 'echo:8080', expect: '100-continue', 'content-length': 5 },
      });
      req.on('continue', () => req.end('hello'));
      req.on('response', (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    assert.equal(status, 200);
  });

  test('HTTP/2 with prior knowledge from the app reaches an HTTP/1.1 backend', async () => {
    const client = http2.connect(`http://127.0.0.1:${outbound}`);
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const s = client.request({ ':path': '/h2?x=1', ':authority': 'echo:8080' });
        let body = '';
        let status = 0;
        s.on('response', (h) => (status = Number(h[':status'])));
        s.on('data', (c: Buffer) => (body += c.toString()));
        s.on('end', () => resolve({ status, body }));
        s.on('error', reject);
        s.end();
      });
      assert.equal(status, 200);
      const echo = JSON.parse(body) as { path: string; host: string };
      assert.equal(echo.path, '/h2?x=1');
      assert.equal(echo.host, 'echo:8080');
    } finally {
      client.close();
    }
  });

  test('WebSocket upgrade carries messages both ways, with the caller identity at the server', async () => {
    const messages = await wsConversation(outbound, 'ws-echo:8081', ['ping 1', Buffer.alloc(100_000, 1)]);
    const hello = JSON.parse(messages[0]!) as { pod: string; xfcc: string };
    assert.equal(hello.pod, 'ws-echo-0');
    assert.match(hello.xfcc, /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/client/);
    assert.equal(messages[1], 'ping 1');
    assert.equal(messages[2]!.length, 100_000);
  });

  test('opaque TCP through CONNECT: the server speaks first and is never stalled, then echoes', async () => {
    const socket = net.connect(outbound, '127.0.0.1');
    let buf = '';
    const waitFor = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => (re.test(buf) ? resolve() : undefined);
        socket.on('data', (d: Buffer) => {
          buf += d.toString();
          check();
        });
        socket.on('error', reject);
        check();
      });
    socket.write('CONNECT tcp-echo:9000 HTTP/1.1\r\nHost: tcp-echo:9000\r\n\r\n');
    await waitFor(/HTTP\/1\.1 200 Connection Established\r\n\r\n/);
    // Nothing sent yet: the banner must arrive on its own.
    await waitFor(/hello from tcp-echo-0\n/);
    const payload = createHash('sha256').update('weft').digest('hex');
    socket.write(payload);
    await waitFor(new RegExp(payload));
    socket.destroy();
  });

  test("TCP streams show in Istio's TCP metrics on both sides", async () => {
    const status = await mesh.weft(['proxy-status', '-o', 'json']);
    const proxies = JSON.parse(status.stdout) as Array<{ id: string; metricsUrl?: string }>;
    const scrape = async (id: string) => (await fetch(proxies.find((p) => p.id === id)!.metricsUrl!)).text();
    const series = (text: string, name: string, reporter: string) =>
      text
        .split('\n')
        .find(
          (l) =>
            l.startsWith(`${name}{reporter="${reporter}"`) &&
            l.includes('destination_service="tcp-echo.default.svc.cluster.local"'),
        );
    const client = await waitForText(() => scrape('client-0.default'), 'istio_tcp_connections_closed_total{');
    assert.match(
      series(client, 'istio_tcp_connections_opened_total', 'source') ?? '',
      /source_workload="client".*request_protocol="tcp".*connection_security_policy="mutual_tls"\} [1-9]/,
    );
    assert.match(
      series(client, 'istio_tcp_sent_bytes_total', 'source') ?? '',
      /\} [1-9]\d*$/,
      'the banner and the echo came back',
    );
    assert.match(series(client, 'istio_tcp_received_bytes_total', 'source') ?? '', /\} [1-9]\d*$/);
    const server = await waitForText(
      () => scrape('tcp-echo-0.default'),
      'istio_tcp_connections_closed_total{',
    );
    assert.match(
      series(server, 'istio_tcp_connections_closed_total', 'destination') ?? '',
      /source_workload_namespace="default",source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/client".*\} [1-9]/,
    );
  });

  test('CONNECT to something that is not a mesh service is refused', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(outbound, '127.0.0.1', () =>
        s.write('CONNECT nowhere:1 HTTP/1.1\r\nHost: nowhere:1\r\n\r\n'),
      );
      let d = '';
      s.on('data', (c: Buffer) => (d += c.toString()));
      s.on('close', () => resolve(d));
      setTimeout(() => s.destroy(), 3000);
    });
    assert.match(answer, /^HTTP\/1\.1 404/);
  });

  test('HTTP/1.1 the sidecar must refuse: smuggling, malformed and oversized heads; pipelined requests answered in order', async () => {
    /** Raw bytes to the outbound listener; what came back when the proxy closed (or after 5 s). */
    const raw = (bytes: string, done?: (t: string) => boolean) =>
      new Promise<{ text: string; closed: boolean }>((resolve) => {
        const s = net.connect(outbound, '127.0.0.1', () => s.write(bytes));
        let text = '';
        const timer = setTimeout(() => {
          s.destroy();
          resolve({ text, closed: false });
        }, 5000);
        s.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          if (done?.(text)) {
            clearTimeout(timer);
            s.destroy();
            resolve({ text, closed: false });
          }
        });
        s.on('error', () => {});
        s.on('close', () => {
          clearTimeout(timer);
          resolve({ text, closed: true });
        });
      });
    const hostile = [
      // CL.TE and TE.CL smuggling: both framings at once.
      'POST /c HTTP/1.1\r\nHost: echo:8080\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: echo:8080\r\n\r\n',
      'POST /c HTTP/1.1\r\nHost: echo:8080\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd',
      'POST /c HTTP/1.1\r\nHost: echo:8080\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
      'GET /c HTTP/1.1\r\nHost: echo:8080\r\nX-Bad\u0000: 1\r\n\r\n',
      'GET /c HTTP/1.1\nHost: echo:8080\n\n',
      'GET /c HTTP/9.9\r\nHost: echo:8080\r\n\r\n',
    ];
    for (const h of hostile) {
      const r = await raw(h);
      assert.match(r.text, /^HTTP\/1\.1 400 /, JSON.stringify(h));
      assert.equal(r.closed, true, JSON.stringify(h));
      assert.equal(
        (r.text.match(/HTTP\/1\.1 /g) ?? []).length,
        1,
        `a smuggled request was answered: ${r.text}`,
      );
    }
    const big = await raw(`GET /c HTTP/1.1\r\nHost: echo:8080\r\nx-big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    assert.match(big.text, /^HTTP\/1\.1 431 /);
    // Three pipelined requests in one write: three answers, in order, on the same connection.
    const piped = await raw(
      ['/p1', '/p2', '/p3'].map((p) => `GET ${p} HTTP/1.1\r\nHost: echo:8080\r\n\r\n`).join(''),
      // The echo server answers chunked: done once the third body's last chunk came.
      (t) => t.includes('"/p3"') && t.endsWith('0\r\n\r\n'),
    );
    assert.equal((piped.text.match(/HTTP\/1\.1 200 /g) ?? []).length, 3, piped.text);
    const order = ['/p1', '/p2', '/p3'].map((p) => piped.text.indexOf(p));
    assert.ok(
      order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)),
      piped.text,
    );
    // And the proxy is still serving.
    const ok = await raw('GET /after HTTP/1.1\r\nHost: echo:8080\r\n\r\n', (t) => t.includes('\r\n\r\n'));
    assert.match(ok.text, /^HTTP\/1\.1 200 /);
  });

  test('a VirtualService tcp rule moves CONNECT streams by weight (TCP traffic shifting)', async () => {
    const banner = () =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(outbound, '127.0.0.1');
        let buf = '';
        socket.on('data', (d: Buffer) => {
          buf += d.toString();
          const m = /hello from (\S+)\n/.exec(buf);
          if (m) {
            socket.destroy();
            resolve(m[1]!);
          }
        });
        socket.on('error', reject);
        socket.on('close', () => reject(new Error(`closed before the banner: ${JSON.stringify(buf)}`)));
        socket.write('CONNECT tcp-echo:9000 HTTP/1.1\r\nHost: tcp-echo:9000\r\n\r\n');
      });
    const file = join(dir, 'tcp-shift.yaml');
    await writeFile(
      file,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - destination: {host: tcp-echo, port: {number: 9000}}
      weight: 0
    - destination: {host: tcp-echo-canary, port: {number: 9000}}
      weight: 100
`,
    );
    const applied = await mesh.weft(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    let last = '';
    for (let i = 0; i < 50 && last !== 'tcp-echo-canary-0'; i++) {
      last = await banner();
      if (last !== 'tcp-echo-canary-0') await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(last, 'tcp-echo-canary-0', 'the tcp rule took effect');
    for (let i = 0; i < 5; i++) assert.equal(await banner(), 'tcp-echo-canary-0');
  });
});
