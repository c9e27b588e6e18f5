// TCP edges of the graph, from Istio's istio_tcp_* counters: bytes each way and connections opened and
// closed per tick, kept in a ring like the HTTP edges, plus the connections open now (opened − closed,
// from the counters' absolute values). The proxies count a stream's bytes when it closes, so a
// long-lived connection shows its bytes at its end.
import { Ring } from './series.js';

export const TCP_OPENED = 'istio_tcp_connections_opened_total';
export const TCP_CLOSED = 'istio_tcp_connections_closed_total';
export const TCP_SENT = 'istio_tcp_sent_bytes_total';
export const TCP_RECEIVED = 'istio_tcp_received_bytes_total';
export const TCP_METRICS = [TCP_OPENED, TCP_CLOSED, TCP_SENT, TCP_RECEIVED] as const;

interface TcpWindow {
  opened: number;
  closed: number;
  sent: number;
  received: number;
}

const empty = (): TcpWindow => ({ opened: 0, closed: 0, sent: 0, received: 0 });

interface TcpSeries {
  source: string;
  target: string;
  mtls: boolean;
  flags: Set<string>;
  ring: Ring<TcpWindow>;
  current: TcpWindow;
  /** Open connections summed over this tick's samples; `open` once the tick closes. */
  openNext: number;
  open: number;
}

export interface TcpEdgeView {
  id: string;
  source: string;
  target: string;
  protocol: 'tcp';
  mtls: boolean;
  flags: string[];
  /** Bytes per second, both ways together and each way (sent = towards the caller, as Istio's labels). */
  bytesPerSecond: number;
  sentBytesPerSecond: number;
  receivedBytesPerSecond: number;
  connectionsPerSecond: number;
  openConnections: number;
}

const rate = (v: number, seconds: number) => (seconds > 0 ? Math.round((v / seconds) * 100) / 100 : 0);

export class TcpEdges {
  private readonly edges = new Map<string, TcpSeries>();

  constructor(private readonly capacity: number) {}

  private edge(source: string, target: string, pad: number): TcpSeries {
    const k = `tcp:${source}->${target}`;
    let e = this.edges.get(k);
    if (!e) {
      e = {
        source,
        target,
        mtls: false,
        flags: new Set(),
        ring: new Ring(this.capacity),
        current: empty(),
        openNext: 0,
        open: 0,
      };
      for (let i = 0; i < pad; i++) e.ring.push(empty());
      this.edges.set(k, e);
    }
    return e;
  }

  /**
   * One istio_tcp_* series' increase (`delta`) and current value (`total`, for the open connections),
   * into the edges between `ends`. `pad` is the ticks already kept, so a new edge lines up.
   */
  record(
    ends: string[],
    name: string,
    labels: Record<string, string>,
    delta: number,
    total: number | undefined,
    pad: number,
  ): void {
    for (let i = 0; i + 1 < ends.length; i++) {
      const e = this.edge(ends[i]!, ends[i + 1]!, pad);
      if (labels.connection_security_policy === 'mutual_tls') e.mtls = true;
      if (labels.response_flags && labels.response_flags !== '-') e.flags.add(labels.response_flags);
      if (total !== undefined && name === TCP_OPENED) e.openNext += total;
      if (total !== undefined && name === TCP_CLOSED) e.openNext -= total;
      if (!(delta > 0)) continue;
      const w = e.current;
      if (name === TCP_OPENED) w.opened += delta;
      else if (name === TCP_CLOSED) w.closed += delta;
      else if (name === TCP_SENT) w.sent += delta;
      else if (name === TCP_RECEIVED) w.received += delta;
    }
  }

  /** Ends a tick: each edge keeps its window; an edge quiet for the whole ring with nothing open goes. */
  closeTick(): void {
    for (const [k, e] of this.edges) {
      e.ring.push(e.current);
      e.current = empty();
      e.open = Math.max(0, e.openNext);
      e.openNext = 0;
      const quiet = e.ring.all().every((w) => w.opened + w.closed + w.sent + w.received === 0);
      if (quiet && e.open === 0 && e.ring.size >= this.capacity) this.edges.delete(k);
    }
  }

  clear(): void {
    this.edges.clear();
  }

  /** Edges with traffic in the last `ticks` ticks, or connections open now. */
  views(ticks: number, seconds: number): TcpEdgeView[] {
    const out: TcpEdgeView[] = [];
    for (const [id, e] of this.edges) {
      const w = empty();
      for (const x of e.ring.last(ticks)) {
        w.opened += x.opened;
        w.closed += x.closed;
        w.sent += x.sent;
        w.received += x.received;
      }
      if (w.opened + w.closed + w.sent + w.received === 0 && e.open === 0) continue;
      out.push({
        id,
        source: e.source,
        target: e.target,
        protocol: 'tcp',
        mtls: e.mtls,
        flags: [...e.flags].sort(),
        bytesPerSecond: rate(w.sent + w.received, seconds),
        sentBytesPerSecond: rate(w.sent, seconds),
        receivedBytesPerSecond: rate(w.received, seconds),
        connectionsPerSecond: rate(w.opened, seconds),
        openConnections: e.open,
      });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }
}
