// Byte tunnels: WebSocket (HTTP/1.1 Upgrade) and opaque TCP (HTTP CONNECT in, ALPN weft-tcp between
// proxies). Once established, bytes flow both ways as they come: a server that speaks first is never
// stalled waiting for the client.
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

/** Istio's default tcp.idleTimeout (Envoy's tcp_proxy idle_timeout): an hour without a byte either way. */
export const TCP_IDLE_TIMEOUT_MS = 3_600_000;

/**
 * Pipe two sockets both ways; when either side ends or fails, both close, and so they do after
 * `idleMs` (0: never) with no byte either way: each socket's timer restarts with every read and write,
 * and a byte read on one is a byte written on the other.
 */
export function pipeSockets(
  a: Duplex,
  b: Duplex,
  onClose?: (aToB: number, bToA: number) => void,
  idleMs = TCP_IDLE_TIMEOUT_MS,
): void {
  let aToB = 0;
  let bToA = 0;
  let closed = false;
  a.on('data', (c: Buffer) => (aToB += c.length));
  b.on('data', (c: Buffer) => (bToA += c.length));
  const close = () => {
    if (closed) return;
    closed = true;
    a.destroy();
    b.destroy();
    onClose?.(aToB, bToA);
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
  if (idleMs > 0)
    for (const s of [a, b])
      if (s instanceof net.Socket) {
        s.setTimeout(idleMs);
        s.on('timeout', close);
      }
  a.pipe(b);
  b.pipe(a);
}

/** The raw response head for a status line and headers (as received, names and all). */
export function responseHead(status: number, message: string, rawHeaders: string[]): string {
  let out = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) out += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return out + '\r\n';
}

/** Finish an upgrade against an HTTP/1.1 request already sent upstream: relay 101 and pipe, or relay the refusal. */
export function relayUpgrade(
  upReq: http.ClientRequest,
  downstream: Duplex,
  head: Buffer,
  log: (status: number) => void,
): void {
  upReq.on('upgrade', (res, upSocket, upHead) => {
    downstream.write(
      responseHead(res.statusCode ?? 101, res.statusMessage ?? 'Switching Protocols', res.rawHeaders),
    );
    if (upHead.length) downstream.write(upHead);
    if (head.length) upSocket.write(head);
    pipeSockets(downstream, upSocket);
    log(res.statusCode ?? 101);
  });
  upReq.on('response', (res) => {
    // The upstream refused the upgrade: pass its answer through and close.
    downstream.write(responseHead(res.statusCode ?? 502, res.statusMessage ?? '', res.rawHeaders));
    res.pipe(downstream);
    log(res.statusCode ?? 502);
  });
  upReq.on('error', () => {
    downstream.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    log(503);
  });
  upReq.end();
}

/** Inbound: upgrade to the local app over plain HTTP/1.1. */
export function upgradeToApp(
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  app: { host: string; port: number; headers: http.OutgoingHttpHeaders },
  log: (status: number) => void,
): void {
  const upReq = http.request({
    host: app.host,
    port: app.port,
    method: req.method,
    path: req.url,
    headers: app.headers,
    agent: false,
  });
  relayUpgrade(upReq, socket, head, log);
}

/** A peer proxy to open tunnels to, and the TLS session the last one left. */
export interface TunnelTarget {
  host: string;
  port: number;
  tls: Pick<tls.ConnectionOptions, 'secureContext' | 'servername' | 'checkServerIdentity'>;
  tunnelSession?: Buffer | undefined;
}

/**
 * Outbound: open an opaque TCP stream to a peer proxy (mTLS, ALPN weft-tcp). A target kept between
 * tunnels keeps the peer's last TLS session in `tunnelSession`, and the next tunnel resumes it: the peer
 * then spends ~40 % less CPU than on a full handshake (no signature, no chain to verify), and so does
 * this side. Only the peer that proved the expected identity on the full handshake holds the key to
 * that session; any other falls back to a full handshake and its identity is checked again.
 */
export function connectTcp(target: TunnelTarget, alpn: string): tls.TLSSocket {
  const session = target.tunnelSession;
  const socket = tls
    .connect({
      host: target.host,
      port: target.port,
      ...target.tls,
      ALPNProtocols: [alpn],
      ...(session ? { session } : {}),
    })
    .setNoDelay(true);
  socket.on('session', (s: Buffer) => (target.tunnelSession = s));
  return socket;
}

export type { net };
