// Access logs of one proxy: a subscriber of the request and TCP channels (telemetry/events.ts) that
// formats each finished request, and each closed TCP stream (gateway passthrough and TCP routes, inbound
// weft-tcp), with the formats and filters of the current snapshot and hands the line to a sink. A TCP
// stream goes through the same formats as a request, as in Envoy, with HTTP-only values unknown.
// Formats and filters are compiled when a snapshot arrives (prepare: a bad one NACKs it) and swapped in
// with it (commit). With no access log on either side the proxy does not subscribe at all.
//
// Sinks batch: lines of one event-loop turn go out in one write (the proxy's stdout, which weft up
// points at .weft/logs/<proxy>.proxy.log, or an appended file). A file that cannot keep up drops lines
// past a bounded buffer rather than grow without limit.
import fs from 'node:fs';
import type { ProxySnapshot } from '../../../model/snapshot.js';
import type { AccessLogSettings, AccessLogSink } from '../../../model/access-log.js';
import {
  accessLogWants,
  httpRequests,
  tcpConnections,
  type RequestRecord,
  type TcpRecord,
} from '../events.js';
import { compileFilter } from './filter.js';
import {
  compileJson,
  compileText,
  compileWeftLine,
  ISTIO_DEFAULT_JSON_LABELS,
  ISTIO_DEFAULT_TEXT_FORMAT,
} from './format.js';

/** Unsent bytes a file sink may hold before it drops lines. */
export const FILE_SINK_BUFFER = 8 * 1024 * 1024;

interface Sink {
  write(line: string): void;
  flush(): void;
  close(): void;
}

/** Lines of one event-loop turn, written together. */
class BatchingSink implements Sink {
  private lines: string[] = [];
  private scheduled = false;
  dropped = 0;

  constructor(private readonly out: (text: string) => boolean | void) {}

  write(line: string): void {
    this.lines.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.join('\n');
    this.lines = [];
    if (this.out(text) === false) this.dropped++;
  }

  close(): void {
    this.flush();
  }
}

class FileSink extends BatchingSink {
  private readonly stream: fs.WriteStream;
  constructor(path: string, warn: (m: string) => void) {
    let failed = false;
    const stream = fs.createWriteStream(path, { flags: 'a' });
    stream.on('error', (e) => {
      if (!failed) warn(`access log file ${path}: ${e.message}; its lines are dropped`);
      failed = true;
    });
    super((text) => {
      if (failed || stream.writableLength > FILE_SINK_BUFFER) return false;
      stream.write(text + '\n');
    });
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
  /** The format prints UPSTREAM_LOCAL_ADDRESS, which the data path records only on demand. */
  upstreamLocal: boolean;
}

/** What `prepare` built from a snapshot, installed by `commit`. */
export interface PreparedAccessLogs {
  settings: AccessLogSettings | undefined;
  client: CompiledLog[];
  server: CompiledLog[];
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
      upstreamLocal: source.includes('%UPSTREAM_LOCAL_ADDRESS%'),
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
}

/** The access logs (one per data plane; several share a process in tests) whose formats print
 *  UPSTREAM_LOCAL_ADDRESS: the data path records it while any does. */
const wantingLocal = new Set<object>();

export class AccessLogs {
  private client: Installed[] = [];
  private server: Installed[] = [];
  private readonly sinks = new Map<string, Sink>();
  private subscribed = false;
  private stopped = false;

  constructor(private readonly opts: AccessLogOptions) {}

  /** Compiles the snapshot's access logs; throws (the snapshot is NACKed) when a format or filter is bad. */
  prepare(s: ProxySnapshot): PreparedAccessLogs {
    const settings = s.accessLog ?? WEFT_DEFAULT;
    return {
      settings: s.accessLog,
      client: settings.client.map((x) => compileSink(x, 'client')),
      server: settings.server.map((x) => compileSink(x, 'server')),
    };
  }

  /** Installs what `prepare` built: opens new files, closes unused ones, (un)subscribes. */
  commit(p: PreparedAccessLogs): void {
    if (this.stopped) return;
    const used = new Set<string>();
    const install = (l: CompiledLog): Installed => {
      used.add(l.path);
      return { filter: l.filter, format: l.format, tcpFormat: l.tcpFormat, sink: this.sink(l.path) };
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

  private sink(path: string): Sink {
    let s = this.sinks.get(path);
    if (s) return s;
    if (path === '/dev/stdout') s = new BatchingSink(this.opts.stdout);
    else if (path === '/dev/stderr') s = new BatchingSink((t) => void process.stderr.write(t + '\n'));
    else s = new FileSink(path, this.opts.warn);
    this.sinks.set(path, s);
    return s;
  }

  private readonly onRecord = (msg: unknown): void => {
    const r = msg as RequestRecord;
    const logs = r.reporter === 'destination' ? this.server : this.client;
    for (let i = 0; i < logs.length; i++) {
      const l = logs[i]!;
      if (l.filter !== undefined && !l.filter(r)) continue;
      l.sink.write(l.format(r));
    }
  };

  private readonly onTcp = (msg: unknown): void => {
    const t = msg as TcpRecord;
    if (t.event !== 'close' || t.log === undefined) return;
    const logs = t.reporter === 'destination' ? this.server : this.client;
    if (logs.length === 0) return;
    const r = tcpLogRecord(t);
    for (let i = 0; i < logs.length; i++) {
      const l = logs[i]!;
      if (l.filter !== undefined && !l.filter(r)) continue;
      l.sink.write(l.tcpFormat(r));
    }
  };
}

const NO_HEADERS = Object.freeze({});

/** A closed TCP stream as the formats and filters read it: no method, path, headers or status
 *  (RESPONSE_CODE prints 0, as Envoy's TCP proxy logs do); bytes in the request direction received. */
export function tcpLogRecord(t: TcpRecord): RequestRecord {
  const l = t.log!;
  const r: RequestRecord = {
    reporter: t.reporter,
    listener: l.listener,
    startTime: l.startTime,
    durationMs: l.durationMs,
    method: '',
    path: '',
    authority: '',
    protocol: 'http',
    httpVersion: '',
    status: 0,
    flags: t.flags,
    requestBytes: t.receivedBytes,
    responseBytes: t.sentBytes,
    requestHeaders: NO_HEADERS,
    tcp: true,
  };
  if (l.downstream) r.downstream = l.downstream;
  if (l.upstreamHost !== undefined) r.upstreamHost = l.upstreamHost;
  if (l.upstreamCluster !== undefined) r.upstreamCluster = l.upstreamCluster;
  if (l.upstreamLocalAddress !== undefined) r.upstreamLocalAddress = l.upstreamLocalAddress;
  if (l.sni !== undefined) r.requestedServerName = l.sni;
  if (l.route !== undefined) r.route = l.route;
  if (l.upstreamTransportFailureReason !== undefined)
    r.upstreamTransportFailureReason = l.upstreamTransportFailureReason;
  if (t.destination) r.destination = t.destination;
  if (t.peerIdentity !== undefined) r.peerIdentity = t.peerIdentity;
  return r;
}
