// Access logs of one proxy: a subscriber of the request and TCP channels (telemetry/events.ts) that
// formats each finished request, and each closed TCP stream (gateway passthrough and TCP routes, inbound
// weft-tcp), with the formats and filters of the current snapshot and hands the line to a sink. A TCP
// stream goes through the same formats as a request, as in Envoy, with HTTP-only values unknown.
// Formats and filters are compiled when a snapshot arrives (prepare: a bad one NACKs it) and swapped in
// with it (commit). With no access log on either side the proxy does not subscribe at all.
//
// Sinks batch, as Envoy's file sinks do (flushed on a timer or when 64 KiB are waiting): lines go out in
// one write per ACCESS_LOG_FLUSH_MS or per 64 KiB (the proxy's stdout, which weft up points at
// .weft/logs/<proxy>.proxy.log, or an appended file). At 1,000 req/s that is ~10 writes a second instead
// of one per request. Stopping the proxy writes what is waiting. A file that cannot keep up drops lines
// past a bounded buffer rather than grow without limit. An envoyOtelAls provider's entries go to an
// OpenTelemetry LogRecord exporter instead (otel-sink.ts; its SDK loads only when one is configured).
import fs from 'node:fs';
import type { ProxySnapshot } from '../../../model/snapshot.js';
import type { AccessLogOtel, AccessLogSettings, AccessLogSink } from '../../../model/access-log.js';
import {
  accessLogWants,
  httpRequests,
  tcpConnections,
  type RequestRecord,
  type TcpRecord,
} from '../events.js';
import { compileFilter } from './filter.js';
import { tcpRequestRecord } from '../records.js';
import {
  compileJson,
  compileText,
  compileWeftLine,
  ISTIO_DEFAULT_JSON_LABELS,
  ISTIO_DEFAULT_TEXT_FORMAT,
} from './format.js';
import {
  compileAttributes,
  OtelLogSink,
  otelMetrics,
  OtelSink,
  type OtelSinkOptions,
  type OtelSinkStats,
} from './otel-sink.js';
import type { Exposition } from '../prom-text.js';

/** Unsent bytes a file sink may hold before it drops lines. */
export const FILE_SINK_BUFFER = 8 * 1024 * 1024;

interface Sink {
  /** The formatted entry, and the record (for sinks that send more of it). */
  write(line: string, r: RequestRecord): void;
  flush(): void;
  close(): void;
}

/** How long a line may wait for others before it is written (Envoy: file_flush_interval, 10 s there;
 *  Weft keeps logs close to live). 0: at the end of the event-loop turn. */
export const ACCESS_LOG_FLUSH_MS = 100;
/** Waiting text that is written at once whatever the timer (Envoy's file_flush_min_size, 64 KiB). */
export const ACCESS_LOG_FLUSH_BYTES = 64 * 1024;

/** Lines written together, per ACCESS_LOG_FLUSH_MS or ACCESS_LOG_FLUSH_BYTES. */
class BatchingSink implements Sink {
  private lines: string[] = [];
  private chars = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate = false;
  dropped = 0;

  constructor(
    private readonly out: (text: string) => boolean | void,
    private readonly flushMs: number,
  ) {}

  write(line: string): void {
    this.lines.push(line);
    this.chars += line.length + 1;
    if (this.chars >= ACCESS_LOG_FLUSH_BYTES) return this.flush();
    if (this.timer !== undefined || this.immediate) return;
    if (this.flushMs > 0) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref(); // stop() writes what waits; a timer must not keep the process alive
    } else {
      this.immediate = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.immediate = false;
    if (this.lines.length === 0) return;
    const text = this.lines.join('\n');
    this.lines = [];
    this.chars = 0;
    if (this.out(text) === false) this.dropped++;
  }

  close(): void {
    this.flush();
  }
}

class FileSink extends BatchingSink {
  private readonly stream: fs.WriteStream;
  constructor(path: string, warn: (m: string) => void, flushMs: number) {
    let failed = false;
    const stream = fs.createWriteStream(path, { flags: 'a' });
    stream.on('error', (e) => {
      if (!failed) warn(`access log file ${path}: ${e.message}; its lines are dropped`);
      failed = true;
    });
    super((text) => {
      if (failed || stream.writableLength > FILE_SINK_BUFFER) return false;
      stream.write(text + '\n');
    }, flushMs);
    this.stream = stream;
  }

  override close(): void {
    super.close();
    this.stream.end();
  }
}

interface CompiledLog {
  provider: string;
  filter: ((r: RequestRecord) => boolean) | undefined;
  format: (r: RequestRecord) => string;
  /** The same format for TCP streams (Weft's own line has a TCP variant; Envoy's formats are shared). */
  tcpFormat: (r: RequestRecord) => string;
  path: string;
  otel?: AccessLogOtel;
  /** The format prints UPSTREAM_LOCAL_ADDRESS, which the data path records only on demand. */
  upstreamLocal: boolean;
}

/** What `prepare` built from a snapshot, installed by `commit`. */
export interface PreparedAccessLogs {
  settings: AccessLogSettings | undefined;
  client: CompiledLog[];
  server: CompiledLog[];
  /** Providers of kinds Weft does not export to, `"name" (kind)`: written nowhere, said in the log. */
  unsupported: string[];
}

interface Installed {
  filter: ((r: RequestRecord) => boolean) | undefined;
  format: (r: RequestRecord) => string;
  tcpFormat: (r: RequestRecord) => string;
  sink: Sink;
}

function compileSink(s: AccessLogSink, side: 'client' | 'server'): CompiledLog {
  const where = `access log provider ${JSON.stringify(s.provider)}`;
  try {
    const f = s.format;
    const source =
      f.kind === 'weft'
        ? ''
        : f.kind === 'text'
          ? f.text || ISTIO_DEFAULT_TEXT_FORMAT
          : JSON.stringify(Object.keys(f.labels).length ? f.labels : ISTIO_DEFAULT_JSON_LABELS);
    // Attributes are compiled here too, so that a bad one NACKs the snapshot (the SDK loads at commit).
    if (s.otel) compileAttributes(s.otel.attributes);
    const format =
      f.kind === 'weft'
        ? compileWeftLine(side)
        : f.kind === 'text'
          ? compileText(f.text || ISTIO_DEFAULT_TEXT_FORMAT, f)
          : compileJson(Object.keys(f.labels).length ? f.labels : ISTIO_DEFAULT_JSON_LABELS, f);
    return {
      provider: s.provider,
      filter: s.filter ? compileFilter(s.filter) : undefined,
      format,
      tcpFormat: f.kind === 'weft' ? compileWeftLine(side, true) : format,
      path: s.path,
      ...(s.otel ? { otel: s.otel } : {}),
      upstreamLocal: (source + JSON.stringify(s.otel?.attributes ?? {})).includes('%UPSTREAM_LOCAL_ADDRESS%'),
    };
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

/** Weft's compact line on both sides: what a snapshot without `accessLog` means. */
const WEFT_DEFAULT: AccessLogSettings = {
  client: [{ provider: 'weft', path: '/dev/stdout', format: { kind: 'weft' } }],
  server: [{ provider: 'weft', path: '/dev/stdout', format: { kind: 'weft' } }],
};

export interface AccessLogOptions {
  /** The proxy's own output (`/dev/stdout`): one call per batch, lines joined by '\n', no final newline. */
  stdout: (text: string) => void;
  warn: (message: string) => void;
  /** envoyOtelAls: queue sizes, or a stand-in exporter (tests). */
  otel?: OtelSinkOptions;
  /** File and stdout sinks: ms a line may wait to be written with others (default ACCESS_LOG_FLUSH_MS). */
  flushMs?: number;
}

/** Export failures are counted; the log says why at most this often. */
const OTEL_ERROR_LOG_MS = 60_000;

/** The access logs (one per data plane; several share a process in tests) whose formats print
 *  UPSTREAM_LOCAL_ADDRESS: the data path records it while any does. */
const wantingLocal = new Set<object>();

export class AccessLogs {
  private client: Installed[] = [];
  private server: Installed[] = [];
  private readonly sinks = new Map<string, Sink>();
  private subscribed = false;
  private stopped = false;
  private readonly warnedUnsupported = new Set<string>();
  private lastOtelError = 0;

  private readonly flushMs: number;

  constructor(private readonly opts: AccessLogOptions) {
    this.flushMs = opts.flushMs ?? ACCESS_LOG_FLUSH_MS;
  }

  /** Compiles the snapshot's access logs; throws (the snapshot is NACKed) when a format or filter is bad. */
  prepare(s: ProxySnapshot): PreparedAccessLogs {
    const settings = s.accessLog ?? WEFT_DEFAULT;
    const writable = (x: AccessLogSink) => x.unsupported === undefined;
    const unsupported = [...settings.client, ...settings.server]
      .filter((x) => !writable(x))
      .map((x) => `${JSON.stringify(x.provider)} (${x.unsupported})`);
    return {
      settings: s.accessLog,
      client: settings.client.filter(writable).map((x) => compileSink(x, 'client')),
      server: settings.server.filter(writable).map((x) => compileSink(x, 'server')),
      unsupported: [...new Set(unsupported)],
    };
  }

  /** Installs what `prepare` built: opens new files, closes unused ones, (un)subscribes. */
  commit(p: PreparedAccessLogs): void {
    if (this.stopped) return;
    for (const u of p.unsupported) {
      if (this.warnedUnsupported.has(u)) continue;
      this.warnedUnsupported.add(u);
      this.opts.warn(
        `access log provider ${u}: Envoy's gRPC access log service is not implemented in Weft, so this provider writes nothing (envoyOtelAls and envoyFileAccessLog are)`,
      );
    }
    const used = new Set<string>();
    const install = (l: CompiledLog): Installed => {
      const key = sinkKey(l);
      used.add(key);
      return { filter: l.filter, format: l.format, tcpFormat: l.tcpFormat, sink: this.sink(key, l) };
    };
    this.client = p.client.map(install);
    this.server = p.server.map(install);
    for (const [path, sink] of this.sinks) {
      if (used.has(path)) continue;
      sink.close();
      this.sinks.delete(path);
    }
    const want = this.client.length > 0 || this.server.length > 0;
    if (want && !this.subscribed) {
      httpRequests.subscribe(this.onRecord);
      tcpConnections.subscribe(this.onTcp);
    }
    if (!want && this.subscribed) this.unsubscribe();
    this.subscribed = want;
    if ([...p.client, ...p.server].some((l) => l.upstreamLocal)) wantingLocal.add(this);
    else wantingLocal.delete(this);
    accessLogWants.upstreamLocalAddress = wantingLocal.size > 0;
  }

  private unsubscribe(): void {
    httpRequests.unsubscribe(this.onRecord);
    tcpConnections.unsubscribe(this.onTcp);
  }

  /** Whether any access log is written (tests, diagnostics). */
  get active(): boolean {
    return this.subscribed;
  }

  stop(): void {
    this.stopped = true;
    if (this.subscribed) this.unsubscribe();
    this.subscribed = false;
    wantingLocal.delete(this);
    accessLogWants.upstreamLocalAddress = wantingLocal.size > 0;
    for (const s of this.sinks.values()) s.close();
    this.sinks.clear();
  }

  private sink(key: string, l: CompiledLog): Sink {
    let s = this.sinks.get(key);
    if (s) return s;
    const path = l.path;
    if (l.otel)
      s = new OtelLogSink(
        l.provider,
        new OtelSink(l.otel, { ...this.opts.otel, onError: this.otelError(l) }),
      );
    else if (path === '/dev/stdout') s = new BatchingSink(this.opts.stdout, this.flushMs);
    else if (path === '/dev/stderr')
      s = new BatchingSink((t) => void process.stderr.write(t + '\n'), this.flushMs);
    else s = new FileSink(path, this.opts.warn, this.flushMs);
    this.sinks.set(key, s);
    return s;
  }

  private otelError(l: CompiledLog): (err: unknown) => void {
    return (err) => {
      const now = Date.now();
      if (now - this.lastOtelError < OTEL_ERROR_LOG_MS) return;
      this.lastOtelError = now;
      const why = err instanceof Error ? err.message : String(err);
      this.opts.warn(
        `access log provider ${JSON.stringify(l.provider)}: export to ${l.path} failed (${why}); its entries are dropped (counted in weft_access_log_otel_records_dropped_total)`,
      );
    };
  }

  /** The envoyOtelAls sinks in use. */
  private otelSinks(): OtelLogSink[] {
    return [...this.sinks.values()].filter((s): s is OtelLogSink => s instanceof OtelLogSink);
  }

  /** Export what the envoyOtelAls sinks hold now (tests). */
  async flushOtel(): Promise<void> {
    await Promise.all(this.otelSinks().map((s) => s.otel.flush()));
  }

  /** Per envoyOtelAls provider: entries exported and dropped. */
  otelStats(): Array<{ provider: string; stats: OtelSinkStats }> {
    return this.otelSinks().map((s) => ({ provider: s.provider, stats: s.otel.stats }));
  }

  /** weft_access_log_otel_* series, one per envoyOtelAls provider (none without one). */
  metrics(e: Exposition): void {
    otelMetrics(e, this.otelStats());
  }

  private readonly onRecord = (msg: unknown): void => {
    const r = msg as RequestRecord;
    const logs = r.reporter === 'destination' ? this.server : this.client;
    for (let i = 0; i < logs.length; i++) {
      const l = logs[i]!;
      if (l.filter !== undefined && !l.filter(r)) continue;
      l.sink.write(l.format(r), r);
    }
  };

  private readonly onTcp = (msg: unknown): void => {
    const t = msg as TcpRecord;
    if (t.event !== 'close' || t.log === undefined) return;
    const logs = t.reporter === 'destination' ? this.server : this.client;
    if (logs.length === 0) return;
    const r = tcpRequestRecord(t);
    for (let i = 0; i < logs.length; i++) {
      const l = logs[i]!;
      if (l.filter !== undefined && !l.filter(r)) continue;
      l.sink.write(l.tcpFormat(r), r);
    }
  };
}

/** Sinks are shared by path; an OpenTelemetry one by provider and everything that shapes its records. */
function sinkKey(l: CompiledLog): string {
  return l.otel ? JSON.stringify([l.provider, l.otel]) : l.path;
}
