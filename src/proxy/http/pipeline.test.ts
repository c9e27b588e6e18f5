// The outbound pipeline driven by real HTTP requests: a real server on 127.0.0.1 hands each request to
// the pipeline with a route table and cluster runtimes; a `send` stub stands in for the mTLS upstream
// call and records what the pipeline decided. Local replies carry Envoy's response flags.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type {
  Cluster,
  Endpoint,
  Route,
  RouteMatch,
  VirtualHost,
  WeightedCluster,
} from '../../model/snapshot.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import type { RequestCtx } from './context.js';
import { buildPipeline, type PipelineDeps } from './pipeline.js';
import { RouteTable } from './router.js';

const REVIEWS = 'reviews.default.svc.cluster.local';
const V1 = `outbound|9080|v1|${REVIEWS}`;
const V2 = `outbound|9080|v2|${REVIEWS}`;
const ALL = `outbound|9080||${REVIEWS}`;
const FLAGS = 'x-weft-response-flags';

function endpoint(instance: string, healthy: boolean, port = 1): Endpoint {
  return {
    address: '127.0.0.1',
    port,
    identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
    instance,
    labels: { app: 'reviews' },
    healthy,
  };
}

function cluster(name: string, endpoints: Endpoint[]): Cluster {
  const [, port, subset, service] = name.split('|') as [string, string, string, string];
  return {
    name,
    service,
    port: Number(port),
    protocol: 'http',
    ...(subset ? { subset } : {}),
    lbPolicy: 'ROUND_ROBIN',
    sni: `outbound_.${port}_.${subset}_.${service}`,
    endpoints,
  };
}

function forward(name: string, clusters: WeightedCluster[], matches: RouteMatch[] = []): Route {
  return { name, matches, action: { kind: 'forward', clusters } };
}

const reviewsDomains = [`${REVIEWS}:9080`, `${REVIEWS}`, 'reviews.default:9080', 'reviews:9080', 'reviews'];

/** What the upstream step was asked to do. */
interface Sent {
  authority: string;
  path: string;
  upstreamPath: string;
  pathOnly: string;
  query: string;
  route: string | undefined;
  cluster: string | undefined;
  headers: Record<string, unknown>;
}

interface Harness {
  port: number;
  sent: Sent[];
  done: RequestCtx[];
  errors: unknown[];
  targets: number;
}

/** A server on 127.0.0.1:0 running the pipeline. `send: false` keeps the real upstream step. */
async function start(
  t: TestContext,
  vhosts: VirtualHost[],
  clusters: Cluster[],
  opts: { send?: boolean } = {},
): Promise<Harness> {
  const table = new RouteTable(vhosts);
  const runtimes = new Map(clusters.map((c) => [c.name, new ClusterRuntime(c)]));
  const h: Harness = { port: 0, sent: [], done: [], errors: [], targets: 0 };
  const onDone = (ctx: RequestCtx) => h.done.push(ctx);
  const send = (ctx: RequestCtx) => {
    h.sent.push({
      authority: ctx.authority,
      path: ctx.path,
      upstreamPath: ctx.upstreamPath,
      pathOnly: ctx.pathOnly,
      query: ctx.query,
      route: ctx.route?.route.name,
      cluster: ctx.cluster?.cluster.name,
      headers: { ...ctx.headers },
    });
    ctx.status = 200;
    const body = `sent to ${ctx.cluster?.cluster.name ?? '?'}`;
    ctx.res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    ctx.res.end(body);
    onDone(ctx);
  };
  const deps: PipelineDeps = {
    clusters: () => runtimes,
    target: () => {
      h.targets++;
      throw new Error('tests have no upstream');
    },
    onDone,
    ...(opts.send === false ? {} : { send }),
  };
  const handle = buildPipeline(deps);
  const server = http.createServer((req, res) => {
    try {
      handle(req, res, table);
    } catch (e) {
      h.errors.push(e);
      if (!res.headersSent) res.writeHead(500).end(`pipeline threw: ${String(e)}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.port = (server.address() as AddressInfo).port;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return h;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
test.after(() => agent.destroy());

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends a request exactly as written (for absolute-form request lines and HTTP/1.0) and reads the reply. */
function raw(port: number, text: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (data += c));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: http.IncomingHttpHeaders = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

function reviewsHost(routes: Route[]): VirtualHost {
  return { name: `${REVIEWS}:9080`, domains: reviewsDomains, routes };
}

const healthy = [endpoint('reviews-v1-0.default', true), endpoint('reviews-v2-0.default', true)];

// ---- local replies -------------------------------------------------------------------------------------

test('an unknown host is 404 with flag NR, and nothing is sent', async (t) => {
  const h = await start(
    t,
    [reviewsHost([forward('default', [{ cluster: ALL, weight: 100 }])])],
    [cluster(ALL, healthy)],
  );
  const r = await get(h.port, '/', { host: 'ratings:9080' });
  assert.equal(r.status, 404);
  assert.equal(r.headers[FLAGS], 'NR');
  assert.match(r.body, /ratings:9080/);
  assert.deepEqual(h.sent, []);
  assert.equal(h.done.length, 1);
  assert.equal(h.done[0]!.status, 404);
  assert.equal(h.done[0]!.flags, 'NR');
});

test('a known host without a matching route is 404 NR', async (t) => {
  const h = await start(
    t,
    [reviewsHost([forward('only-api', [{ cluster: ALL, weight: 100 }], [{ path: { prefix: '/api' } }])])],
    [cluster(ALL, healthy)],
  );
  const r = await get(h.port, '/reviews/1?x=1', { host: 'reviews:9080' });
  assert.equal(r.status, 404);
  assert.equal(r.headers[FLAGS], 'NR');
  assert.deepEqual(h.sent, []);
  // The query is not part of the path a route matches.
  const ok = await get(h.port, '/api?x=/other', { host: 'reviews:9080' });
  assert.equal(ok.status, 200);
});

test('a direct response is answered by the proxy, without flags', async (t) => {
  const h = await start(
    t,
    [
      reviewsHost([
        {
          name: 'down',
          matches: [{ path: { prefix: '/down' } }],
          action: { kind: 'direct', status: 503, body: 'maintenance' },
        },
        {
          name: 'teapot',
          matches: [{ path: { exact: '/tea' } }],
          action: { kind: 'direct', status: 418, body: '' },
        },
      ]),
    ],
    [],
  );
  const down = await get(h.port, '/down/now', { host: 'reviews' });
  assert.equal(down.status, 503);
  assert.equal(down.body, 'maintenance');
  assert.equal(down.headers[FLAGS], undefined);
  const tea = await get(h.port, '/tea', { host: 'reviews' });
  assert.equal(tea.status, 418);
  assert.equal(tea.body, '');
  assert.deepEqual(h.sent, []);
  assert.deepEqual(
    h.done.map((c) => c.status),
    [503, 418],
  );
});

test('a route to a cluster the proxy does not have is 503 NC', async (t) => {
  const h = await start(
    t,
    [reviewsHost([forward('to-v3', [{ cluster: `outbound|9080|v3|${REVIEWS}`, weight: 100 }])])],
    [cluster(ALL, healthy)],
  );
  const r = await get(h.port, '/', { host: 'reviews:9080' });
  assert.equal(r.status, 503);
  assert.equal(r.headers[FLAGS], 'NC');
  assert.match(r.body, /outbound\|9080\|v3\|reviews/);
  assert.deepEqual(h.sent, []);
  assert.equal(h.done[0]?.flags, 'NC');
});

test('a cluster without a healthy endpoint is 503 UH "no healthy upstream"', async (t) => {
  // The real upstream step (no `send` stub): it picks the endpoint, and there is none to pick.
  const unhealthy = [endpoint('reviews-v1-0.default', false), endpoint('reviews-v1-1.default', false)];
  const h = await start(
    t,
    [
      reviewsHost([forward('v1', [{ cluster: V1, weight: 100 }])]),
      { name: 'empty', domains: ['empty'], routes: [forward('e', [{ cluster: ALL, weight: 100 }])] },
    ],
    [cluster(V1, unhealthy), cluster(ALL, [])],
    { send: false },
  );
  for (const host of ['reviews:9080', 'empty']) {
    const r = await get(h.port, '/', { host });
    assert.equal(r.status, 503, host);
    assert.equal(r.headers[FLAGS], 'UH', host);
    assert.equal(r.body, 'no healthy upstream', host);
  }
  assert.equal(h.targets, 0);
  assert.deepEqual(
    h.done.map((c) => [c.status, c.flags]),
    [
      [503, 'UH'],
      [503, 'UH'],
    ],
  );
});

test('a request without any Host is 400 DPE', async (t) => {
  const h = await start(
    t,
    [{ name: 'all', domains: ['*'], routes: [forward('all', [{ cluster: ALL, weight: 100 }])] }],
    [cluster(ALL, healthy)],
  );
  const r = await raw(h.port, 'GET /x HTTP/1.0\r\n\r\n');
  assert.equal(r.status, 400);
  assert.equal(r.headers[FLAGS], 'DPE');
  assert.deepEqual(h.sent, []);
});

// ---- routing -------------------------------------------------------------------------------------------

test('Host picks the virtual host (any alias, any case); the route picks the cluster; path and query go on', async (t) => {
  const h = await start(
    t,
    [reviewsHost([forward('default', [{ cluster: ALL, weight: 100 }])])],
    [cluster(ALL, healthy)],
  );
  for (const host of ['reviews:9080', 'reviews', 'Reviews.Default:9080', `${REVIEWS}:9080`]) {
    const r = await get(h.port, '/reviews/0?user=jason&x=1', { host });
    assert.equal(r.status, 200, host);
    assert.equal(r.body, `sent to ${ALL}`);
  }
  assert.equal(h.sent.length, 4);
  const first = h.sent[0]!;
  assert.equal(first.authority, 'reviews:9080');
  assert.equal(first.cluster, ALL);
  assert.equal(first.route, 'default');
  assert.equal(first.path, '/reviews/0?user=jason&x=1');
  assert.equal(first.upstreamPath, '/reviews/0?user=jason&x=1');
  assert.equal(first.pathOnly, '/reviews/0');
  assert.equal(first.query, 'user=jason&x=1');
  assert.equal(h.sent[2]!.authority, 'reviews.default:9080');
  assert.deepEqual(h.errors, []);
});

test('header matches route jason to v2 and everyone else to v1', async (t) => {
  const h = await start(
    t,
    [
      reviewsHost([
        forward(
          'jason',
          [{ cluster: V2, weight: 100 }],
          [{ headers: [{ name: 'end-user', match: { exact: 'jason' } }] }],
        ),
        forward('rest', [{ cluster: V1, weight: 100 }]),
      ]),
    ],
    [cluster(V1, healthy.slice(0, 1)), cluster(V2, healthy.slice(1))],
  );
  assert.equal((await get(h.port, '/', { host: 'reviews', 'end-user': 'jason' })).body, `sent to ${V2}`);
  assert.equal((await get(h.port, '/', { host: 'reviews', 'end-user': 'other' })).body, `sent to ${V1}`);
  assert.equal((await get(h.port, '/', { host: 'reviews' })).body, `sent to ${V1}`);
  assert.deepEqual(
    h.sent.map((s) => s.route),
    ['jason', 'rest', 'rest'],
  );
});

test('absolute-form request line: routed by the URL host, sent with the origin-form path', async (t) => {
  const h = await start(
    t,
    [
      reviewsHost([forward('default', [{ cluster: ALL, weight: 100 }])]),
      {
        name: 'decoy',
        domains: ['decoy.example'],
        routes: [forward('decoy', [{ cluster: V1, weight: 100 }])],
      },
    ],
    [cluster(ALL, healthy), cluster(V1, healthy)],
  );
  const r = await raw(
    h.port,
    'GET http://reviews:9080/x HTTP/1.1\r\nHost: decoy.example\r\nConnection: close\r\n\r\n',
  );
  assert.equal(r.status, 200);
  assert.equal(r.body, `sent to ${ALL}`);
  assert.equal(h.sent.length, 1);
  assert.equal(h.sent[0]!.authority, 'reviews:9080');
  assert.equal(h.sent[0]!.upstreamPath, '/x');
  assert.equal(h.sent[0]!.pathOnly, '/x');
  // With a query, and a host in upper case.
  await raw(
    h.port,
    'GET http://REVIEWS:9080/r/1?a=b HTTP/1.1\r\nHost: decoy.example\r\nConnection: close\r\n\r\n',
  );
  assert.equal(h.sent[1]?.authority, 'reviews:9080');
  assert.equal(h.sent[1]?.upstreamPath, '/r/1?a=b');
  assert.equal(h.sent[1]?.query, 'a=b');
  // The URL names a host that is not in the mesh: NR, even though the Host header is known.
  const nr = await raw(
    h.port,
    'GET http://ratings:9080/x HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n',
  );
  assert.equal(nr.status, 404);
  assert.equal(nr.headers[FLAGS], 'NR');
  assert.equal(h.sent.length, 2);
});

test('a malformed absolute-form target is answered 400 DPE, not thrown', async (t) => {
  const h = await start(
    t,
    [reviewsHost([forward('default', [{ cluster: ALL, weight: 100 }])])],
    [cluster(ALL, healthy)],
  );
  const r = await raw(h.port, 'GET http://:80/x HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n');
  assert.deepEqual(h.errors, []);
  assert.equal(r.status, 400);
  assert.equal(r.headers[FLAGS], 'DPE');
  assert.deepEqual(h.sent, []);
});

test('weights 90/10: 2000 requests land within 3% of the split', async (t) => {
  const h = await start(
    t,
    [
      reviewsHost([
        forward('split', [
          { cluster: V1, weight: 90 },
          { cluster: V2, weight: 10 },
        ]),
      ]),
    ],
    [cluster(V1, healthy.slice(0, 1)), cluster(V2, healthy.slice(1))],
  );
  const N = 2000;
  for (let i = 0; i < N; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, N - i) }, () => get(h.port, '/', { host: 'reviews:9080' })),
    );
  }
  assert.equal(h.sent.length, N);
  const v1 = h.sent.filter((s) => s.cluster === V1).length;
  const v2 = h.sent.filter((s) => s.cluster === V2).length;
  assert.equal(v1 + v2, N);
  assert.ok(Math.abs(v1 / N - 0.9) <= 0.03, `v1 got ${v1} of ${N}`);
  assert.ok(Math.abs(v2 / N - 0.1) <= 0.03, `v2 got ${v2} of ${N}`);
});

test('a weight of 0 is never picked', async (t) => {
  const h = await start(
    t,
    [
      reviewsHost([
        forward('split', [
          { cluster: V1, weight: 0 },
          { cluster: V2, weight: 100 },
        ]),
      ]),
    ],
    [cluster(V1, healthy.slice(0, 1)), cluster(V2, healthy.slice(1))],
  );
  await Promise.all(Array.from({ length: 200 }, () => get(h.port, '/', { host: 'reviews' })));
  assert.deepEqual(new Set(h.sent.map((s) => s.cluster)), new Set([V2]));
});

test('per-destination request header edits are in place when the request is sent', async (t) => {
  const h = await start(
    t,
    [
      reviewsHost([
        {
          ...forward('edits', [{ cluster: V1, weight: 100, requestHeaders: { set: [['x-subset', 'v1']] } }]),
          requestHeaders: { set: [['x-route', 'yes']] },
        },
      ]),
    ],
    [cluster(V1, healthy.slice(0, 1))],
  );
  const r = await get(h.port, '/', { host: 'reviews' });
  assert.equal(r.status, 200);
  assert.equal(h.sent[0]?.headers['x-route'], 'yes');
  assert.equal(h.sent[0]?.headers['x-subset'], 'v1');
  assert.equal(h.sent[0]?.headers.host, 'reviews');
});
