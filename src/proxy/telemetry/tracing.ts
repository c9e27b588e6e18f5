// Distributed tracing in the proxy, built like its metrics: the data path only propagates context
// (trace-context.ts: read the incoming context, decide sampling, write this proxy's span into the
// request it sends on) and publishes its usual `weft:http:request` record; the Tracer subscribes to the
// records, turns the sampled ones into spans (span.ts) and hands them to a bounded export queue per
// provider (tracing-export.ts). What to trace comes from the snapshot's `tracing` field.
//
// Like the metrics channel, tracing is process-wide: one proxy per process (`weft proxy`). The listeners
// ask the started Tracer, through `startClientSpan` / `startServerSpan`, whether their side is traced.
import diagnostics_channel from 'node:diagnostics_channel';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type { Resource } from '@opentelemetry/resources';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ProxySnapshot } from '../../model/snapshot.js';
import type { TracingProvider, TracingSettings, TracingSide } from '../../model/tracing.js';
import type { RequestRecord } from './events.js';
import { renderLabels, type Exposition } from './prom-text.js';
import type { buildSpan, SpanSelf } from './span.js';
import { bindSpan, boundSpan, injectContext, startSpan, type SpanStart } from './trace-context.js';
import type { ExportTarget, QueueOptions, SpanQueue } from './tracing-export.js';
import { LazyModule } from '../../lib/lazy-module.js';

// The OpenTelemetry SDK loads only when a proxy has a tracing provider (a few MB a proxy without
// tracing does not carry).
const load = createRequire(import.meta.url);
const resources = () => load('@opentelemetry/resources') as typeof import('@opentelemetry/resources');

// Spans and their export (span.ts, tracing-export.ts) load with the first snapshot that traces a side
// (loadTracingCode, awaited by DataPlane.apply before the snapshot is in force): a proxy without a
// tracing provider never builds a span and would otherwise keep that code in memory for nothing.
const code = new LazyModule('tracing', async () => {
  const [span, exp] = await Promise.all([import('./span.js'), import('./tracing-export.js')]);
  return { span, exp };
});

/** Loads the code to trace what `snapshot` traces; undefined when there is nothing to load. */
export function loadTracingCode(snapshot: ProxySnapshot): Promise<void> | undefined {
  return code.load(!!(snapshot.tracing?.client || snapshot.tracing?.server));
}

export const REQUEST_CHANNEL = 'weft:http:request';

export interface TracerOptions {
  snapshot: () => ProxySnapshot | undefined;
  /** This proxy's outbound listener, for providers that are mesh services (sidecars only). */
  outbound?: () => { host: string; port: number } | undefined;
  /** The proxy's address, for Istio's node_id tag. */
  address?: string;
  env?: NodeJS.ProcessEnv;
  queue?: Partial<QueueOptions>;
  /** Tests: replaces the SDK exporters. */
  exporter?: (p: TracingProvider, target: ExportTarget) => SpanExporter;
  log?: (message: string) => void;
}

interface SideState {
  side: TracingSide;
  buildSpan: typeof buildSpan;
  self: SpanSelf;
  resource: Resource;
  queue: SpanQueue;
}

interface Compiled {
  snapshot: ProxySnapshot | undefined;
  client?: SideState;
  server?: SideState;
}

/** The started tracer the listeners ask (one proxy per process). */
const running: { tracer?: Tracer } = {};

export class Tracer {
  private compiled: Compiled = { snapshot: undefined };
  /** By provider name and target: a provider keeps its queue (and its counts) across snapshots. */
  private readonly queues = new Map<string, { provider: string; queue: SpanQueue }>();
  private readonly listener = (m: unknown) => this.onRecord(m as RequestRecord);
  private subscribed = false;
  private lastErrorLog = 0;

  constructor(private readonly opts: TracerOptions) {}

  start(): void {
    if (this.subscribed) return;
    diagnostics_channel.subscribe(REQUEST_CHANNEL, this.listener);
    this.subscribed = true;
    running.tracer = this;
  }

  /** Stop tracing; what is queued is sent, waiting `graceMs` at most. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.subscribed) diagnostics_channel.unsubscribe(REQUEST_CHANNEL, this.listener);
    this.subscribed = false;
    if (running.tracer === this) delete running.tracer;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.queues.values()].map((q) => q.queue.shutdown())),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
  }

  /** Export what is queued now (tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.queue.flush()));
  }

  /** The tracing of the current snapshot, resolved once per snapshot. */
  private current(): Compiled {
    const snap = this.opts.snapshot();
    if (snap === this.compiled.snapshot) return this.compiled;
    const t = snap?.tracing;
    const c: Compiled = { snapshot: snap };
    if (snap && t?.client) c.client = this.sideState(snap, t, t.client);
    if (snap && t?.server) c.server = this.sideState(snap, t, t.server);
    this.compiled = c;
    return c;
  }

  private sideState(snap: ProxySnapshot, t: TracingSettings, side: TracingSide): SideState {
    const { spanSelf, buildSpan } = code.get().span;
    const self = spanSelf(snap.proxy, t, side, this.opts.address ?? '127.0.0.1', this.opts.env);
    return {
      side,
      buildSpan,
      self,
      resource: resources().resourceFromAttributes({ 'service.name': self.serviceName }),
      queue: this.queueFor(side.provider),
    };
  }

  private queueFor(p: TracingProvider): SpanQueue {
    const { createExporter, DEFAULT_QUEUE, exportTarget, SpanQueue } = code.get().exp;
    const target = exportTarget(p, this.opts.outbound?.(), this.opts.env);
    const key = JSON.stringify([p.name, p.kind, target, p.timeoutMs]);
    let q = this.queues.get(key);
    if (!q) {
      const exporter = (this.opts.exporter ?? createExporter)(p, target);
      const queue = new SpanQueue(
        exporter,
        { ...DEFAULT_QUEUE, exportTimeoutMs: p.timeoutMs + 1000, ...this.opts.queue },
        (err) => this.exportFailed(p, err),
      );
      this.queues.set(key, (q = { provider: p.name, queue }));
    }
    return q.queue;
  }

  private exportFailed(p: TracingProvider, err: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 60_000) return; // the metric counts them all; the log says why, sometimes
    this.lastErrorLog = now;
    this.opts.log?.(
      `tracing: export to ${p.name} (${p.host}:${p.port}) failed: ${(err as Error)?.message ?? err}`,
    );
  }

  /** The side's settings when that side is traced (the data path's question). */
  side(kind: SpanStart['kind']): TracingSide | undefined {
    const c = this.current();
    return (kind === 'client' ? c.client : c.server)?.side;
  }

  private onRecord(r: RequestRecord): void {
    try {
      this.record(r);
    } catch (e) {
      // A subscriber that throws would take the proxy down (diagnostics_channel rethrows); never.
      this.opts.log?.(`tracing: span dropped: ${(e as Error).message}`);
    }
  }

  /** One finished request: report its span when sampled. */
  record(r: RequestRecord): void {
    const c = this.current();
    const kind = r.reporter === 'source' ? 'client' : 'server';
    const st = kind === 'client' ? c.client : c.server;
    if (!st) return;
    // A request answered before its upstream headers were written (no route, fault abort, direct
    // response) still gets its span, as in Envoy; the decision is made now.
    const s =
      r.trace ?? boundSpan(r.requestHeaders) ?? startSpan(r.requestHeaders, kind, st.side.samplingPercentage);
    if (!s.sampled) return;
    st.queue.add(st.buildSpan(r, s, st.side, st.self, st.resource));
  }

  /** weft_tracing_* metrics, one series per provider. */
  metrics(e: Exposition): void {
    const rows = [...this.queues.values()].map((q) => ({
      labels: (extra: Array<[string, string]> = []) => renderLabels([['provider', q.provider], ...extra]),
      q: q.queue,
    }));
    e.counter(
      'weft_tracing_spans_exported_total',
      'Spans the tracing provider accepted.',
      rows.map((r) => [r.labels(), r.q.stats.exported]),
    );
    e.counter(
      'weft_tracing_spans_dropped_total',
      'Sampled spans not delivered: the export queue was full (queue_full) or the export failed (export_failed).',
      rows.flatMap((r) => [
        [r.labels([['reason', 'queue_full']]), r.q.stats.droppedQueueFull] as const,
        [r.labels([['reason', 'export_failed']]), r.q.stats.droppedExportFailed] as const,
      ]),
    );
    e.gauge(
      'weft_tracing_queue_spans',
      'Spans waiting to be exported.',
      rows.map((r) => [r.labels(), r.q.size]),
    );
  }
}

/**
 * Outbound and gateway listeners, where the upstream headers are written: a CLIENT span continuing the
 * request's context, written into `upstream` as the next hop's parent. Undefined (and nothing written)
 * when the client side is not traced.
 */
export function startClientSpan(
  request: { headers: IncomingHttpHeaders; socket?: { remoteAddress?: string | undefined } | null },
  upstream: OutgoingHttpHeaders,
): SpanStart | undefined {
  const side = running.tracer?.side('client');
  if (!side) return undefined;
  const s = startSpan(request.headers, 'client', side.samplingPercentage);
  if (s.sampled) {
    // Tags of the span, which only a sampled request gets (the socket's address getter was 0.2–0.4 µs a
    // request in perf when read for every request).
    const rid = upstream['x-request-id'];
    if (typeof rid === 'string') s.requestId = rid;
    const peer = request.socket?.remoteAddress;
    if (peer) s.peerAddress = peer;
  }
  injectContext(upstream, s);
  bindSpan(request.headers, s);
  return s;
}

/** Inbound listener: a SERVER span continuing the caller's context; undefined when not traced. */
export function startServerSpan(
  request: IncomingHttpHeaders,
  peerAddress: string | undefined,
): SpanStart | undefined {
  const side = running.tracer?.side('server');
  if (!side) return undefined;
  const s = startSpan(request, 'server', side.samplingPercentage);
  if (peerAddress) s.peerAddress = peerAddress;
  return s;
}

/** Inbound, on the way to the app: the server span becomes the parent the app passes on. */
export function injectServerSpan(toApp: OutgoingHttpHeaders, s: SpanStart, targetPort: number): void {
  s.upstreamCluster = `inbound|${targetPort}||`;
  injectContext(toApp, s);
}

/** The metrics exposition with the tracer's series added (before OpenMetrics' `# EOF`). */
export function withTracingMetrics(text: string, tracer: Tracer | undefined, e: Exposition): string {
  if (!tracer) return text;
  tracer.metrics(e);
  const extra = e.text();
  if (e.format === 'openmetrics') return text.replace(/# EOF\n$/, '') + extra;
  return text + extra;
}
