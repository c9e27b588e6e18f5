// Wildcard ServiceEntry hosts and DNS resolution, in one process: Istio YAML compiled into a sidecar's
// snapshot, a real outbound listener, and real HTTP servers on 127.0.0.1 standing in for external hosts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { lookup } from 'node:dns/promises';
import { parseDocuments } from '../../config/load.js';
import { formatProblem } from '../../config/types.js';
import { MeshIndex } from '../../config/compile/inputs.js';
import { compileSnapshot } from '../../config/compile/snapshot.js';
import type { ProxyIdentity } from '../../model/snapshot.js';
import { ProxyState, loadStateCode } from '../state.js';
import { createRoutedHandlers, routedServer } from '../listeners/outbound.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import { httpRequests, type RequestRecord } from '../telemetry/events.js';
import { compileWeftLine } from '../telemetry/access-log/format.js';

const CLIENT: ProxyIdentity = {
  id: 'client-0.default',
  workload: 'client',
  namespace: 'default',
  serviceAccount: 'client',
  spiffeId: 'spiffe://cluster.local/ns/default/sa/client',
  labels: { app: 'client' },
  kind: 'sidecar',
};

function compile(yaml: string) {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return { version: 'test', ...compileSnapshot(new MeshIndex(resources, []), CLIENT) };
}

async function sidecar(t: TestContext, yaml: string) {
  const snapshot = compile(yaml);
  await loadStateCode(snapshot); // as DataPlane.apply does
  const state = new ProxyState(snapshot);
  const log: string[] = [];
  const identity = { clientContext: undefined } as unknown as WorkloadIdentity;
  const handlers = createRoutedHandlers(
    { identity, state: () => state, log: (l) => log.push(l) },
    'outbound',
  );
  const server = routedServer(handlers, () => state.outbound);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const line = compileWeftLine('client');
  const onRecord = (m: unknown) => log.push(line(m as RequestRecord));
  httpRequests.subscribe(onRecord);
  t.after(() => httpRequests.unsubscribe(onRecord));
  return { port: (server.address() as AddressInfo).port, log, state };
}

/** A server outside the mesh that answers with its name and the Host it was asked for. */
async function external(t: TestContext, name: string): Promise<{ port: number; hosts: string[] }> {
  const hosts: string[] = [];
  const server = http.createServer((req, res) => {
    hosts.push(String(req.headers.host));
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, hosts };
}

async function get(port: number, host: string, path = '/') {
  return new Promise<{ status: number; flags: string; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          flags: String(res.headers['x-weft-response-flags'] ?? ''),
          body,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const REGISTRY_ONLY = `
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}
---`;

const entry = (name: string, hosts: string, resolution: string, endpoints = '') => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${hosts}]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: ${resolution}
  ${endpoints ? `endpoints: ${endpoints}` : ''}
---`;

test('a wildcard host is in the registry (REGISTRY_ONLY lets it through); a more specific host wins', async (t) => {
  const wide = await external(t, 'wide');
  const narrow = await external(t, 'narrow');
  const s = await sidecar(
    t,
    REGISTRY_ONLY +
      entry('wide', '"*.example.com"', 'STATIC', `[{address: 127.0.0.1, ports: {http: ${wide.port}}}]`) +
      entry('narrow', 'api.example.com', 'STATIC', `[{address: 127.0.0.1, ports: {http: ${narrow.port}}}]`),
  );
  const a = await get(s.port, 'a.example.com');
  assert.deepEqual([a.status, a.body], [200, 'wide']);
  assert.equal(wide.hosts.at(-1), 'a.example.com');
  assert.equal((await get(s.port, 'x.y.example.com:80')).body, 'wide');
  assert.equal((await get(s.port, 'api.example.com')).body, 'narrow');
  assert.match(s.log.at(-1)!, /outbound\|80\|\|api\.example\.com/);
  assert.match(s.log.at(-3)!, /outbound\|80\|\|\*\.example\.com/);
  // example.com itself is not under *.example.com.
  const blocked = await get(s.port, 'example.com');
  assert.deepEqual([blocked.status, blocked.flags], [502, 'NR']);
});

test('VirtualServices and DestinationRules for a wildcard host apply to the names under it', async (t) => {
  const v1 = await external(t, 'v1');
  const v2 = await external(t, 'v2');
  const s = await sidecar(
    t,
    REGISTRY_ONLY +
      entry(
        'wide',
        '"*.example.com"',
        'STATIC',
        `[{address: 127.0.0.1, ports: {http: ${v1.port}}, labels: {v: one}}, {address: 127.0.0.1, ports: {http: ${v2.port}}, labels: {v: two}}]`,
      ) +
      `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: wide}
spec:
  host: "*.example.com"
  subsets: [{name: one, labels: {v: one}}, {name: two, labels: {v: two}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wide}
spec:
  hosts: ["*.example.com"]
  http:
  - match: [{uri: {prefix: /two}}]
    route: [{destination: {host: "*.example.com", subset: two}}]
  - match: [{uri: {prefix: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: "*.example.com", subset: one}}]
  - route: [{destination: {host: "*.example.com", subset: one}}]
`,
  );
  for (let i = 0; i < 4; i++) assert.equal((await get(s.port, `h${i}.example.com`, '/')).body, 'v1');
  assert.equal((await get(s.port, 'b.example.com', '/two')).body, 'v2');
  assert.equal(v2.hosts.at(-1), 'b.example.com');
  assert.equal((await get(s.port, 'c.example.com', '/teapot')).status, 418);
});

test('wildcard with resolution NONE: a name that does not resolve is 503 DF', async (t) => {
  const s = await sidecar(t, REGISTRY_ONLY + entry('wide', '"*.weft-test.invalid"', 'NONE'));
  assert.equal(s.state.clusters.get('outbound|80||*.weft-test.invalid')!.cluster.dynamicHost, true);
  // .invalid never resolves (RFC 6761). test/service-entry-dns.e2e.test.ts has names that do.
  const r = await get(s.port, 'nowhere.weft-test.invalid');
  assert.deepEqual([r.status, r.flags], [503, 'DF']);
  assert.match(r.body, /dns resolution failure for nowhere\.weft-test\.invalid/);
});

test('resolution DNS and DNS_ROUND_ROBIN: the proxy resolves the endpoint name itself', async (t) => {
  const srv = await external(t, 'local');
  const addrs = (await lookup('localhost', { all: true, order: 'verbatim' })).map((a) => a.address);
  const s = await sidecar(
    t,
    REGISTRY_ONLY +
      entry('strict', 'strict.example.test', 'DNS', `[{address: localhost, ports: {http: ${srv.port}}}]`) +
      entry(
        'logical',
        'logical.example.test',
        'DNS_ROUND_ROBIN',
        `[{address: localhost, ports: {http: ${srv.port}}}]`,
      ),
  );
  const strict = s.state.clusters.get('outbound|80||strict.example.test')!;
  const logical = s.state.clusters.get('outbound|80||logical.example.test')!;
  assert.equal(strict.cluster.dns, 'STRICT');
  assert.equal(logical.cluster.dns, 'LOGICAL');
  for (let i = 0; i < 200 && [strict, logical].some((c) => c.healthy[0]!.address === 'localhost'); i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    strict.healthy.map((e) => e.address),
    addrs,
  );
  assert.deepEqual(
    logical.healthy.map((e) => e.address),
    [addrs[0]],
  );
  const r = await get(s.port, 'strict.example.test');
  assert.deepEqual([r.status, r.body], [200, 'local']);
  assert.ok(s.log.at(-1)!.includes(`"${addrs[0]}:${srv.port}"`), s.log.at(-1));
  assert.equal((await get(s.port, 'logical.example.test')).body, 'local');
  assert.ok(s.log.at(-1)!.includes(`"${addrs[0]}:${srv.port}"`), s.log.at(-1));
});
