// Egress in one process: Istio YAML compiled into a sidecar's snapshot, applied to a real outbound
// listener, and requests sent through it to real servers on 127.0.0.1 standing in for hosts outside the
// mesh. Covers meshConfig.outboundTrafficPolicy (REGISTRY_ONLY: 502 NR and BlackHoleCluster in the
// metrics; ALLOW_ANY: passthrough for HTTP and CONNECT), TLS origination from a DestinationRule (SIMPLE
// with SNI and a CA file, a wrong CA, subjectAltNames, insecureSkipVerify, MUTUAL from a Secret), and
// how the egress gateway's Service and endpoints compile.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseDocuments } from '../../config/load.js';
import { formatProblem, type Resource } from '../../config/types.js';
import { MeshIndex, type InstanceView } from '../../config/compile/inputs.js';
import { compileSnapshot } from '../../config/compile/snapshot.js';
import type { ProxyIdentity, ProxySnapshot } from '../../model/snapshot.js';
import { ProxyState } from '../state.js';
import { createRoutedHandlers, routedServer } from '../listeners/outbound.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import { ProxyMetrics } from '../telemetry/metrics.js';
import { httpRequests, type RequestRecord } from '../telemetry/events.js';
import { compileWeftLine } from '../telemetry/access-log/format.js';
import { builtinResources } from '../../local/builtins.js';
import { testCa, testLeaf, type TestCa, type TestCert } from '../listeners/gateway-testing.js';

const FLAGS = 'x-weft-response-flags';
const CLIENT: ProxyIdentity = {
  id: 'client-0.default',
  workload: 'client',
  namespace: 'default',
  serviceAccount: 'client',
  spiffeId: 'spiffe://cluster.local/ns/default/sa/client',
  labels: { app: 'client' },
  kind: 'sidecar',
};

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

function snapshotFor(
  resources: Resource[],
  proxy: ProxyIdentity = CLIENT,
  instances: InstanceView[] = [],
): ProxySnapshot {
  return { version: 'test', ...compileSnapshot(new MeshIndex(resources, instances), proxy) };
}

interface Sidecar {
  port: number;
  log: string[];
  state: ProxyState;
}

/** A sidecar's outbound listener on 127.0.0.1:0 running the compiled snapshot. */
async function sidecar(t: TestContext, yaml: string): Promise<Sidecar> {
  const state = new ProxyState(snapshotFor(parse(yaml)));
  const log: string[] = [];
  const identity = { clientContext: undefined } as unknown as WorkloadIdentity;
  const handlers = createRoutedHandlers(
    { identity, state: () => state, log: (l) => log.push(l) },
    'outbound',
  );
  const server = routedServer(handlers, () => state.outbound);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  // Weft's access log line, as the proxy writes it (a subscriber of the request records).
  const line = compileWeftLine('client');
  const onRecord = (m: unknown) => log.push(line(m as RequestRecord));
  httpRequests.subscribe(onRecord);
  t.after(() => httpRequests.unsubscribe(onRecord));
  return { port: (server.address() as AddressInfo).port, log, state };
}

interface Seen {
  host: string;
  path: string;
  sni?: string;
  clientCn?: string;
  encrypted: boolean;
}

/** A server outside the mesh: plain HTTP, or HTTPS (optionally asking for a client certificate). */
async function external(
  t: TestContext,
  tlsOpts?: { cert: TestCert; clientCa?: TestCa },
): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const s = req.socket as TLSSocket;
    const peer = s.encrypted ? s.getPeerCertificate() : undefined;
    const entry: Seen = {
      host: String(req.headers.host),
      path: req.url ?? '',
      encrypted: s.encrypted === true,
      ...(s.encrypted && typeof s.servername === 'string' ? { sni: s.servername } : {}),
      ...(peer?.subject?.CN ? { clientCn: String(peer.subject.CN) } : {}),
    };
    seen.push(entry);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(entry));
  };
  const server = tlsOpts
    ? https.createServer(
        {
          cert: tlsOpts.cert.certPem,
          key: tlsOpts.cert.keyPem,
          ...(tlsOpts.clientCa
            ? { ca: tlsOpts.clientCa.certPem, requestCert: true, rejectUnauthorized: true }
            : {}),
        },
        handler,
      )
    : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

interface Reply {
  status: number;
  flags: string;
  body: string;
}

function get(port: number, host: string, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, flags: String(res.headers[FLAGS] ?? ''), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const MESH_CONFIG = (mode: string) => `
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  outboundTrafficPolicy: {mode: ${mode}}
---`;

const ENTRY = (host: string, port: number) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.split('.')[0]}}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${port}}}]
---`;

// ---- compile ---------------------------------------------------------------------------------------

test('outboundTrafficPolicy reaches sidecar snapshots: ALLOW_ANY by default, REGISTRY_ONLY when set', () => {
  assert.equal(snapshotFor([]).outbound.policy, 'ALLOW_ANY');
  assert.equal(snapshotFor(parse(MESH_CONFIG('REGISTRY_ONLY'))).outbound.policy, 'REGISTRY_ONLY');
  const gateway = { ...CLIENT, id: 'gw-0.istio-system', kind: 'gateway' as const };
  assert.equal(snapshotFor(parse(MESH_CONFIG('REGISTRY_ONLY')), gateway).outbound.policy, undefined);
});

// Istio's "Egress TLS Origination" task, with a made-up host: port 80 goes to 443 by targetPort and
// the DestinationRule's port-level setting originates TLS there; port 443 stays as it is.
const ORIGINATION = (target: number, extra = '') => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports:
  - {number: 80, name: http-port, protocol: HTTP, targetPort: ${target}}
  - {number: 443, name: https-port, protocol: HTTPS}
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-tls-for-api}
spec:
  host: api.example.test
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls:
        mode: SIMPLE
        sni: api.example.test
${extra}
`;

test('DestinationRule SIMPLE on a ServiceEntry port: TLS origination toward the targetPort', () => {
  const snap = snapshotFor(parse(ORIGINATION(8443, '        caCertificates: /etc/ca.pem')));
  const c80 = snap.clusters.find((c) => c.name === 'outbound|80||api.example.test')!;
  assert.deepEqual(c80.originateTls, {
    mode: 'SIMPLE',
    sni: 'api.example.test',
    caCertificates: { file: '/etc/ca.pem' },
  });
  assert.equal(c80.external, true);
  assert.deepEqual(
    c80.endpoints.map((e) => `${e.address}:${e.port}`),
    ['127.0.0.1:8443'],
  );
  const c443 = snap.clusters.find((c) => c.name === 'outbound|443||api.example.test')!;
  assert.equal(c443.originateTls, undefined, 'port 443 is not originated (the app speaks TLS itself)');
});

test('MUTUAL: client certificate from files, from a Secret (credentialName), or a clear error', () => {
  const dr = (tls: string) =>
    parse(`${ENTRY('api.example.test', 9)}
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: default}
spec:
  host: api.example.test
  trafficPolicy:
    tls: ${tls}
---
apiVersion: v1
kind: Secret
metadata: {name: client-credential, namespace: default}
type: generic
stringData: {tls.crt: CERT, tls.key: KEY, ca.crt: CA}
`);
  const tlsOf = (tls: string) =>
    snapshotFor(dr(tls)).clusters.find((c) => c.name === 'outbound|80||api.example.test')!.originateTls;
  assert.deepEqual(tlsOf('{mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}'), {
    mode: 'MUTUAL',
    sni: 'api.example.test',
    clientCertificate: { file: '/c.pem' },
    privateKey: { file: '/k.pem' },
  });
  assert.deepEqual(tlsOf('{mode: MUTUAL, credentialName: client-credential, sni: other.test}'), {
    mode: 'MUTUAL',
    sni: 'other.test',
    caCertificates: { pem: 'CA' },
    clientCertificate: { pem: 'CERT' },
    privateKey: { pem: 'KEY' },
  });
  assert.match(tlsOf('{mode: MUTUAL}')!.error!, /needs clientCertificate and privateKey/);
  assert.match(tlsOf('{mode: MUTUAL, credentialName: nope}')!.error!, /Secret default\/nope not found/);
  assert.equal(tlsOf('{mode: DISABLE}'), undefined);
});

// Istio's "Egress Gateways" task (mutual TLS to the gateway), with a made-up host.
const EGRESS = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [api.example.test]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-api}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: api
    trafficPolicy:
      portLevelSettings:
      - port: {number: 443}
        tls: {mode: ISTIO_MUTUAL, sni: api.example.test}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-api-through-egress-gateway}
spec:
  hosts: [api.example.test]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: api, port: {number: 443}}}]
  - match: [{gateways: [istio-egressgateway], port: 443}]
    route: [{destination: {host: api.example.test, port: {number: 80}}}]
`;

test('egress gateway: weft up adds it and its Service; sidecars reach it over ISTIO_MUTUAL with the rule SNI', () => {
  const user = parse(EGRESS);
  const added = builtinResources(user);
  assert.deepEqual(
    added.map((r) => `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`),
    [
      'Workload/istio-system/istio-ingressgateway',
      'Workload/istio-system/istio-egressgateway',
      'Service/istio-system/istio-egressgateway',
    ],
  );
  assert.equal(builtinResources(parse(ENTRY('a.test', 1))).length, 1, 'no egress gateway unless selected');
  const gw: InstanceView = {
    id: 'istio-egressgateway-0.istio-system',
    workload: 'istio-egressgateway',
    namespace: 'istio-system',
    labels: { istio: 'egressgateway', app: 'istio-egressgateway' },
    spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account',
    kind: 'gateway',
    address: '127.0.0.1',
    inboundPort: 0,
    ready: true,
  };
  const snap = snapshotFor([...user, ...added], CLIENT, [gw]);
  const viaGw = snap.clusters.find(
    (c) => c.name === 'outbound|443|api|istio-egressgateway.istio-system.svc.cluster.local',
  )!;
  assert.equal(viaGw.sni, 'api.example.test');
  assert.deepEqual(viaGw.endpoints, [
    {
      address: '127.0.0.1',
      port: 443,
      identity: gw.spiffeId,
      instance: gw.id,
      labels: gw.labels,
      healthy: true,
    },
  ]);
  const plain = snap.clusters.find(
    (c) => c.name === 'outbound|443||istio-egressgateway.istio-system.svc.cluster.local',
  )!;
  assert.equal(plain.endpoints[0]!.plaintext, true, 'no auto mTLS to gateways (Istio)');
  // The sidecar routes the external host to the gateway; the gateway routes it out.
  const vh = snap.outbound.virtualHosts.find((v) => v.name === 'api.example.test:80')!;
  const a = vh.routes[0]!.action;
  assert.equal(a.kind === 'forward' && a.clusters[0]!.cluster, viaGw.name);
  const gwSnap = snapshotFor(
    [...user, ...added],
    { ...CLIENT, ...gw, serviceAccount: 'x', kind: 'gateway' },
    [gw],
  );
  const listener = gwSnap.gateways.find((l) => l.port === 443)!;
  const out = listener.virtualHosts.flatMap((v) => v.routes).map((r) => r.action);
  assert.ok(
    out.some((x) => x.kind === 'forward' && x.clusters[0]!.cluster === 'outbound|80||api.example.test'),
  );
});

// ---- the outbound listener -----------------------------------------------------------------------

test('a ServiceEntry host with a dot is a name of its own: api.bench is not expanded to api.bench.svc.cluster.local', async (t) => {
  const ext = await external(t);
  const s = await sidecar(
    t,
    ENTRY('api.bench', ext.port) +
      `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-bench}
spec:
  hosts: [api.bench]
  http: [{route: [{destination: {host: api.bench}}], headers: {request: {set: {x-routed: vs}}}}]
`,
  );
  assert.ok(s.state.clusters.has('outbound|80||api.bench'), [...s.state.clusters.keys()].join(' '));
  const r = await get(s.port, 'api.bench', '/x');
  assert.equal(r.status, 200, r.body);
  assert.equal(ext.seen.at(-1)?.host, 'api.bench');
});

test('REGISTRY_ONLY: an unknown host is 502 NR (BlackHoleCluster), a ServiceEntry host works', async (t) => {
  const ext = await external(t);
  const s = await sidecar(t, MESH_CONFIG('REGISTRY_ONLY') + ENTRY('api.example.test', ext.port));
  const metrics = new ProxyMetrics({ state: () => s.state });
  metrics.start();
  t.after(() => metrics.stop());
  const ok = await get(s.port, 'api.example.test', '/ok');
  assert.equal(ok.status, 200);
  assert.equal(ext.seen.at(-1)?.host, 'api.example.test');
  // The server is right there, but not by that name: blocked.
  const blocked = await get(s.port, `127.0.0.1:${ext.port}`, '/blocked');
  assert.equal(blocked.status, 502);
  assert.equal(blocked.flags, 'NR');
  assert.match(blocked.body, /REGISTRY_ONLY/);
  assert.equal(ext.seen.length, 1, 'nothing reached the server');
  assert.match(s.log.at(-1)!, / 502 NR .*BlackHoleCluster block_all$/);
  const text = metrics.render('text');
  assert.match(
    text,
    /istio_requests_total\{[^}]*destination_service_name="BlackHoleCluster"[^}]*response_code="502"[^}]*response_flags="NR"[^}]*\} 1/,
  );
});

test('ALLOW_ANY: unknown hosts pass through (HTTP and CONNECT); a name that does not resolve is 404 NR', async (t) => {
  const ext = await external(t);
  const s = await sidecar(t, MESH_CONFIG('ALLOW_ANY'));
  const r = await get(s.port, `localhost:${ext.port}`, '/through?x=1');
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), {
    host: `localhost:${ext.port}`,
    path: '/through?x=1',
    encrypted: false,
  });
  assert.match(s.log.at(-1)!, / 200 - .*PassthroughCluster allow_any$/);
  const nx = await get(s.port, 'no-such-host.invalid', '/');
  assert.equal(nx.status, 404);
  assert.equal(nx.flags, 'NR');
  assert.match(nx.body, /does not resolve/);
  const loop = await get(s.port, `127.0.0.1:${s.port}`, '/');
  assert.equal(loop.status, 404, 'a request naming the proxy itself does not loop');
  // CONNECT to any host:port is tunneled.
  const answer = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(s.port, '127.0.0.1', () =>
      sock.write(
        `CONNECT 127.0.0.1:${ext.port} HTTP/1.1\r\nHost: 127.0.0.1:${ext.port}\r\n\r\n` +
          `GET /tunneled HTTP/1.1\r\nHost: inside\r\nConnection: close\r\n\r\n`,
      ),
    );
    let d = '';
    sock.on('data', (c: Buffer) => (d += c.toString()));
    sock.on('close', () => resolve(d));
    sock.on('error', reject);
  });
  assert.match(answer, /^HTTP\/1\.1 200 Connection Established/);
  assert.match(answer, /"path":"\/tunneled"/);
});

test('TLS origination: plain HTTP from the app, HTTPS with the SNI and CA of the DestinationRule', async (t) => {
  const ca = await testCa('External CA');
  const other = await testCa('Some Other CA');
  const clientCa = await testCa('Client CA');
  const cert = await testLeaf(ca, { cn: 'api.example.test', dns: ['api.example.test'] });
  const dir = await mkdtemp(join(tmpdir(), 'weft-egress-'));
  const files = {
    ca: join(dir, 'ca.pem'),
    other: join(dir, 'other.pem'),
    cert: join(dir, 'c.pem'),
    key: join(dir, 'k.pem'),
  };
  const client = await testLeaf(clientCa, { cn: 'weft-client', client: true });
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.other, other.certPem);
  await writeFile(files.cert, client.certPem);
  await writeFile(files.key, client.keyPem);
  const ext = await external(t, { cert });

  const good = await sidecar(t, ORIGINATION(ext.port, `        caCertificates: ${files.ca}`));
  const r = await get(good.port, 'api.example.test', '/get');
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), {
    host: 'api.example.test',
    path: '/get',
    sni: 'api.example.test',
    encrypted: true,
  });

  const wrongCa = await sidecar(t, ORIGINATION(ext.port, `        caCertificates: ${files.other}`));
  const bad = await get(wrongCa.port, 'api.example.test', '/get');
  assert.equal(bad.status, 503);
  assert.equal(bad.flags, 'UF');
  assert.ok(
    wrongCa.log.some((l) =>
      /TLS origination to 127\.0\.0\.1:\d+ .*failed: .*\[(UNABLE_TO|SELF_SIGNED|ERR_TLS)/.test(l),
    ),
    wrongCa.log.join('\n'),
  );

  const wrongName = await sidecar(
    t,
    ORIGINATION(
      ext.port,
      `        caCertificates: ${files.ca}\n        subjectAltNames: [other.example.test]`,
    ),
  );
  assert.equal((await get(wrongName.port, 'api.example.test')).status, 503);

  const skip = await sidecar(
    t,
    ORIGINATION(ext.port, `        caCertificates: ${files.other}\n        insecureSkipVerify: true`),
  );
  assert.equal((await get(skip.port, 'api.example.test')).status, 200);

  const missing = await sidecar(t, ORIGINATION(ext.port, `        caCertificates: ${join(dir, 'nope.pem')}`));
  const m = await get(missing.port, 'api.example.test');
  assert.equal(m.status, 503);
  assert.equal(m.flags, 'UF');
  assert.ok(
    missing.log.some((l) => /cannot read caCertificates/.test(l)),
    missing.log.join('\n'),
  );

  // MUTUAL: the server asks for a client certificate and sees the one the rule names.
  const mtlsServer = await external(t, { cert, clientCa });
  const mutual = await sidecar(
    t,
    ORIGINATION(mtlsServer.port, `        caCertificates: ${files.ca}`).replace(
      'mode: SIMPLE',
      `mode: MUTUAL\n        clientCertificate: ${files.cert}\n        privateKey: ${files.key}`,
    ),
  );
  const mr = await get(mutual.port, 'api.example.test', '/mtls');
  assert.equal(mr.status, 200, mr.body);
  assert.equal((JSON.parse(mr.body) as Seen).clientCn, 'weft-client');
});
