// The tracer: which records become spans (per side, sampled only), what a span says (Envoy's name and
// tags under Istio), that the data path's span and the reported span are the same, that a slow or
// failing collector costs drops (counted) and never blocks, and the weft_tracing_* metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ProxySnapshot } from '../../model/snapshot.js';
import type { TracingProvider, TracingSettings, TracingSide } from '../../model/tracing.js';
import { publishRequest } from './events.js';
import { Exposition } from './prom-text.js';
import { PRODUCTPAGE, hasPromtool, promtoolCheck, record } from './testing.js';
import { hrTime, nodeId } from './span.js';
import {
  startClientSpan,
  startServerSpan,
  injectServerSpan,
  loadTracingCode,
  Tracer,
  withTracingMetrics,
} from './tracing.js';
import { exportTarget, SpanQueue } from './tracing-export.js';

const provider: TracingProvider = {
  name: 'otel',
  kind: 'opentelemetry',
  host: '127.0.0.1',
  port: 4318,
  path: '/v1/traces',
  timeoutMs: 1000,
  headers: [],
  maxTagLength: 256,
};

const side = (over: Partial<TracingSide> = {}): TracingSide => ({
  samplingPercentage: 100,
  provider,
  istioTags: true,
  customTags: [],
  ...over,
});

function snapshot(tracing: TracingSettings | undefined): ProxySnapshot {
  return {
    version: 'v1',
    proxy: PRODUCTPAGE,
    trustDomain: 'cluster.local',
    outbound: { virtualHosts: [] },
    inbound: { routes: [], containerPorts: [] },
    gateways: [],
    clusters: [],
    security: {} as ProxySnapshot['security'],
    ...(tracing ? { tracing } : {}),
  };
}

class MemoryExporter implements SpanExporter {
  spans: ReadableSpan[] = [];
  calls = 0;
  constructor(
    private readonly answer: (cb: (r: ExportResult) => void) => void = (cb) =>
      cb({ code: ExportResultCode.SUCCESS }),
  ) {}
  export(spans: ReadableSpan[], cb: (r: ExportResult) => void): void {
    this.calls++;
    this.spans.push(...spans);
    this.answer(cb);
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function tracerWith(settings: TracingSettings | undefined, exporter = new MemoryExporter()) {
  let snap = snapshot(settings);
  const tracer = new Tracer({
    snapshot: () => snap,
    address: '10.0.0.7',
    env: { TEAM: 'books' },
    exporter: () => exporter,
  });
  return { tracer, exporter, setSnapshot: (s: TracingSettings | undefined) => (snap = snapshot(s)) };
}

const settings = (over: Partial<TracingSettings> = {}): TracingSettings => ({
  client: side(),
  server: side(),
  meshId: 'cluster.local',
  clusterId: 'Kubernetes',
  ...over,
});

// Spans and their export load with the first snapshot that traces (DataPlane.apply does that).
await loadTracingCode(snapshot(settings()));

test('a client span: same IDs as the headers sent upstream; Envoy/Istio name, kind and tags', async () => {
  const { tracer, exporter } = tracerWith(
    settings({
      client: side({
        customTags: [
          { tag: 'team', environment: { name: 'TEAM' } },
          { tag: 'lit', literal: 'x' },
          { tag: 'user', header: { name: 'end-user', defaultValue: 'anon' } },
        ],
      }),
    }),
  );
  tracer.start();
  try {
    const incoming = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'user-agent': 'curl/8',
      'x-forwarded-proto': 'http',
    };
    const upstream: OutgoingHttpHeaders = { 'x-request-id': 'rid-1' };
    const s = startClientSpan({ headers: incoming, socket: { remoteAddress: '127.0.0.1' } }, upstream);
    assert.ok(s);
    assert.equal(upstream['x-b3-spanid'], s.spanId);
    publishRequest(() =>
      record({ requestHeaders: incoming, startTime: 1_700_000_000_123.5, durationMs: 4.25, requestBytes: 7 }),
    );
    await tracer.flush();
    assert.equal(exporter.spans.length, 1);
    const span = exporter.spans[0]!;
    assert.equal(span.name, 'reviews.default.svc.cluster.local:9080/*');
    assert.equal(span.kind, SpanKind.CLIENT);
    assert.equal(span.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(span.spanContext().spanId, s.spanId);
    assert.equal(span.parentSpanContext?.spanId, '00f067aa0ba902b7');
    assert.deepEqual(span.startTime, [1_700_000_000, 123_500_000]);
    assert.deepEqual(span.duration, [0, 4_250_000]);
    assert.deepEqual(span.status, { code: SpanStatusCode.UNSET });
    assert.equal(span.resource.attributes['service.name'], 'productpage.default');
    assert.deepEqual(span.attributes, {
      component: 'proxy',
      node_id: 'sidecar~10.0.0.7~productpage-v1-0.default~default.svc.cluster.local',
      'istio.canonical_service': 'productpage',
      'istio.canonical_revision': 'v1',
      'istio.mesh_id': 'cluster.local',
      'istio.namespace': 'default',
      'istio.cluster_id': 'Kubernetes',
      'guid:x-request-id': 'rid-1',
      'http.url': 'http://reviews:9080/reviews/0',
      'http.method': 'GET',
      'http.protocol': 'HTTP/1.1',
      'http.status_code': '200',
      downstream_cluster: '-',
      user_agent: 'curl/8',
      'peer.address': '127.0.0.1',
      request_size: '7',
      response_size: '120',
      response_flags: '-',
      upstream_cluster: 'outbound|9080|v2|reviews.default.svc.cluster.local',
      'upstream_cluster.name': 'outbound|9080|v2|reviews.default.svc.cluster.local',
      team: 'books',
      lit: 'x',
      user: 'anon',
    });
  } finally {
    await tracer.stop();
  }
});

test('a server span continues the caller; 5xx is an error; the app gets the server span as parent', async () => {
  const { tracer, exporter } = tracerWith(settings());
  tracer.start();
  try {
    const incoming = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'x-request-id': 'r2',
    };
    const s = startServerSpan(incoming, '10.0.0.9');
    assert.ok(s);
    const toApp: OutgoingHttpHeaders = {};
    injectServerSpan(toApp, s, 9080);
    assert.equal(toApp.traceparent, `00-4bf92f3577b34da6a3ce929d0e0e4736-${s.spanId}-01`);
    publishRequest(() =>
      record({
        reporter: 'destination',
        listener: 'inbound',
        requestHeaders: incoming,
        status: 503,
        flags: 'UF',
        upstreamCluster: undefined,
        destination: { service: 'productpage.default.svc.cluster.local', port: 9080 },
        trace: s,
      }),
    );
    await tracer.flush();
    const span = exporter.spans[0]!;
    assert.equal(span.kind, SpanKind.SERVER);
    assert.equal(span.name, 'productpage.default.svc.cluster.local:9080/*');
    assert.equal(span.parentSpanContext?.spanId, '00f067aa0ba902b7');
    assert.deepEqual(span.status, { code: SpanStatusCode.ERROR });
    assert.equal(span.attributes.error, 'true');
    assert.equal(span.attributes.response_flags, 'UF');
    assert.equal(span.attributes.upstream_cluster, 'inbound|9080||');
    assert.equal(span.attributes['peer.address'], '10.0.0.9');
    assert.equal(span.attributes['guid:x-request-id'], 'r2');
  } finally {
    await tracer.stop();
  }
});

test('only sampled requests are reported; an untraced side leaves the headers alone', async () => {
  const { tracer, exporter, setSnapshot } = tracerWith(settings({ client: side({ samplingPercentage: 0 }) }));
  tracer.start();
  try {
    const up: OutgoingHttpHeaders = {};
    const s = startClientSpan({ headers: {} }, up);
    assert.equal(s?.sampled, false);
    assert.equal(up['x-b3-sampled'], '0', 'the decision travels with the request');
    publishRequest(() => record({ requestHeaders: {} }));
    // Forced by the client, at 0%.
    publishRequest(() => record({ requestHeaders: { 'x-client-trace-id': 'c1' } }));
    // A request answered before the upstream headers (404 NR) still gets a span, decided at the end.
    publishRequest(() => record({ requestHeaders: { 'x-b3-sampled': '1' }, status: 404, flags: 'NR' }));
    await tracer.flush();
    assert.equal(exporter.spans.length, 2);
    assert.equal(exporter.spans[0]!.attributes['guid:x-client-trace-id'], 'c1');
    assert.equal(exporter.spans[1]!.attributes.response_flags, 'NR');
    setSnapshot(settings({ client: undefined }));
    const untouched: OutgoingHttpHeaders = { traceparent: 'as-the-app-sent-it' };
    assert.equal(startClientSpan({ headers: {} }, untouched), undefined);
    assert.deepEqual(untouched, { traceparent: 'as-the-app-sent-it' });
    setSnapshot(undefined);
    assert.equal(startServerSpan({}, undefined), undefined);
  } finally {
    await tracer.stop();
  }
  assert.equal(startClientSpan({ headers: {} }, {}), undefined, 'no tracer started: no tracing');
});

test('a collector that never answers costs dropped spans, counted, and never blocks recording', async () => {
  const hung = new MemoryExporter(() => {}); // never calls back
  const { tracer } = tracerWith(settings(), hung);
  const fast = new Tracer({
    snapshot: () => snapshot(settings()),
    exporter: () => hung,
    queue: { maxQueueSize: 10, maxBatchSize: 5, scheduledDelayMs: 5, exportTimeoutMs: 50 },
  });
  fast.start();
  try {
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) publishRequest(() => record({ requestHeaders: {} }));
    assert.ok(performance.now() - t0 < 200, 'recording does not wait for the exporter');
    const render = () => {
      const e = new Exposition('text');
      fast.metrics(e);
      return e.text();
    };
    const failedBatch = /reason="export_failed"\} [1-9]/;
    for (let i = 0; i < 200 && !failedBatch.test(render()); i++) await new Promise((r) => setTimeout(r, 10));
    const text = render();
    const dropped = (reason: string) =>
      Number(
        new RegExp(`weft_tracing_spans_dropped_total\\{provider="otel",reason="${reason}"\\} (\\d+)`).exec(
          text,
        )?.[1],
      );
    assert.ok(dropped('queue_full') >= 85, text);
    assert.ok(dropped('export_failed') >= 5, text);
    assert.match(text, /weft_tracing_spans_exported_total\{provider="otel"\} 0/);
  } finally {
    await fast.stop(100);
    void tracer;
  }
});

test('SpanQueue: batches by size, exports on the timer, one request at a time', async () => {
  const exp = new MemoryExporter();
  const q = new SpanQueue(exp, {
    maxQueueSize: 100,
    maxBatchSize: 4,
    scheduledDelayMs: 1000,
    exportTimeoutMs: 1000,
  });
  const span = {} as ReadableSpan;
  for (let i = 0; i < 10; i++) q.add(span);
  for (let i = 0; i < 100 && exp.spans.length < 8; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(exp.spans.length, 8, 'full batches go at once, one after the other');
  assert.equal(q.size, 2, 'the rest waits for the timer');
  await q.flush();
  assert.equal(exp.spans.length, 10);
  assert.equal(exp.calls, 3);
  assert.deepEqual(q.stats, { exported: 10, droppedQueueFull: 0, droppedExportFailed: 0 });
  const failing = new SpanQueue(new MemoryExporter((cb) => cb({ code: ExportResultCode.FAILED })));
  failing.add(span);
  await failing.flush();
  assert.equal(failing.stats.droppedExportFailed, 1);
});

test('metrics: the tracer series join the exposition (before # EOF in OpenMetrics) and pass promtool', async (t) => {
  const { tracer } = tracerWith(settings());
  tracer.start();
  try {
    publishRequest(() => record({ requestHeaders: {} }));
    await tracer.flush();
    const base = new Exposition('openmetrics');
    base.gauge('x', 'x', [['', 1]]);
    const om = withTracingMetrics(base.text(), tracer, new Exposition('openmetrics'));
    assert.match(om, /weft_tracing_spans_exported_total\{provider="otel"\} 1\n/);
    assert.equal(om.match(/# EOF/g)?.length, 1);
    assert.ok(om.endsWith('# EOF\n'));
    const text = withTracingMetrics('', tracer, new Exposition('text'));
    if (!hasPromtool()) return t.skip('promtool not installed');
    const r = promtoolCheck(text);
    assert.ok(r.ok, r.output);
  } finally {
    await tracer.stop();
  }
});

test('helpers: HrTime, node ID, export target through the mesh', () => {
  assert.deepEqual(hrTime(1500.25), [1, 500_250_000]);
  assert.deepEqual(hrTime(999.9999999), [1, 0]);
  assert.equal(
    nodeId({ ...PRODUCTPAGE, kind: 'gateway', id: 'ingress-0', namespace: 'istio-system' }, '127.0.0.1'),
    'router~127.0.0.1~ingress-0.istio-system~istio-system.svc.cluster.local',
  );
  const mesh = exportTarget(
    { ...provider, host: 'otel.observability.svc.cluster.local', viaMesh: true },
    {
      host: '127.0.0.1',
      port: 15001,
    },
  );
  assert.deepEqual(mesh, {
    url: 'http://127.0.0.1:15001/v1/traces',
    headers: { host: 'otel.observability.svc.cluster.local:4318', 'x-b3-sampled': '0' },
  });
  const direct = exportTarget(
    {
      ...provider,
      host: '::1',
      headers: [
        { name: 'x-key', envName: 'KEY' },
        { name: 'x-t', value: 't' },
      ],
    },
    undefined,
    { KEY: 'k' },
  );
  assert.deepEqual(direct, { url: 'http://[::1]:4318/v1/traces', headers: { 'x-key': 'k', 'x-t': 't' } });
});
