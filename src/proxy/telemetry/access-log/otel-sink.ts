// envoyOtelAls: access log entries as OpenTelemetry LogRecords, exported over OTLP/gRPC
// (`opentelemetry.proto.collector.logs.v1.LogsService/Export`), as Envoy's open_telemetry access logger
// configured by istiod sends them: body = the text format, attributes = the labels (each a format
// string), timestamp = the request's start, no built-in resource labels (istiod sets
// disable_builtin_labels), the log name as the instrumentation scope.
//
// The data path only formats the entry and hands it to the SDK's BatchLogRecordProcessor: a bounded
// queue drained in batches on a timer. A full queue drops the entry; a failed export drops its batch.
// Both are counted (`stats`), never waited for.
import { createRequire } from 'node:module';
import type { MeterProvider } from '@opentelemetry/api';
import type { AnyValue, Logger } from '@opentelemetry/api-logs';
import type { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import type { resourceFromAttributes } from '@opentelemetry/resources';
import type {
  BatchLogRecordProcessor,
  LoggerProvider,
  LogRecordExporter,
  ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import type { AccessLogOtel } from '../../../model/access-log.js';
import type { RequestRecord } from '../events.js';
import { compileText } from './format.js';
import { renderLabels, type Exposition } from '../prom-text.js';

// The SDK and the gRPC exporter load when a proxy's config first uses the provider: a proxy without
// one does not carry them (several MB). Their CommonJS builds load synchronously.
const load = createRequire(import.meta.url);
const sdk = () => load('@opentelemetry/sdk-logs') as typeof import('@opentelemetry/sdk-logs');
const grpcExporter = () =>
  (load('@opentelemetry/exporter-logs-otlp-grpc') as { OTLPLogExporter: typeof OTLPLogExporter })
    .OTLPLogExporter;
const emptyResource = () =>
  (
    load('@opentelemetry/resources') as { resourceFromAttributes: typeof resourceFromAttributes }
  ).resourceFromAttributes({});

/** @opentelemetry/core's ExportResultCode.SUCCESS, spelled out so that core loads only with the SDK. */
const EXPORT_SUCCESS = 0;

export interface OtelQueueOptions {
  /** Entries waiting at most (the SDK's default 2048); beyond it new entries are dropped. */
  maxQueueSize: number;
  /** Entries per export request (the SDK's default 512). */
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
}

export const OTEL_QUEUE: OtelQueueOptions = {
  maxQueueSize: 2048,
  maxExportBatchSize: 512,
  scheduledDelayMillis: 1000,
  exportTimeoutMillis: 10_000,
};

export interface OtelSinkStats {
  exported: number;
  droppedQueueFull: number;
  droppedExportFailed: number;
}

type Attributes = Record<string, AnyValue>;

/** Labels -> attribute getters: a string is an Envoy format string (`-` when unknown, as Envoy's text
 *  formatter prints it); other JSON values are sent as they are. */
export function compileAttributes(
  labels: Readonly<Record<string, unknown>>,
): (r: RequestRecord) => Attributes {
  const fields = Object.entries(labels).map(([key, value]) =>
    typeof value === 'string'
      ? { key, get: compileText(value) }
      : { key, literal: (value ?? null) as AnyValue },
  );
  return (r) => {
    const out: Attributes = {};
    for (const f of fields) out[f.key] = f.get ? f.get(r) : f.literal!;
    return out;
  };
}

/** The BatchLogRecordProcessor reports queue-full drops only through its self-observability metrics:
 *  a MeterProvider that counts them (everything else it records is ignored). */
function dropCounter(onDrop: (n: number) => void): MeterProvider {
  const noop = { add() {}, addCallback() {}, removeCallback() {} };
  const meter = {
    createCounter: () => ({
      add: (n: number, attrs?: Record<string, unknown>) => {
        if (attrs?.['error.type'] === 'queue_full') onDrop(n);
      },
    }),
    createUpDownCounter: () => noop,
    createObservableUpDownCounter: () => noop,
    createHistogram: () => noop,
    createGauge: () => noop,
  };
  return { getMeter: () => meter } as unknown as MeterProvider;
}

export interface OtelSinkOptions {
  queue?: Partial<OtelQueueOptions>;
  /** Tests: replaces the OTLP/gRPC exporter. */
  exporter?: LogRecordExporter;
  /** An export failed (rate-limited by the caller). */
  onError?: (err: unknown) => void;
}

export class OtelSink {
  readonly stats: OtelSinkStats = { exported: 0, droppedQueueFull: 0, droppedExportFailed: 0 };
  private readonly provider: LoggerProvider;
  private readonly processor: BatchLogRecordProcessor;
  private readonly logger: Logger;
  private readonly attributes: (r: RequestRecord) => Attributes;

  constructor(
    readonly target: AccessLogOtel,
    o: OtelSinkOptions = {},
  ) {
    const { BatchLogRecordProcessor, LoggerProvider } = sdk();
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const queue = { ...OTEL_QUEUE, ...o.queue };
    const inner =
      o.exporter ??
      new (grpcExporter())({
        url: `http://${host}:${target.port}`,
        timeoutMillis: queue.exportTimeoutMillis,
      });
    const stats = this.stats;
    // Counts what the collector accepted or refused; the processor sees the same result.
    const exporter: LogRecordExporter = {
      export(records: ReadableLogRecord[], done) {
        inner.export(records, (result) => {
          if (result.code === EXPORT_SUCCESS) stats.exported += records.length;
          else {
            stats.droppedExportFailed += records.length;
            o.onError?.(result.error);
          }
          done(result);
        });
      },
      shutdown: () => inner.shutdown(),
      forceFlush: () => inner.forceFlush(),
    };
    this.processor = new BatchLogRecordProcessor({
      exporter,
      ...queue,
      selfObsMeterProvider: dropCounter((n) => (stats.droppedQueueFull += n)),
    });
    this.provider = new LoggerProvider({ resource: emptyResource(), processors: [this.processor] });
    this.logger = this.provider.getLogger(target.logName);
    this.attributes = compileAttributes(target.attributes);
  }

  /** The data path's only call: builds the record and queues it. */
  emit(body: string, r: RequestRecord): void {
    this.logger.emit({ body, attributes: this.attributes(r), timestamp: r.startTime });
  }

  /** Export what is queued now (tests, shutdown). */
  flush(): Promise<void> {
    return this.processor.forceFlush();
  }

  /** Sends what is queued, then closes the gRPC channel. */
  shutdown(): Promise<void> {
    return this.provider.shutdown().catch(() => {});
  }
}

/** An envoyOtelAls provider: entries become LogRecords (body = the formatted line). */
export class OtelLogSink {
  constructor(
    readonly provider: string,
    readonly otel: OtelSink,
  ) {}
  write(line: string, r: RequestRecord): void {
    this.otel.emit(line, r);
  }
  flush(): void {}
  close(): void {
    void this.otel.shutdown();
  }
}

/** weft_access_log_otel_* series, one set per envoyOtelAls provider (none without one). */
export function otelMetrics(e: Exposition, rows: Array<{ provider: string; stats: OtelSinkStats }>): void {
  if (rows.length === 0) return;
  const labels = (p: string, extra: Array<[string, string]> = []) =>
    renderLabels([['provider', p], ...extra]);
  e.counter(
    'weft_access_log_otel_records_exported_total',
    'Access log entries the OpenTelemetry collector (envoyOtelAls) accepted.',
    rows.map((r) => [labels(r.provider), r.stats.exported]),
  );
  e.counter(
    'weft_access_log_otel_records_dropped_total',
    'Access log entries not delivered: the export queue was full (queue_full) or the export failed (export_failed).',
    rows.flatMap((r) => [
      [labels(r.provider, [['reason', 'queue_full']]), r.stats.droppedQueueFull] as const,
      [labels(r.provider, [['reason', 'export_failed']]), r.stats.droppedExportFailed] as const,
    ]),
  );
}
