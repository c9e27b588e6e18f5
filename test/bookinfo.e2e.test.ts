// The demo mesh end to end: `weft up -f examples/bookinfo` with real processes, real mTLS between
// proxies, and Istio's own bookinfo YAML applied to it while it runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { RunningMesh, tempDir, waitFor, weft } from './support/weft.js';
import { fixture } from './support/paths.js';
import { certSpiffeId, verifyChain } from '../src/lib/spiffe.js';
import type { ProxySnapshot } from '../src/model/snapshot.js';

const INGRESS = 'http://127.0.0.1:8080';

async function reviewsVersion(headers: Record<string, string> = {}): Promise<string> {
  const res = await request(`${INGRESS}/productpage?format=json`, { headers });
  const body = (await res.body.json()) as { reviewsVersion: string | null };
  assert.equal(res.statusCode, 200);
  return String(body.reviewsVersion);
}

async function versions(n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(await reviewsVersion());
  return seen;
}

describe('bookinfo on weft up', { timeout: 180_000 }, () => {
  let mesh: RunningMesh;
  before(async () => {
    mesh = await RunningMesh.up(['examples/bookinfo']);
  });
  after(async () => {
    assert.equal(await mesh?.stop(), 0, 'weft up exits 0 on Ctrl-C');
  });

  test('prints a table of workloads and the ingress URL', () => {
    for (const w of [
      'productpage-v1-0.default',
      'reviews-v3-0.default',
      'istio-ingressgateway-0.istio-system',
    ])
      assert.match(mesh.output, new RegExp(`${w.replaceAll('.', '\\.')}\\s+\\S+\\s+✔ ready`));
    assert.match(mesh.output, /http:\/\/127\.0\.0\.1:8080/);
  });

  test('requests through the ingress reach every reviews version', async () => {
    const seen = await versions(12);
    assert.deepEqual([...seen].sort(), ['v1', 'v2', 'v3']);
  });

  test('the page itself renders through the ingress', async () => {
    const res = await request(`${INGRESS}/productpage`);
    const html = await res.body.text();
    assert.equal(res.statusCode, 200);
    assert.match(html, /Reviews served by: reviews-v\d/);
    assert.match(html, /data-details-version="v1"/);
  });

  test('the certificate between proxies carries the workload SPIFFE ID and chains to the mesh root', async () => {
    const reviews = await mesh.instance('reviews-v2-0.default');
    const root = await readFile(join(mesh.stateDir, 'ca', 'ca-cert.pem'), 'utf8');
    const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect({
        host: '127.0.0.1',
        port: reviews.ports!.inbound,
        servername: 'outbound_.9080_._.reviews.default.svc.cluster.local',
        rejectUnauthorized: false,
      });
      s.once('secureConnect', () => {
        resolve(s.getPeerCertificate());
        s.destroy();
      });
      s.once('error', reject);
    });
    assert.equal(certSpiffeId(cert), 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews');
    assert.ok(verifyChain(cert.raw, root), 'server certificate is signed by the mesh CA');
    // And the client side: reviews' proxy saw productpage's identity on the connection it accepted.
    await reviewsVersion();
    const line =
      /inbound "GET \/reviews\/0 HTTP\/1\.1" 200 - \d+ "spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage"/;
    await waitFor('the inbound line in a reviews access log (written in batches)', async () => {
      const logs = await Promise.all(
        ['reviews-v1-0', 'reviews-v2-0', 'reviews-v3-0'].map((r) =>
          readFile(join(mesh.stateDir, 'logs', `${r}.default.proxy.log`), 'utf8'),
        ),
      );
      return line.test(logs.join('\n'));
    });
  });

  // Istio's default is PERMISSIVE: with no PeerAuthentication, the inbound port answers mesh peers over
  // mTLS and non-mesh clients in plaintext (told apart by the first byte). STRICT is in security.e2e.
  test('PERMISSIVE by default: a plaintext client of a sidecar inbound port is answered', async () => {
    const reviews = await mesh.instance('reviews-v1-0.default');
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(reviews.ports!.inbound, '127.0.0.1', () =>
        s.write('GET /reviews/0 HTTP/1.1\r\nHost: reviews:9080\r\nConnection: close\r\n\r\n'),
      );
      let data = '';
      s.on('data', (d: Buffer) => (data += d.toString('latin1')));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    assert.match(answer, /HTTP\/1\.1 200/);
    assert.match(answer, /Reviewer1/);
  });

  test('a TLS client without a mesh certificate is refused', async () => {
    const reviews = await mesh.instance('reviews-v1-0.default');
    const outcome = await new Promise<string>((resolve) => {
      const s = tls.connect(
        {
          host: '127.0.0.1',
          port: reviews.ports!.inbound,
          rejectUnauthorized: false,
          servername: 'outbound_.9080_._.reviews.default.svc.cluster.local',
        },
        () => s.write('GET /reviews/0 HTTP/1.1\r\nHost: reviews\r\n\r\n'),
      );
      let data = '';
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('error', (e) => resolve(`error: ${e.message}`));
      s.on('close', () => resolve(data || 'closed'));
    });
    assert.doesNotMatch(outcome, /200 OK/);
  });

  test("Istio's destination-rule-all + virtual-service-reviews-v3 change the answers within seconds", async () => {
    const r = await mesh.weft([
      'apply',
      '-f',
      fixture('istio-bookinfo/destination-rule-all.yaml'),
      '-f',
      fixture('istio-bookinfo/virtual-service-reviews-v3.yaml'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /virtualservice\/reviews created/);
    await waitFor(
      'all answers from reviews v3',
      async () => {
        const seen = await versions(6);
        return seen.size === 1 && seen.has('v3');
      },
      10_000,
    );
    const status = await mesh.weft(['proxy-status', '-o', 'json']);
    const rows = JSON.parse(status.stdout) as Array<{ id: string; served: string; acked: string }>;
    assert.ok(rows.length >= 7);
    for (const row of rows) assert.equal(row.acked, row.served, `${row.id} acknowledged its config`);
  });

  test('weft describe shows what applies to a service and a workload', async () => {
    const svc = await mesh.weft(['describe', 'svc', 'reviews', '-o', 'json']);
    assert.equal(svc.code, 0, svc.stderr);
    const d = JSON.parse(svc.stdout) as {
      endpoints: Array<{ instance: string; ready: boolean; identity: string }>;
      virtualServices: string[];
      destinationRule: { subsets: string[] };
    };
    assert.deepEqual(d.endpoints.map((e) => e.instance).sort(), [
      'reviews-v1-0.default',
      'reviews-v2-0.default',
      'reviews-v3-0.default',
    ]);
    assert.ok(
      d.endpoints.every(
        (e) => e.ready && e.identity === 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
      ),
    );
    assert.deepEqual(d.virtualServices, ['default/reviews (mesh)']);
    assert.equal(d.destinationRule.subsets.length, 3);
    const wl = await mesh.weft(['describe', 'workload', 'productpage-v1']);
    assert.equal(wl.code, 0, wl.stderr);
    assert.match(wl.stdout, /identity: spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage/);
    assert.match(wl.stdout, /productpage\.default\.svc\.cluster\.local/);
    assert.match(wl.stdout, /"config":"SYNCED/);
    const missing = await mesh.weft(['describe', 'svc', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no Service default\/nope[\s\S]*weft get svc/);
  });

  test('weft check passes on the healthy mesh, and says what to do when the mesh is gone', async () => {
    const ok = await mesh.weft(['check']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /√ productpage-v1-0\.default: config SYNCED/);
    assert.match(ok.stdout, /√ reviews-v1-0\.default: certificate valid until/);
    const gone = await weft(['--addr', '127.0.0.1:1', 'check']);
    assert.equal(gone.code, 1);
    assert.match(gone.stdout, /× control plane answers[\s\S]*hint: start the mesh/);
  });

  test('an invalid file is rejected with file:line and the running config stays', async () => {
    const dir = await tempDir();
    const file = join(dir, 'bad-weights.yaml');
    await writeFile(
      file,
      [
        'apiVersion: networking.istio.io/v1',
        'kind: VirtualService',
        'metadata:',
        '  name: reviews',
        'spec:',
        '  hosts: [reviews]',
        '  http:',
        '  - route:',
        '    - destination: {host: reviews, subset: v1}',
        '      weight: 150',
        '',
      ].join('\n'),
    );
    const r = await mesh.weft(['apply', '-f', file]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`${file.replaceAll('.', '\\.')}:10: .*spec\\.http\\[0\\]\\.route\\[0\\]\\.weight`),
    );
    assert.match(r.stderr, /unchanged/);
    const got = await mesh.weft(['get', 'vs', 'reviews', '-o', 'json']);
    const vs = JSON.parse(got.stdout) as {
      spec: { http: Array<{ route: Array<{ destination: { subset: string } }> }> };
    };
    assert.equal(vs.spec.http[0]!.route[0]!.destination.subset, 'v3');
    assert.deepEqual([...(await versions(4))], ['v3']);
  });

  test('a gateway that cannot apply a snapshot NACKs it and keeps serving the last good one', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    const dir = await tempDir();
    const file = join(dir, 'gw.yaml');
    await writeFile(
      file,
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: blocked-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: http, protocol: HTTP}
    hosts: ["*"]
`,
    );
    try {
      assert.equal((await mesh.weft(['apply', '-f', file])).code, 0);
      const row = await waitFor('a NACK from the ingress gateway', async () => {
        const rows = JSON.parse((await mesh.weft(['proxy-status', '-o', 'json'])).stdout) as Array<{
          id: string;
          nack?: { reason: string };
        }>;
        return rows.find((x) => x.id.startsWith('istio-ingressgateway') && x.nack);
      });
      assert.match(row.nack!.reason, /EADDRINUSE/);
      assert.equal(await reviewsVersion(), 'v3', 'the ingress still serves with its previous config');
      assert.match((await mesh.weft(['proxy-status'])).stdout, /STALE \(NACK\)/);
    } finally {
      await mesh.weft(['delete', '-f', file]);
      blocker.close();
    }
  });

  test('killing a workload process removes it from the endpoints', async () => {
    assert.equal((await mesh.weft(['delete', 'vs', 'reviews'])).code, 0);
    await waitFor('round robin again', async () => (await versions(6)).size === 3, 10_000);
    const v1 = await mesh.instance('reviews-v1-0.default');
    process.kill(v1.appPid!, 'SIGKILL');
    await waitFor(
      'reviews-v1 to leave productpage endpoints',
      async () => {
        const r = await mesh.weft(['proxy-config', 'productpage-v1-0.default', 'endpoints', '-o', 'json']);
        const clusters = JSON.parse(r.stdout) as Array<{
          cluster: string;
          endpoints: ProxySnapshot['clusters'][0]['endpoints'];
        }>;
        const reviews = clusters.find(
          (c) => c.cluster === 'outbound|9080||reviews.default.svc.cluster.local',
        );
        return (
          reviews &&
          reviews.endpoints.length === 2 &&
          !reviews.endpoints.some((e) => e.instance.startsWith('reviews-v1'))
        );
      },
      10_000,
    );
    const seen = await versions(10);
    assert.ok(!seen.has('v1'), `no answer from the dead v1 (saw ${[...seen].join(',')})`);
    assert.equal((await mesh.instance('reviews-v1-0.default')).state, 'exited');
    assert.match(mesh.output, /reviews-v1-0\.default exited/);
  });
});
