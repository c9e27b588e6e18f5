// ServiceEntry resolution through a real sidecar (weft up): a DNS server of the test's own (UDP, on
// 127.0.0.1) answers for *.weft.test with loopback addresses, and the proxies ask it (WEFT_DNS_SERVERS).
// Two HTTP servers listen on 127.0.0.2 and 127.0.0.3, on the same port, and say which one answered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { startDnsServer, type DnsServer } from './support/dns-server.js';
import { freePort } from '../src/local/ports.js';
import { clientYaml } from './support/mesh-yaml.js';

interface Reply {
  status: number;
  flags: string;
  body: string;
}

describe('ServiceEntry DNS resolution and wildcard hosts through a sidecar', { timeout: 180_000 }, () => {
  let mesh: RunningMesh;
  let dns: DnsServer;
  let outbound: number;
  const servers: http.Server[] = [];
  const seen: Array<{ server: string; host: string }> = [];

  async function call(host: string): Promise<Reply> {
    const res = await request(`http://127.0.0.1:${outbound}/`, { headers: { host } });
    return {
      status: res.statusCode,
      flags: String(res.headers['x-weft-response-flags'] ?? ''),
      body: await res.body.text(),
    };
  }

  /** CONNECT through the sidecar, then one HTTP/1.1 request inside the tunnel; the raw answer. */
  function viaConnect(authority: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(outbound, '127.0.0.1', () =>
        sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
      );
      let buf = '';
      let tunnelled = false;
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        if (!tunnelled && buf.includes('\r\n\r\n')) {
          if (!buf.startsWith('HTTP/1.1 200')) return resolve(buf);
          tunnelled = true;
          buf = '';
          const host = authority.split(':')[0]!;
          sock.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        }
      });
      sock.on('end', () => resolve(buf));
      sock.on('error', reject);
    });
  }

  async function spread(host: string, n: number): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await call(host);
      const key = r.status === 200 ? r.body : `${r.status} ${r.flags}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  async function listen(address: string, port: number): Promise<number> {
    const s = http.createServer((req, res) => {
      seen.push({ server: address, host: String(req.headers.host) });
      res.end(address);
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(port, address, r));
    return (s.address() as AddressInfo).port;
  }

  before(async () => {
    const port = await listen('127.0.0.2', 0);
    await listen('127.0.0.3', port);
    dns = await startDnsServer({
      'multi.weft.test': ['127.0.0.2', '127.0.0.3'],
      'logical.weft.test': ['127.0.0.3', '127.0.0.2'],
      'a.wild.weft.test': ['127.0.0.2'],
      'b.wild.weft.test': ['127.0.0.3'],
    });
    // weft up, the control plane and the proxies inherit it.
    process.env.WEFT_DNS_SERVERS = dns.address;
    outbound = await freePort();
    const dir = await tempDir();
    const entry = (name: string, host: string, resolution: string) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: ["${host}"]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${port}}]
  resolution: ${resolution}
---`;
    await writeFile(
      join(dir, 'mesh.yaml'),
      `
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}
---
${entry('multi', 'multi.weft.test', 'DNS')}
${entry('logical', 'logical.weft.test', 'DNS_ROUND_ROBIN')}
${entry('wild', '*.wild.weft.test', 'NONE')}
${clientYaml(outbound)}
`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
  });

  after(async () => {
    await mesh?.stop();
    await dns?.close();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  test('DNS (STRICT_DNS): every address the name resolves to is an endpoint', async () => {
    await waitFor('both addresses to serve', async () => {
      const c = await spread('multi.weft.test', 10);
      return c.has('127.0.0.2') && c.has('127.0.0.3');
    });
    const c = await spread('multi.weft.test', 20);
    assert.deepEqual(
      [c.get('127.0.0.2'), c.get('127.0.0.3')],
      [10, 10],
      `round robin over both: ${JSON.stringify([...c])}`,
    );
    assert.ok(dns.queries.includes('multi.weft.test A'), 'the sidecar asked the DNS server');
    // The answers change: once their TTL (1 s, so Envoy's 5 s floor) has passed, the sidecar asks again.
    dns.records.set('multi.weft.test', ['127.0.0.3']);
    await waitFor(
      'the new answer to be used',
      async () => (await spread('multi.weft.test', 5)).get('127.0.0.3') === 5,
    );
  });

  test('DNS_ROUND_ROBIN (LOGICAL_DNS): only the first address answered is used', async () => {
    await waitFor('the name to resolve', async () => (await call('logical.weft.test')).status === 200);
    assert.deepEqual([...(await spread('logical.weft.test', 20))], [['127.0.0.3', 20]]);
    dns.records.set('logical.weft.test', ['127.0.0.2', '127.0.0.3']);
    await waitFor(
      'the new first address',
      async () => (await spread('logical.weft.test', 5)).get('127.0.0.2') === 5,
    );
  });

  test('a wildcard host with resolution NONE goes to the name the client used, resolved by DNS', async () => {
    assert.deepEqual([...(await spread('a.wild.weft.test', 4))], [['127.0.0.2', 4]]);
    assert.deepEqual(seen.at(-1), { server: '127.0.0.2', host: 'a.wild.weft.test' });
    assert.deepEqual([...(await spread('b.wild.weft.test', 4))], [['127.0.0.3', 4]]);
    // In the registry but not in DNS: Envoy's DNS resolution failure.
    const missing = await call('c.wild.weft.test');
    assert.deepEqual([missing.status, missing.flags], [503, 'DF']);
    // An HTTPS client would CONNECT: the tunnel goes to the named host too.
    assert.match(await viaConnect('b.wild.weft.test:80'), /^HTTP\/1\.1 200[\s\S]*127\.0\.0\.3$/);
    // Not under the wildcard: REGISTRY_ONLY blocks it.
    const blocked = await call('wild.weft.test');
    assert.deepEqual([blocked.status, blocked.flags], [502, 'NR']);
  });
});
