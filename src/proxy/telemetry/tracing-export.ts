// Getting spans out without touching the data path: a bounded queue per provider, drained in batches on
// a timer by the OpenTelemetry SDK's exporters. A full queue drops the new span (counted), a failed or
// timed-out export drops its batch (counted); the request that made the span never waits for either.
//
// Why not the SDK's BatchSpanProcessor: it has the same shape (bounded queue, batches, timer), but keeps
// its drop count private, and the proxy must export it as a metric. The exporters are the SDK's:
//  - OTLP: `@opentelemetry/exporter-trace-otlp-proto`, OTLP/HTTP with protobuf bodies. Protobuf is the
//    OTLP/HTTP default encoding every receiver must accept (the Collector, Jaeger, Tempo), and its bodies
//    are several times smaller than OTLP/JSON, which matters when a collector is behind the mesh.
//  - Zipkin: `@opentelemetry/exporter-zipkin`, Zipkin v2 JSON, what Istio's zipkin provider sends.
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { ExportResult } from '@opentelemetry/core';
import type { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

// The exporters (and the protobuf code under them) load when a proxy first needs one: most proxies
// never trace, and loading them costs each process several MB. (Their CommonJS builds load synchronously.)
const load = createRequire(import.meta.url);
/** @opentelemetry/core's ExportResultCode.SUCCESS, spelled out so that core loads only with an exporter. */
const EXPORT_SUCCESS = 0;
const otlp = () =>
  (load('@opentelemetry/exporter-trace-otlp-proto') as { OTLPTraceExporter: typeof OTLPTraceExporter })
    .OTLPTraceExporter;
const zipkin = () =>
  (load('@opentelemetry/exporter-zipkin') as { ZipkinExporter: typeof ZipkinExporter }).ZipkinExporter;
import type { TracingProvider } from '../../model/tracing.js';

export interface QueueOptions {
  /** Spans waiting at most (the SDK's default 2048); beyond it new spans are dropped. */
  maxQueueSize: number;
  /** Spans per export request (the SDK's default 512). */
  maxBatchSize: number;
  /** How long a span may wait for a batch to fill. */
  scheduledDelayMs: number;
  /** An export that has not answered by then counts as failed (its batch is dropped). */
  exportTimeoutMs: number;
}

export const DEFAULT_QUEUE: QueueOptions = {
  maxQueueSize: 2048,
  maxBatchSize: 512,
  scheduledDelayMs: 1000,
  exportTimeoutMs: 10_000,
};

export interface QueueStats {
  exported: number;
  droppedQueueFull: number;
  droppedExportFailed: number;
}

export class SpanQueue {
  private queue: ReadableSpan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  readonly stats: QueueStats = { exported: 0, droppedQueueFull: 0, droppedExportFailed: 0 };

  constructor(
    readonly exporter: SpanExporter,
    private readonly opts: QueueOptions = DEFAULT_QUEUE,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  get size(): number {
    return this.queue.length;
  }

  /** The data path's only call: O(1), never waits. */
  add(span: ReadableSpan): void {
    if (this.closed || this.queue.length >= this.opts.maxQueueSize) {
      this.stats.droppedQueueFull++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.opts.maxBatchSize && !this.inFlight) this.schedule(0);
    else if (!this.timer) this.schedule(this.opts.scheduledDelayMs);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.exportBatch();
    }, ms);
    this.timer.unref();
  }

  /** One batch at a time; what is left is scheduled again. */
  private exportBatch(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.queue.length === 0) return Promise.resolve();
    const batch = this.queue.splice(0, this.opts.maxBatchSize);
    this.inFlight = new Promise<void>((resolve) => {
      let done = false;
      const finish = (ok: boolean, err?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timeout);
        if (ok) this.stats.exported += batch.length;
        else {
          this.stats.droppedExportFailed += batch.length;
          this.onError(err);
        }
        resolve();
      };
      const timeout = setTimeout(
        () => finish(false, new Error(`export timed out after ${this.opts.exportTimeoutMs} ms`)),
        this.opts.exportTimeoutMs,
      );
      timeout.unref();
      try {
        this.exporter.export(batch, (r: ExportResult) => finish(r.code === EXPORT_SUCCESS, r.error));
      } catch (e) {
        finish(false, e);
      }
    }).then(() => {
      this.inFlight = undefined;
      if (this.queue.length >= this.opts.maxBatchSize) this.schedule(0);
      else if (this.queue.length > 0 && !this.timer) this.schedule(this.opts.scheduledDelayMs);
    });
    return this.inFlight;
  }

  /** Export everything queued now (tests, shutdown). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight || this.queue.length > 0) await this.exportBatch();
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    await this.flush();
    await this.exporter.shutdown().catch(() => {});
  }
}

/** Where and how to send: direct to the collector, or through this proxy's outbound listener. */
export interface ExportTarget {
  url: string;
  headers: Record<string, string>;
}

export function exportTarget(
  p: TracingProvider,
  outbound: { host: string; port: number } | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ExportTarget {
  const headers: Record<string, string> = {};
  for (const h of p.headers) {
    const v = h.value ?? (h.envName ? env[h.envName] : undefined);
    if (v !== undefined) headers[h.name] = v;
  }
  const hostPort = `${isIP(p.host) === 6 ? `[${p.host}]` : p.host}:${p.port}`;
  if (p.viaMesh && outbound) {
    // The collector is a mesh service: this proxy's outbound listener routes by Host and speaks mTLS to
    // it. `x-b3-sampled: 0` keeps the export request itself out of the traces it carries.
    headers.host = hostPort;
    headers['x-b3-sampled'] = '0';
    return { url: `http://${outbound.host}:${outbound.port}${p.path}`, headers };
  }
  return { url: `http://${hostPort}${p.path}`, headers };
}

export function createExporter(p: TracingProvider, target: ExportTarget): SpanExporter {
  if (p.kind === 'zipkin') return new (zipkin())({ url: target.url, headers: target.headers });
  return new (otlp())({
    url: target.url,
    headers: target.headers,
    timeoutMillis: p.timeoutMs,
    concurrencyLimit: 2,
  });
}
