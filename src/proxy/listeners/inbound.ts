// The inbound listener: only mTLS from mesh peers (a client certificate our root signed is required at
// the handshake, so plaintext and foreign certificates never reach the app). ALPN says what the peer
// speaks: h2 (gRPC, HTTP/2), http/1.1 (including WebSocket upgrades) or weft-tcp (an opaque byte
// stream). The SNI names the service port; the request goes to the app on loopback with the caller's
// identity in x-forwarded-client-cert.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { parseClusterSni, type InboundRoute } from '../../model/snapshot.js';
import { certSpiffeId } from '../../lib/spiffe.js';
import { endToEnd } from '../http/headers.js';
import { forward, sendLocalReply, type ForwardResult } from '../http/forward.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import type { ProxyState } from '../state.js';
import { publishRequest, publishTcp } from '../telemetry/events.js';
import { H2Sessions } from '../transport/h2-sessions.js';
import { APP_POOL_IDLE_MS, SERVER_KEEPALIVE_MS } from './idle.js';
import { pipeSockets, upgradeToApp } from '../transport/tunnel.js';
import { limiter, RATE_LIMITED_BODY } from '../ratelimit/limiters.js';
import { decodePeerMetadata, PEER_METADATA_HEADER } from '../telemetry/peer-metadata.js';

export interface InboundDeps {
  identity: WorkloadIdentity;
  state: () => ProxyState | undefined;
  appHost: string;
  appPort: (containerPort: number) => number;
  log: (line: string) => void;
}

export const TCP_ALPN = 'weft-tcp';

const peerIds = new WeakMap<TLSSocket, string>();

function peerIdentity(socket: TLSSocket): string {
  let id = peerIds.get(socket);
  if (id === undefined) {
    id = certSpiffeId(socket.getPeerCertificate()) ?? '';
    peerIds.set(socket, id);
  }
  return id;
}

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

/** The TLS connection a request came on (HTTP/2 requests reach it through their session). */
function tlsOf(req: Req): TLSSocket {
  return ('stream' in req ? req.stream.session?.socket : req.socket) as TLSSocket;
}

export function createInboundServer(deps: InboundDeps): tls.Server {
  const appAgent = new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: APP_POOL_IDLE_MS });
  const appH2 = new H2Sessions();
  const routeOf = (socket: TLSSocket): InboundRoute | undefined => {
    const sni = parseClusterSni(socket.servername || '');
    return sni ? deps.state()?.inbound.get(`${sni.host}:${sni.port}`) : undefined;
  };
  const xfcc = (socket: TLSSocket) =>
    `By=${deps.state()!.snapshot.proxy.spiffeId};URI=${peerIdentity(socket)}`;

  const onRequest = (req: Req, res: Res) => {
    const start = performance.now();
    const socket = tlsOf(req);
    const route = routeOf(socket);
    const host = String(req.headers[':authority'] ?? req.headers.host ?? '-');
    const peerMeta = decodePeerMetadata(req.headers[PEER_METADATA_HEADER]);
    const logLine = (status: number, flags: string, r?: ForwardResult) => {
      const now = performance.now();
      deps.log(
        `[${new Date().toISOString()}] inbound "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} ${flags || '-'} ` +
          `${Math.round(now - start)} "${peerIdentity(socket)}" "${socket.servername || '-'}" "${host}"`,
      );
      publishRequest(() => ({
        reporter: 'destination',
        listener: 'inbound',
        startTime: Date.now() - (now - start),
        durationMs: now - start,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        authority: host,
        protocol: String(req.headers['content-type'] ?? '').startsWith('application/grpc') ? 'grpc' : 'http',
        httpVersion: req.httpVersion,
        status,
        flags,
        ...(r?.grpcStatus !== undefined ? { grpcStatus: r.grpcStatus } : {}),
        requestBytes: r?.requestBytes ?? 0,
        responseBytes: r?.responseBytes ?? 0,
        requestHeaders: req.headers,
        responseHeaders: res.getHeaders(),
        peerIdentity: peerIdentity(socket),
        ...(peerMeta ? { peerMetadata: peerMeta } : {}),
        ...(route ? { destination: { service: route.service, port: route.port } } : {}),
        ...(r ? { upstreamHost: r.upstreamHost } : {}),
      }));
    };
    if (!route) {
      sendLocalReply(res, 404, `this workload serves no ${socket.servername || '(no SNI)'}`, 'NR');
      return logLine(404, 'NR');
    }
    const rl = deps.state()?.snapshot.inbound.rateLimit;
    if (rl && !limiter(rl, 'inbound').tryTake()) {
      sendLocalReply(res, 429, RATE_LIMITED_BODY, 'RL');
      return logLine(429, 'RL');
    }
    const headers = endToEnd(req.headers);
    delete headers[PEER_METADATA_HEADER]; // for the proxies, not the app
    headers.host = host;
    headers['x-forwarded-client-cert'] = xfcc(socket);
    headers['x-forwarded-proto'] = 'http';
    const h2 = route.protocol === 'grpc' || route.protocol === 'http2';
    forward(
      req,
      res,
      {
        host: deps.appHost,
        port: deps.appPort(route.targetPort),
        agent: appAgent,
        ...(h2 ? { h2: appH2 } : {}),
      },
      { path: req.url ?? '/', headers },
      (r) => logLine(r.status, r.flags, r),
    );
  };

  const h1 = http.createServer({ keepAlive: true }, onRequest);
  h1.keepAliveTimeout = SERVER_KEEPALIVE_MS;
  // WebSocket and other upgrades: the same checks, then the app's 101 and a byte pipe.
  h1.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const tlsSocket = socket as TLSSocket;
    const route = routeOf(tlsSocket);
    if (!route) return socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    const headers = { ...req.headers, 'x-forwarded-client-cert': xfcc(tlsSocket) };
    upgradeToApp(
      req,
      socket,
      head,
      { host: deps.appHost, port: deps.appPort(route.targetPort), headers },
      (status) =>
        deps.log(
          `[${new Date().toISOString()}] inbound "${req.method} ${req.url} HTTP/1.1 upgrade" ${status} - "${peerIdentity(tlsSocket)}"`,
        ),
    );
  });
  const h2 = http2.createServer({}, onRequest);

  const server = tls.createServer(
    {
      ...deps.identity.serverOptions(),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['h2', 'http/1.1', TCP_ALPN],
    },
    (socket) => {
      socket.on('error', () => socket.destroy());
      if (socket.alpnProtocol === 'h2') return void h2.emit('connection', socket);
      if (socket.alpnProtocol === TCP_ALPN) {
        const route = routeOf(socket);
        if (!route) return socket.destroy();
        const app = net.connect(deps.appPort(route.targetPort), deps.appHost);
        const start = performance.now();
        const destination = { service: route.service, port: route.port };
        const tcp = (event: 'open' | 'close', received = 0, sent = 0) =>
          publishTcp(() => ({
            reporter: 'destination',
            event,
            sentBytes: sent,
            receivedBytes: received,
            flags: '',
            destination,
            peerIdentity: peerIdentity(socket),
          }));
        tcp('open');
        // peer → app is the request direction (received), app → peer the response (sent)
        pipeSockets(socket, app, (received, sent) => {
          tcp('close', received, sent);
          deps.log(
            `[${new Date().toISOString()}] inbound tcp ${route.service}:${route.port} "${peerIdentity(socket)}" ` +
              `${Math.round(performance.now() - start)}ms received=${received} sent=${sent}`,
          );
        });
        return;
      }
      h1.emit('connection', socket);
    },
  );
  // Rotation: new handshakes use the new certificate; open connections keep theirs.
  deps.identity.on('rotated', () => server.setSecureContext(deps.identity.serverOptions()));
  server.on('tlsClientError', () => {
    /* plaintext or untrusted clients: the handshake failed and the socket is closed */
  });
  server.on('close', () => appH2.close());
  return server;
}
