// GET /api/tap: the taps of every connected proxy fanned into one Server-Sent Events stream. Each client
// gets its own upstream tap per proxy (the filter travels to the proxies, so unmatched requests never
// leave them); proxies that connect later are picked up every couple of seconds. A slow client loses
// events past a bounded buffer, counted on the heartbeat comment and in `event: dropped`.
import http from 'node:http';
import type { ProxyStatus } from '../push/server.js';

const CLIENT_BUFFER = 512 * 1024;
const REFRESH_MS = 2000;
const HEARTBEAT_MS = 10_000;
export const TAP_FILTER_KEYS = ['source', 'destination', 'path', 'status', 'method', 'reporter'] as const;

export function serveTap(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  statuses: () => ProxyStatus[],
): void {
  const q = new URLSearchParams();
  for (const k of TAP_FILTER_KEYS) {
    const v = url.searchParams.get(k);
    if (v) q.set(k, v);
  }
  const max = Number(url.searchParams.get('max') ?? 0) || Infinity;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  res.write(': weft tap\n\n');
  const upstreams = new Map<string, http.ClientRequest>();
  let dropped = 0;
  const proxyDropped = new Map<string, number>();
  const totalDropped = () => dropped + [...proxyDropped.values()].reduce((a, b) => a + b, 0);
  let sent = 0;
  let closed = false;

  const send = (event: string, data: string) => {
    if (closed) return;
    if (res.writableLength > CLIENT_BUFFER) {
      dropped++;
      return;
    }
    res.write(`event: ${event}\ndata: ${data}\n\n`);
  };

  // `event: ready` once every proxy known at the start is tapping (requests before it may be missed).
  let pending: Set<string> | undefined;
  let tapping = 0;
  let started = false;
  const settled = (id: string, ok: boolean) => {
    if (ok) tapping++;
    if (!pending?.delete(id) || pending.size > 0) return;
    pending = undefined;
    send('ready', JSON.stringify({ proxies: tapping }));
  };

  const connect = () => {
    if (closed) return;
    const first = !started;
    started = true;
    if (first) pending = new Set();
    const live = new Set<string>();
    for (const s of statuses()) {
      if (!s.adminPort) continue;
      live.add(s.id);
      if (upstreams.has(s.id)) continue;
      if (first) pending!.add(s.id);
      const up = http.get(`http://127.0.0.1:${s.adminPort}/tap?${q}`, (r) => {
        settled(s.id, r.statusCode === 200);
        if (r.statusCode !== 200) {
          r.resume();
          return;
        }
        let buf = '';
        r.setEncoding('utf8');
        r.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line || line.startsWith('{"heartbeat"')) {
              const d = /"dropped":(\d+)/.exec(line);
              if (d) proxyDropped.set(s.id, Number(d[1])); // events the proxy dropped for this tap
              continue;
            }
            if (sent >= max) continue;
            sent++;
            send('tap', line);
            if (sent >= max) finish();
          }
        });
        r.on('error', () => upstreams.delete(s.id));
        r.on('close', () => upstreams.delete(s.id));
      });
      up.on('error', () => {
        settled(s.id, false);
        upstreams.delete(s.id);
      });
      upstreams.set(s.id, up);
    }
    if (first && pending!.size === 0) {
      pending = undefined;
      send('ready', JSON.stringify({ proxies: 0 }));
    }
    for (const [id, up] of upstreams)
      if (!live.has(id)) {
        up.destroy();
        upstreams.delete(id);
      }
  };

  const refresh = setInterval(connect, REFRESH_MS);
  const beat = setInterval(() => {
    if (res.writableLength <= CLIENT_BUFFER)
      res.write(`: heartbeat sent=${sent} dropped=${totalDropped()}\n\n`);
    if (totalDropped()) send('dropped', JSON.stringify({ dropped: totalDropped() }));
  }, HEARTBEAT_MS);

  function finish() {
    if (closed) return;
    closed = true;
    clearInterval(refresh);
    clearInterval(beat);
    for (const up of upstreams.values()) up.destroy();
    upstreams.clear();
    res.end();
  }
  req.on('close', finish);
  res.on('close', finish);
  connect();
}
