// The Kubernetes Gateway API conformance cases, live: upstream's own manifests on a real `weft up` mesh,
// real requests, the expectations transcribed from conformance/tests/*.go.
//
//  - Infrastructure: ../shared/fixtures/gateway-api/base-manifests.yaml + mesh/mesh-manifests.yaml, with
//    each Deployment turned into a Weft Workload running our echo server and each Gateway listener moved
//    from port 80/443 to a free port (test/support/conformance.ts). One mesh for the whole file.
//  - Gateway cases: ../shared/fixtures/gateway-api-cases.json. Per case: `weft apply -f` its manifest
//    (a copy with moved ports when it brings its own Gateway), wait until the ingress ACKs the new config,
//    send each request to the Gateway's listener on 127.0.0.1 and compare (support/conformance.ts
//    `differences`), then `weft delete -f`.
//  - GAMMA mesh cases: ../shared/fixtures/gateway-api/mesh/*.yaml, routes whose parentRef is a Service;
//    requests go from a mesh client's sidecar outbound listener (an adopted Workload in the client's
//    namespace, as upstream execs into an echo pod), expectations from conformance/tests/mesh/*.go.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { request } from 'undici';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { upWithRetry } from './support/mesh-start.js';
import { fixture } from './support/paths.js';
import { changeConfig } from './support/config-sync.js';
import {
  differences,
  moveGatewayPorts,
  readDocs,
  referencedServices,
  toYaml,
  weftManifests,
  type Captured,
  type CaseExpected,
  type CaseRequest,
  type ConformanceCase,
  type EchoBody,
  type PortMap,
} from './support/conformance.js';
import { freePort } from '../src/local/ports.js';

const INFRA_NS = 'gateway-conformance-infra';
const MESH_NS = 'gateway-conformance-mesh';
const CONSUMER_NS = 'gateway-conformance-mesh-consumer';
const INGRESS = 'istio-ingressgateway-0.istio-system';
const MESH_CLIENT = `mesh-client-0.${MESH_NS}`;
const CONSUMER_CLIENT = `consumer-client-0.${CONSUMER_NS}`;

const WEIGHT_REQUESTS = 500; // as conformance/utils/weight: 500 requests, 10 at a time, +-5%
const WEIGHT_TOLERANCE = 0.05;
const CONSISTENCY_MS = 3000; // how long one request may take to converge once the config is ACKed

const cases = (
  JSON.parse(await readFile(fixture('gateway-api-cases.json'), 'utf8')) as { cases: ConformanceCase[] }
).cases;

/**
 * Requests where Weft is known to disagree with the spec, keyed "<case> #<request index>" (or the case
 * name for a whole-case test such as weights). Each stays a real assertion, reported as todo.
 */
const KNOWN_BUGS: Record<string, string> = {};

// ---- GAMMA (mesh) -------------------------------------------------------------------------------
// Expectations from conformance/tests/mesh/*.go. The client is in gateway-conformance-mesh unless
// said otherwise; a Host without a port means the Service's HTTP port 80. Upstream's MeshFrontend also
// sends to the echo-v2 pod IP (no route applies); local mode has no pod IPs, so that request is left out.
interface MeshRequest {
  from?: 'mesh' | 'consumer';
  host: string;
  path?: string;
  headers?: Record<string, string>;
  backend: string;
  responseHeaders?: Record<string, string>;
  absentHeaders?: string[];
}
interface MeshCase {
  test: string;
  manifest: string;
  requests: MeshRequest[];
  weights?: Record<string, number>;
}
const meshCases: MeshCase[] = [
  {
    test: 'MeshHTTPRouteMatching',
    manifest: 'gateway-api/mesh/httproute-matching.yaml',
    requests: [
      { host: 'echo', path: '/', backend: 'echo-v1' },
      { host: 'echo', path: '/example', backend: 'echo-v1' },
      { host: 'echo', path: '/', headers: { Version: 'one' }, backend: 'echo-v1' },
      { host: 'echo', path: '/v2', backend: 'echo-v2' },
      { host: 'echo', path: '/v2/example', backend: 'echo-v2' },
      { host: 'echo', path: '/', headers: { Version: 'two' }, backend: 'echo-v2' },
      { host: 'echo', path: '/v2/', backend: 'echo-v2' },
      { host: 'echo', path: '/v2example', backend: 'echo-v1' },
      { host: 'echo', path: '/foo/v2/example', backend: 'echo-v1' },
    ],
  },
  {
    test: 'MeshHTTPRouteWeight',
    manifest: 'gateway-api/mesh/httproute-weight.yaml',
    requests: [],
    weights: { 'echo-v1': 0.7, 'echo-v2': 0.3 },
  },
  {
    test: 'MeshConsumerRoute',
    manifest: 'gateway-api/mesh/mesh-consumer-route.yaml',
    requests: [
      {
        from: 'consumer',
        host: `echo-v1.${MESH_NS}`,
        backend: 'echo-v1',
        responseHeaders: { 'X-Header-Set': 'set' },
      },
      { from: 'mesh', host: `echo-v1.${MESH_NS}`, backend: 'echo-v1', absentHeaders: ['X-Header-Set'] },
    ],
  },
  {
    test: 'MeshFrontend',
    manifest: 'gateway-api/mesh/mesh-frontend.yaml',
    requests: [{ host: 'echo-v2', backend: 'echo-v2', responseHeaders: { 'X-Header-Set': 'set' } }],
  },
  {
    test: 'MeshPorts',
    manifest: 'gateway-api/mesh/mesh-ports.yaml',
    requests: [
      { host: 'echo-v1', backend: 'echo-v1', responseHeaders: { 'X-Header-Set': 'v1' } },
      { host: 'echo-v1:8080', backend: 'echo-v1', absentHeaders: ['X-Header-Set'] },
      { host: 'echo-v2', backend: 'echo-v2', responseHeaders: { 'X-Header-Set': 'v2' } },
      { host: 'echo-v2:8080', backend: 'echo-v2', responseHeaders: { 'X-Header-Set': 'v2' } },
    ],
  },
  {
    test: 'MeshTrafficSplit',
    manifest: 'gateway-api/mesh/mesh-split.yaml',
    requests: [
      { host: 'echo', path: '/v1', backend: 'echo-v1' },
      { host: 'echo', path: '/v2', backend: 'echo-v2' },
    ],
  },
];

interface Target {
  port: number; // where to connect: a Gateway listener or a sidecar outbound listener
}

async function send(
  target: Target,
  req: CaseRequest,
  extraHeaders: Record<string, string> = {},
): Promise<Captured> {
  // No host in the case: the Gateway's address, which undici sends as 127.0.0.1:<port>.
  const host = req.host;
  const res = await request(`http://127.0.0.1:${target.port}${req.path}`, {
    method: req.method as 'GET',
    headers: { ...req.headers, ...extraHeaders, ...(host ? { host } : {}) },
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
  });
  const text = await res.body.text();
  let echo: EchoBody | undefined;
  try {
    const v = JSON.parse(text) as Partial<EchoBody>;
    if (typeof v.pod === 'string') echo = v as EchoBody;
  } catch {
    echo = undefined;
  }
  return { status: res.statusCode, headers: res.headers, echo };
}

/** The request as the echo backend is asked to shape its response (backendSetResponseHeaders). */
function echoSetHeader(exp: CaseExpected): Record<string, string> {
  const set = exp.backendSetResponseHeaders;
  if (!set) return {};
  return {
    'X-Echo-Set-Header': Object.entries(set)
      .map(([k, v]) => `${k}:${v}`)
      .join(','),
  };
}

describe('Gateway API conformance on weft up', { timeout: 300_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let ports: PortMap;
  const outbound = { mesh: 0, consumer: 0 };

  /**
   * Apply, then wait until `watch` ACKed the new config (see support/config-sync.ts). Each request test
   * asserts it did: otherwise an expected 404 would pass without the route ever being there.
   */
  async function change(args: string[], watch: string[]): Promise<boolean> {
    return changeConfig(mesh, args, watch);
  }

  /** Send one case request until it conforms (eventual consistency) or CONSISTENCY_MS pass. */
  async function expectConverges(target: Target, req: CaseRequest, exp: CaseExpected) {
    const deadline = Date.now() + CONSISTENCY_MS;
    let problems: string[] = [];
    for (;;) {
      try {
        problems = differences(req, exp, await send(target, req, echoSetHeader(exp)), target.port);
      } catch (e) {
        problems = [`request failed: ${(e as Error).message}`];
      }
      if (problems.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.deepEqual(problems, [], `${req.method} ${req.host ?? '(gateway address)'} ${req.path}`);
  }

  /**
   * Send WEIGHT_REQUESTS requests, 10 at a time, and check each backend's share. As upstream
   * (conformance/utils/weight), a run outside the tolerance is tried again (here up to 3 runs): a fair
   * 70/30 split misses +-5% of 500 in about 1.5% of runs. Answers from elsewhere, or any answer from a
   * weight-0 backend, fail at once.
   */
  async function expectWeights(
    target: Target,
    req: CaseRequest,
    weights: Record<string, number>,
    t: TestContext,
  ) {
    let last = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      const counts = new Map<string, number>();
      let next = 0;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (next < WEIGHT_REQUESTS) {
            next++;
            const r = await send(target, req);
            const backend =
              Object.keys(weights).find((b) => r.echo?.pod.startsWith(b)) ??
              r.echo?.pod ??
              `status ${r.status}`;
            counts.set(backend, (counts.get(backend) ?? 0) + 1);
          }
        }),
      );
      const shares = Object.fromEntries([...counts].map(([b, n]) => [b, n / WEIGHT_REQUESTS]));
      last = `run ${attempt}: ${JSON.stringify(shares)}`;
      t.diagnostic(last);
      for (const b of counts.keys())
        assert.ok(b in weights, `request answered by ${b}, not one of ${Object.keys(weights)}: ${last}`);
      for (const [b, w] of Object.entries(weights))
        if (w === 0) assert.equal(shares[b] ?? 0, 0, `${b} has weight 0: ${last}`);
      const off = Object.entries(weights).filter(
        ([b, w]) => Math.abs((shares[b] ?? 0) - w) > WEIGHT_TOLERANCE,
      );
      if (off.length === 0) return;
    }
    assert.fail(
      `shares not within +-5% of ${JSON.stringify(weights)} in 3 runs of ${WEIGHT_REQUESTS}; ${last}`,
    );
  }

  /** Lines in the inbound access logs of a workload's instances that show `method path`. */
  async function inboundHits(workload: string, namespace: string, method: string, path: string) {
    const instances = (await mesh.instances()).filter(
      (i) => i.workload === workload && i.namespace === namespace,
    );
    const needle = `inbound "${method} ${path} HTTP/1.1"`;
    let n = 0;
    for (const i of instances) {
      const log = await readFile(i.logs.proxy, 'utf8').catch(() => '');
      n += log.split('\n').filter((l) => l.includes(needle)).length;
    }
    return n;
  }

  before(async () => {
    dir = await tempDir('weft-gateway-api-');
    // Workloads for the Deployments behind the Services the cases route or mirror to (infra-backend-v1..3,
    // echo-v1/v2): 11 instances instead of 30 keeps start-up short on a small machine.
    const routes = await Promise.all(
      [...cases.map((c) => c.manifest), ...meshCases.map((c) => c.manifest)].map((m) => readDocs(fixture(m))),
    );
    const infra = await weftManifests(
      [fixture('gateway-api/base-manifests.yaml'), fixture('gateway-api/mesh/mesh-manifests.yaml')],
      dir,
      'infra.yaml',
      { backends: referencedServices(routes.flat()) },
    );
    ports = infra.ports;
    outbound.mesh = await freePort();
    outbound.consumer = await freePort();
    // The mesh clients: upstream execs into the echo-v1 pod of each namespace; here an adopted workload
    // in that namespace whose sidecar outbound listener the test talks to.
    const clients = join(dir, 'clients.yaml');
    await writeFile(
      clients,
      [
        ['mesh-client', MESH_NS, outbound.mesh],
        ['consumer-client', CONSUMER_NS, outbound.consumer],
      ]
        .map(
          ([name, ns, port]) => `apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${name}}}
spec:
  serviceAccount: ${name}
  sidecar: {outboundPort: ${port}}
`,
        )
        .join('---\n'),
    );
    ({ mesh } = await upWithRetry([infra.file, clients], ['--ready-timeout', '90']));
  });

  after(async () => {
    await mesh?.stop();
  });

  test('every generated workload is ready and the Gateways listen on their moved ports', async () => {
    const instances = await mesh.instances();
    const notReady = instances.filter((i) => !['ready', 'running'].includes(i.state));
    assert.deepEqual(
      notReady.map((i) => `${i.id}: ${i.state} ${i.detail ?? ''}`),
      [],
    );
    for (const w of ['infra-backend-v1', 'infra-backend-v2', 'infra-backend-v3'])
      assert.ok(instances.some((i) => i.workload === w && i.namespace === INFRA_NS && i.state === 'ready'));
    const port = ports.get(`${INFRA_NS}/same-namespace`)!;
    assert.match(mesh.output, new RegExp(`same-namespace:${port}: http://127\\.0\\.0\\.1:${port}`));
  });

  for (const c of cases) {
    describe(c.test, () => {
      let manifest: string;
      let target: Target;
      let synced = false;

      before(async () => {
        // A manifest that brings its own Gateway is applied as a copy with the listener ports moved.
        manifest = fixture(c.manifest);
        const docs = await readDocs(manifest);
        if (docs.some((d) => d.kind === 'Gateway')) {
          await moveGatewayPorts(docs, ports);
          manifest = join(dir, basename(c.manifest));
          await writeFile(manifest, toYaml(docs));
        }
        synced = await change(['apply', '-f', manifest], [INGRESS]);
        const port = ports.get(`${INFRA_NS}/${c.gateway}`);
        assert.ok(port, `gateway ${INFRA_NS}/${c.gateway} is known`);
        target = { port };
      });

      after(async () => {
        await mesh.weft(['delete', '-f', manifest]);
      });

      c.requests.forEach(({ request: req, expected: exp }, i) => {
        const name = `#${i} ${req.method} ${req.host ?? ''}${req.path}${
          Object.keys(req.headers).length ? ` ${JSON.stringify(req.headers)}` : ''
        } -> ${exp.status}${exp.backend ? ` ${exp.backend}` : ''}`;
        const todo = KNOWN_BUGS[`${c.test} #${i}`] ?? KNOWN_BUGS[c.test];
        test(name, todo ? { todo } : {}, async (t) => {
          assert.ok(synced, `the ingress was served and ACKed ${c.manifest}`);
          if (exp.expectedWeights) {
            await expectConverges(target, req, { ...exp, backend: null });
            await expectWeights(target, req, exp.expectedWeights, t);
            return;
          }
          const mirrorsBefore = await Promise.all(
            (exp.mirroredTo ?? []).map((m) =>
              inboundHits(m.backend, m.namespace, req.method, req.path.split('?')[0]!),
            ),
          );
          await expectConverges(target, req, exp);
          for (const [j, m] of (exp.mirroredTo ?? []).entries()) {
            await waitFor(
              `a mirrored copy of ${req.path} at ${m.namespace}/${m.backend}`,
              async () =>
                (await inboundHits(m.backend, m.namespace, req.method, req.path.split('?')[0]!)) >
                mirrorsBefore[j]!,
              5000,
            );
          }
        });
      });
    });
  }

  for (const c of meshCases) {
    describe(c.test, () => {
      let synced = false;
      before(async () => {
        // Wait for the client whose routes change (a consumer route changes only its own namespace's).
        const watch = c.requests[0]?.from === 'consumer' ? CONSUMER_CLIENT : MESH_CLIENT;
        synced = await change(['apply', '-f', fixture(c.manifest)], [watch]);
      });
      after(async () => {
        await mesh.weft(['delete', '-f', fixture(c.manifest)]);
      });

      c.requests.forEach((m, i) => {
        const from = m.from ?? 'mesh';
        const name = `#${i} from ${from === 'mesh' ? MESH_NS : CONSUMER_NS}: GET ${m.host}${m.path ?? '/'}${
          m.headers ? ` ${JSON.stringify(m.headers)}` : ''
        } -> ${m.backend}`;
        const todo = KNOWN_BUGS[`${c.test} #${i}`] ?? KNOWN_BUGS[c.test];
        test(name, todo ? { todo } : {}, async () => {
          assert.ok(synced, `the client sidecar was served and ACKed ${c.manifest}`);
          const port = outbound[from];
          const req: CaseRequest = {
            host: m.host,
            path: m.path ?? '/',
            headers: m.headers ?? {},
            method: 'GET',
          };
          await expectConverges({ port }, req, {
            status: 200,
            backend: m.backend,
            namespace: MESH_NS,
            headers: m.responseHeaders ?? {},
            absentHeaders: m.absentHeaders ?? [],
          });
        });
      });

      if (c.weights) {
        const weights = c.weights;
        const todo = KNOWN_BUGS[c.test];
        test(
          `${WEIGHT_REQUESTS} requests to echo split ${JSON.stringify(weights)}`,
          todo ? { todo } : {},
          async (t) => {
            assert.ok(synced, `the client sidecar was served and ACKed ${c.manifest}`);
            const req: CaseRequest = { host: 'echo', path: '/', headers: {}, method: 'GET' };
            const target = { port: outbound.mesh };
            await expectConverges(target, req, { status: 200, namespace: MESH_NS });
            await expectWeights(target, req, weights, t);
          },
        );
      }
    });
  }
});
