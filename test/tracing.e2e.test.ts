// Distributed tracing end to end: the bookinfo demo (a copy whose ingress listens on a free port), a
// MeshConfig with an `opentelemetry` and a `zipkin` extension provider pointing at receivers in this test,
// and an Istio Telemetry resource selecting one of them at 100% sampling. One request through the ingress
// must arrive as ONE trace whose spans link ingress -> productpage -> reviews -> ratings: the proxies start
// the trace at the ingress, add a CLIENT span on each outbound hop and a SERVER span on each inbound hop,
// and the bookinfo apps copy the trace headers from their request to their calls (as Istio's do).
// The OTLP receiver decodes the protobuf bodies with the OpenTelemetry proto definitions (protobufjs code
// generated from opentelemetry-proto, shipped in @opentelemetry/otlp-transformer 0.57).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import otlpRoot from 'otlp-transformer-protobufjs/build/src/generated/root.js';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { changeConfig } from './support/config-sync.js';
import { ROOT } from './support/paths.js';
import { freePort } from '../src/local/ports.js';
import { fixture } from '../src/config/testing.js';

/** A span as both receivers see it, reduced to what the checks need. */
interface Span {
  traceId: string;
  spanId: string;
  parentId?: string;
  name: string;
  kind: 'CLIENT' | 'SERVER' | string;
  service: string;
  tags: Record<string, string>;
}

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: unknown;
  boolValue?: boolean;
}
interface OtlpRequest {
  resourceSpans: Array<{
    resource?: { attributes: Array<{ key: string; value?: OtlpAnyValue }> };
    scopeSpans: Array<{
      spans: Array<{
        traceId: Uint8Array;
        spanId: Uint8Array;
        parentSpanId?: Uint8Array;
        name: string;
        kind: number;
        attributes: Array<{ key: string; value?: OtlpAnyValue }>;
      }>;
    }>;
  }>;
}

const ExportTraceServiceRequest = (
  otlpRoot as unknown as {
    opentelemetry: {
      proto: {
        collector: {
          trace: { v1: { ExportTraceServiceRequest: { decode(b: Uint8Array): OtlpRequest } } };
        };
      };
    };
  }
).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const hex = (b: Uint8Array | undefined) => (b && b.length ? Buffer.from(b).toString('hex') : undefined);
const attrs = (list: Array<{ key: string; value?: OtlpAnyValue }> = []) =>
  Object.fromEntries(list.map((a) => [a.key, String(a.value?.stringValue ?? a.value?.intValue ?? '')]));
const OTLP_KINDS: Record<number, string> = { 1: 'INTERNAL', 2: 'SERVER', 3: 'CLIENT' };

/** A collector in this process: OTLP/HTTP protobuf at /v1/traces, Zipkin v2 JSON at /api/v2/spans. */
class Receiver {
  readonly spans: Span[] = [];
  readonly contentTypes = new Set<string>();
  private server!: http.Server;
  port = 0;

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.contentTypes.add(`${req.url} ${req.headers['content-type']}`);
        try {
          if (req.url === '/v1/traces') this.otlp(body);
          else if (req.url === '/api/v2/spans') this.zipkin(body);
          else return res.writeHead(404).end();
        } catch (e) {
          return res.writeHead(400).end(String(e));
        }
        if (req.url === '/v1/traces')
          res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.alloc(0));
        else res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  private otlp(body: Buffer): void {
    const msg = ExportTraceServiceRequest.decode(body);
    for (const rs of msg.resourceSpans) {
      const service = attrs(rs.resource?.attributes)['service.name'] ?? '';
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans)
          this.spans.push({
            traceId: hex(s.traceId)!,
            spanId: hex(s.spanId)!,
            ...(hex(s.parentSpanId) ? { parentId: hex(s.parentSpanId)! } : {}),
            name: s.name,
            kind: OTLP_KINDS[s.kind] ?? String(s.kind),
            service,
            tags: attrs(s.attributes),
          });
    }
  }

  private zipkin(body: Buffer): void {
    const list = JSON.parse(body.toString('utf8')) as Array<{
      traceId: string;
      id: string;
      parentId?: string;
      name: string;
      kind?: string;
      localEndpoint?: { serviceName?: string };
      tags?: Record<string, string>;
    }>;
    for (const s of list)
      this.spans.push({
        traceId: s.traceId,
        spanId: s.id,
        ...(s.parentId ? { parentId: s.parentId } : {}),
        name: s.name,
        kind: s.kind ?? '',
        service: s.localEndpoint?.serviceName ?? '',
        tags: s.tags ?? {},
      });
  }

  trace(traceId: string): Span[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const PP = 'productpage.default.svc.cluster.local:9080/*';
const REVIEWS = 'reviews.default.svc.cluster.local:9080/*';
const RATINGS = 'ratings.default.svc.cluster.local:9080/*';
const DETAILS = 'details.default.svc.cluster.local:9080/*';

/** The trace a request started at the ingress, once every hop's spans have arrived. */
async function traceOf(rx: Receiver, requestId: string): Promise<Span[]> {
  return waitFor(
    `the trace of ${requestId}`,
    async () => {
      const root = rx.spans.find((s) => s.tags['guid:x-request-id'] === requestId && !s.parentId);
      const spans = root ? rx.trace(root.traceId) : [];
      // ingress, then productpage, details, reviews and ratings: a CLIENT and a SERVER span per hop
      return spans.length >= 8 && spans;
    },
    20_000,
  );
}

/** Every span of the request (they all carry its x-request-id) is in that one trace. */
function assertOneTrace(rx: Receiver, requestId: string, spans: Span[]): void {
  const all = rx.spans.filter((s) => s.tags['guid:x-request-id'] === requestId);
  assert.deepEqual(new Set(all.map((s) => s.traceId)), new Set([spans[0]!.traceId]));
  assert.equal(all.length, spans.length);
}

/** Checks the shape: one root at the ingress; each hop's SERVER span is the child of the caller's CLIENT span. */
function checkChain(spans: Span[]): string {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const roots = spans.filter((s) => !s.parentId);
  assert.equal(roots.length, 1, `one root span:\n${describeTrace(spans)}`);
  const root = roots[0]!;
  assert.equal(root.kind, 'CLIENT');
  assert.equal(root.service, 'istio-ingressgateway.istio-system');
  assert.equal(root.name, PP);
  for (const s of spans)
    if (s.parentId) assert.ok(byId.has(s.parentId), `parent of ${s.name} is in the trace`);
  // The answered call when there are several: productpage tries reviews a second time after 3 s (as
  // bookinfo does), so a slow first call under load leaves a CLIENT span with the proxy's 499 (the app
  // went away) beside the one that answered.
  const find = (kind: string, name: string, parent: Span | undefined) => {
    const all = spans.filter((x) => x.kind === kind && x.name === name && x.parentId === parent?.spanId);
    const s = all.find((x) => x.tags['http.status_code'] === '200') ?? all[0];
    assert.ok(s, `${kind} ${name} under ${parent?.kind} ${parent?.name}:\n${describeTrace(spans)}`);
    return s;
  };
  const ppServer = find('SERVER', PP, root);
  assert.equal(ppServer.service, 'productpage.default');
  const toReviews = find('CLIENT', REVIEWS, ppServer);
  assert.equal(toReviews.service, 'productpage.default');
  const reviewsServer = find('SERVER', REVIEWS, toReviews);
  assert.equal(reviewsServer.service, 'reviews.default');
  const toRatings = find('CLIENT', RATINGS, reviewsServer);
  const ratingsServer = find('SERVER', RATINGS, toRatings);
  assert.equal(ratingsServer.service, 'ratings.default');
  find('SERVER', DETAILS, find('CLIENT', DETAILS, ppServer));
  // Istio's tags.
  for (const s of [root, ppServer, toReviews, ratingsServer]) {
    assert.equal(s.tags.component, 'proxy');
    assert.equal(
      s.tags['http.status_code'],
      '200',
      `${s.kind} ${s.name} at ${s.service}:\n${describeTrace(spans)}`,
    );
    assert.equal(s.tags['istio.mesh_id'], 'cluster.local');
    assert.equal(s.tags['istio.namespace'], s === root ? 'istio-system' : 'default');
    assert.match(s.tags.node_id ?? '', /^(sidecar|router)~/);
  }
  assert.equal(ratingsServer.tags['istio.canonical_service'], 'ratings');
  assert.equal(ratingsServer.tags['istio.canonical_revision'], 'v1');
  assert.equal(toReviews.tags.upstream_cluster, 'outbound|9080|v3|reviews.default.svc.cluster.local');
  assert.equal(ratingsServer.tags.upstream_cluster, 'inbound|9080||');
  assert.equal(root.tags['http.url'], `http://${root.tags['http.url']?.split('/')[2]}/productpage`);
  return describeTrace(spans);
}

function describeTrace(spans: Span[]): string {
  const children = new Map<string | undefined, Span[]>();
  for (const s of spans) children.set(s.parentId, [...(children.get(s.parentId) ?? []), s]);
  const ids = new Set(spans.map((s) => s.spanId));
  const lines: string[] = [];
  const walk = (s: Span, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${s.kind} ${s.name} [${s.service}] ${s.tags['http.status_code'] ?? ''}`);
    for (const c of children.get(s.spanId) ?? []) walk(c, depth + 1);
  };
  for (const s of spans) if (!s.parentId || !ids.has(s.parentId)) walk(s, 0);
  return lines.join('\n');
}

const telemetry = (provider: string) => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
    - providers: [{ name: ${provider} }]
      randomSamplingPercentage: 100
`;

describe('tracing: one bookinfo request is one trace, in OTLP and in Zipkin', { timeout: 240_000 }, () => {
  let work: string;
  let mesh: RunningMesh | undefined;
  let otlp: Receiver;
  let zipkin: Receiver;
  let ingress: string;
  const PROXIES = [
    'istio-ingressgateway-0.istio-system',
    'productpage-v1-0.default',
    'details-v1-0.default',
    'reviews-v1-0.default',
    'reviews-v2-0.default',
    'reviews-v3-0.default',
    'ratings-v1-0.default',
  ];

  before(async () => {
    work = await tempDir('weft-tracing-');
    otlp = await new Receiver().start();
    zipkin = await new Receiver().start();
    const ingressPort = await freePort();
    ingress = `http://127.0.0.1:${ingressPort}`;
    const cfg = join(work, 'bookinfo');
    await mkdir(cfg);
    const src = join(ROOT, 'examples/bookinfo');
    for (const f of (await readdir(src)).filter((f) => f.endsWith('.yaml')))
      await copyFile(join(src, f), join(cfg, f));
    const gw = await readFile(join(cfg, 'gateway.yaml'), 'utf8');
    await writeFile(join(cfg, 'gateway.yaml'), gw.replace(/number: 8080/, `number: ${ingressPort}`));
    // Istio's own bookinfo routing, unchanged: every review from v3, which calls ratings.
    await copyFile(
      fixture('istio-bookinfo/destination-rule-all.yaml'),
      join(cfg, 'destination-rule-all.yaml'),
    );
    await copyFile(
      fixture('istio-bookinfo/virtual-service-reviews-v3.yaml'),
      join(cfg, 'virtual-service-reviews-v3.yaml'),
    );
    await writeFile(
      join(cfg, 'tracing.yaml'),
      `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata:
  name: default
spec:
  enableTracing: true
  extensionProviders:
    - name: otel
      opentelemetry:
        service: 127.0.0.1
        port: ${otlp.port}
        http: { path: /v1/traces, timeout: 5s }
    - name: zipkin
      zipkin:
        service: 127.0.0.1
        port: ${zipkin.port}
---
${telemetry('otel')}`,
    );
    mesh = await RunningMesh.up([cfg]);
  });

  after(async () => {
    if (mesh) {
      assert.equal(await mesh.stop(), 0);
      await rm(mesh.stateDir, { recursive: true, force: true });
    }
    await otlp?.close();
    await zipkin?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(ingress + path, { headers, signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    assert.equal(res.status, 200, body.slice(0, 500));
    return body;
  };

  test('OTLP: ingress -> productpage -> reviews -> ratings, one trace, started at the ingress', async (t) => {
    const body = await get('/productpage', { 'x-request-id': 'trace-e2e-otlp' });
    assert.match(body, /data-star-color="red"/, 'reviews v3 answered (red stars from ratings)');
    const spans = await traceOf(otlp, 'trace-e2e-otlp');
    for (const line of checkChain(spans).split('\n')) t.diagnostic(line);
    assertOneTrace(otlp, 'trace-e2e-otlp', spans);
    assert.ok(
      [...otlp.contentTypes].some((c) => c === '/v1/traces application/x-protobuf'),
      [...otlp.contentTypes].join(', '),
    );
    assert.equal(zipkin.spans.length, 0, 'the zipkin provider is not selected');
  });

  test('an incoming traceparent is continued, and its "not sampled" is respected by every proxy', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    await get('/productpage', { traceparent: `00-${traceId}-b7ad6b7169203331-01`, 'x-request-id': 'tp-1' });
    const spans = await waitFor('the continued trace', async () => {
      const s = otlp.trace(traceId);
      return s.length >= 8 && s;
    });
    const root = spans.find((s) => s.parentId === 'b7ad6b7169203331');
    assert.equal(root?.name, PP, 'the ingress span is the child of the caller');
    const unsampled = 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0';
    await get('/productpage', { traceparent: `00-${unsampled}-b7ad6b7169203331-00` });
    await get('/productpage', { 'x-request-id': 'after-unsampled' });
    await traceOf(otlp, 'after-unsampled'); // later spans arrived, so the unsampled ones would have too
    assert.equal(otlp.trace(unsampled).length, 0);
  });

  test('Zipkin: the same shape after the Telemetry switches provider', async (t) => {
    await writeFile(join(work, 'zipkin.yaml'), telemetry('zipkin'));
    assert.ok(await changeConfig(mesh!, ['apply', '-f', join(work, 'zipkin.yaml')], PROXIES, 20_000));
    await get('/productpage', { 'x-request-id': 'trace-e2e-zipkin' });
    const spans = await traceOf(zipkin, 'trace-e2e-zipkin');
    for (const line of checkChain(spans).split('\n')) t.diagnostic(line);
    assertOneTrace(zipkin, 'trace-e2e-zipkin', spans);
    assert.ok([...zipkin.contentTypes].some((c) => c.startsWith('/api/v2/spans application/json')));
    // The proxies count what they exported.
    const ps = await mesh!.weft(['proxy-status', '-o', 'json']);
    const items = JSON.parse(ps.stdout) as Array<{ id: string; metricsUrl?: string }>;
    const gw = items.find((p) => p.id === PROXIES[0]);
    const metrics = await (await fetch(gw!.metricsUrl!)).text();
    assert.match(metrics, /weft_tracing_spans_exported_total\{provider="zipkin"\} [1-9]/);
    assert.match(metrics, /weft_tracing_spans_dropped_total\{provider="zipkin",reason="queue_full"\} 0/);
  });
});
