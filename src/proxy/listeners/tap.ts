// Live tap (GET /tap on the proxy admin port): the requests this proxy finishes, as newline-delimited
// JSON, filtered per client. It subscribes to its source only while a tap client is connected,
// so a proxy nobody taps builds nothing for it. A slow client never slows the proxy: past a bounded
// buffer its events are dropped and counted (the count rides on the next heartbeat line).
import { isoTime } from '../../lib/time.js';
import type http from 'node:http';
import { httpRequests, type RequestRecord } from '../telemetry/events.js';
import type { ProxyIdentity } from '../../model/snapshot.js';
import { parseB3Multi, parseTraceparent, boundSpan } from '../telemetry/trace-context.js';

/** One tapped request, the same shape the control plane and the CLI pass on. */
export interface TapEvent {
  time: string; // ISO start time
  proxy: string;
  reporter: 'source' | 'destination';
  sourceWorkload: string;
  sourceNamespace: string;
  destinationService: string;
  destinationWorkload: string;
  method: string;
  authority: string;
  path: string;
  status: number;
  latencyMs: number;
  flags: string;
  traceId?: string;
  requestId?: string;
}

export interface TapFilter {
  source?: string; // substring of the source workload
  destination?: string; // substring of the destination service or workload
  path?: string; // path prefix
  status?: string; // "503", or a class: "5xx"
  method?: string;
  reporter?: string;
}

export function parseTapFilter(q: URLSearchParams): TapFilter {
  const f: TapFilter = {};
  for (const k of ['source', 'destination', 'path', 'status', 'method', 'reporter'] as const) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  return f;
}

const UNKNOWN = 'unknown';

function workloadOfInstance(
  instance: string | undefined,
): { workload: string; namespace: string } | undefined {
  const m = instance ? /^(.+)-\d+\.([^.]+)$/.exec(instance) : null;
  return m ? { workload: m[1]!, namespace: m[2]! } : undefined;
}

function traceIdOf(r: RequestRecord): string | undefined {
  if (r.trace) return r.trace.traceId;
  const bound = boundSpan(r.requestHeaders);
  if (bound) return bound.traceId;
  const tp = r.requestHeaders.traceparent;
  return (
    parseTraceparent(typeof tp === 'string' ? tp : undefined)?.traceId ??
    parseB3Multi(r.requestHeaders)?.traceId
  );
}

export function tapEvent(r: RequestRecord, self: ProxyIdentity | undefined): TapEvent {
  const me = { workload: self?.workload ?? UNKNOWN, namespace: self?.namespace ?? UNKNOWN };
  let src = me;
  let dstWorkload = UNKNOWN;
  let dstService = r.destination?.service ?? UNKNOWN;
  if (r.reporter === 'destination') {
    const ns = r.peerIdentity ? /\/ns\/([^/]+)\//.exec(r.peerIdentity)?.[1] : undefined;
    src = { workload: r.peerMetadata?.workload ?? UNKNOWN, namespace: ns ?? UNKNOWN };
    dstWorkload = me.workload;
    if (!r.destination) dstService = r.authority.split(':')[0] || UNKNOWN;
  } else {
    dstWorkload = workloadOfInstance(r.destination?.instance)?.workload ?? UNKNOWN;
  }
  const e: TapEvent = {
    time: isoTime(r.startTime),
    proxy: self?.id ?? UNKNOWN,
    reporter: r.reporter,
    sourceWorkload: src.workload,
    sourceNamespace: src.namespace,
    destinationService: dstService,
    destinationWorkload: dstWorkload,
    method: r.method,
    authority: r.authority,
    path: r.path,
    status: r.status,
    latencyMs: Math.round(r.durationMs * 100) / 100,
    flags: r.flags,
  };
  const traceId = traceIdOf(r);
  if (traceId) e.traceId = traceId;
  const rid = r.requestHeaders['x-request-id'];
  if (typeof rid === 'string') e.requestId = rid;
  return e;
}

export function tapMatches(e: TapEvent, f: TapFilter): boolean {
  if (f.source && !e.sourceWorkload.includes(f.source)) return false;
  if (
    f.destination &&
    !e.destinationService.includes(f.destination) &&
    !e.destinationWorkload.includes(f.destination)
  )
    return false;
  if (f.path && !e.path.startsWith(f.path)) return false;
  if (f.method && e.method.toUpperCase() !== f.method.toUpperCase()) return false;
  if (f.reporter && e.reporter !== f.reporter) return false;
  if (f.status) {
    const s = String(e.status);
    if (/^[1-5]xx$/i.test(f.status) ? s[0] !== f.status[0] : s !== f.status) return false;
  }
  return true;
}

/** Bytes a tap client may have unsent before its events are dropped. */
export const TAP_CLIENT_BUFFER = 256 * 1024;
const HEARTBEAT_MS = 5000;

interface Client {
  res: http.ServerResponse;
  filter: TapFilter;
  dropped: number;
  sent: number;
}

/** Where tapped events come from: this process's request channel, or a proxy's worker processes. */
export interface TapSource {
  subscribe(onEvent: (e: TapEvent) => void): void;
  unsubscribe(onEvent: (e: TapEvent) => void): void;
}

/** The requests this process finishes, as tap events (built only while subscribed). */
export function channelTapSource(self: () => ProxyIdentity | undefined): TapSource {
  const subscribers = new Map<(e: TapEvent) => void, (msg: unknown) => void>();
  return {
    subscribe(onEvent) {
      const onRecord = (msg: unknown) => onEvent(tapEvent(msg as RequestRecord, self()));
      subscribers.set(onEvent, onRecord);
      httpRequests.subscribe(onRecord);
    },
    unsubscribe(onEvent) {
      const onRecord = subscribers.get(onEvent);
      if (!onRecord) return;
      subscribers.delete(onEvent);
      httpRequests.unsubscribe(onRecord);
    },
  };
}

/** The tap clients of one proxy; subscribed to its source only while there is one. */
export class TapHub {
  private readonly clients = new Set<Client>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly onEvent = (e: TapEvent) => {
    let line: string | undefined;
    for (const c of this.clients) {
      if (!tapMatches(e, c.filter)) continue;
      if (c.res.writableLength > TAP_CLIENT_BUFFER) {
        c.dropped++;
        continue;
      }
      line ??= JSON.stringify(e) + '\n';
      c.res.write(line);
      c.sent++;
    }
  };

  constructor(private readonly source: TapSource) {}

  get size(): number {
    return this.clients.size;
  }

  serve(req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams): void {
    const c: Client = { res, filter: parseTapFilter(query), dropped: 0, sent: 0 };
    res.writeHead(200, {
      'content-type': 'application/x-ndjson',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.flushHeaders();
    if (this.clients.size === 0) {
      this.source.subscribe(this.onEvent);
      this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
      this.heartbeat.unref();
    }
    this.clients.add(c);
    const gone = () => {
      if (!this.clients.delete(c)) return;
      if (this.clients.size === 0) {
        this.source.unsubscribe(this.onEvent);
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
    };
    req.on('close', gone);
    res.on('close', gone);
    res.on('error', gone);
  }

  private beat(): void {
    for (const c of this.clients)
      if (c.res.writableLength <= TAP_CLIENT_BUFFER)
        c.res.write(JSON.stringify({ heartbeat: true, dropped: c.dropped, sent: c.sent }) + '\n');
  }

  close(): void {
    for (const c of [...this.clients]) c.res.end();
  }
}
