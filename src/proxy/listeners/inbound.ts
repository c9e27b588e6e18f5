// The inbound listener: one port for everything that reaches this workload. The first byte tells a TLS
// handshake (0x16) from plaintext. TLS is mTLS from mesh peers only (a client certificate our roots
// signed is required), and ALPN says what the peer speaks: h2 (gRPC, HTTP/2), http/1.1 (including
// WebSocket upgrades) or weft-tcp (an opaque byte stream); the SNI names the service port. Plaintext is
// accepted only where PeerAuthentication allows it (PERMISSIVE or DISABLE on that port, Istio's
// default being PERMISSIVE); under STRICT a plaintext connection is closed at once.
import net from 'node:net';
import tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { WorkloadIdentity } from '../identity/certificates.js';
import type { ProxyState } from '../state.js';
import { H2Sessions } from '../transport/h2-sessions.js';
import { oncePer } from '../../lib/once-per.js';
import { isoTime } from '../../lib/time.js';
import { isH2Preface } from '../transport/sniff.js';
import { SERVER_KEEPALIVE_MS } from './idle.js';
import { createH1Server, type RequestHandler } from '../http1/server.js';
import { createH2cServer } from '../http2/server.js';
import { describeSocket, inboundRoute } from './inbound-conn.js';
import { createInboundHttp } from './inbound-http.js';
import { inboundTcp } from './inbound-tcp.js';
import { portMode } from '../../model/security.js';

export interface InboundDeps {
  identity: WorkloadIdentity;
  state: () => ProxyState | undefined;
  appHost: string;
  appPort: (containerPort: number) => number;
  log: (line: string) => void;
  /** Why a connection was refused, in the proxy log: once a minute per `key` (set by createInboundServer). */
  notice?: (key: string, what: string) => void;
}

export const TCP_ALPN = 'weft-tcp';

const TLS_HANDSHAKE = 0x16;
const SNIFF_TIMEOUT_MS = 15_000; // Envoy's listener_filters_timeout
const HTTP_METHODS = /^(GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH|PRI) /;

export function createInboundServer(inDeps: InboundDeps): net.Server {
  // A refused peer is otherwise only a closed connection on its side: say why here, once a minute per
  // reason (every connection from it would say it again).
  const firstInAMinute = oncePer(60_000);
  const deps: InboundDeps = {
    ...inDeps,
    notice: (key, what) => {
      if (firstInAMinute(key)) inDeps.log(`[${isoTime(Date.now())}] inbound ${what}`);
    },
  };
  const appH2 = new H2Sessions();
  const handlers = createInboundHttp(deps, appH2);
  const h1 = createH1Server(handlers.request as RequestHandler);
  h1.keepAliveTimeout = SERVER_KEEPALIVE_MS;
  h1.on('upgrade', handlers.upgrade);
  h1.on('clientError', (_err: Error, socket: net.Socket) => socket.destroy());
  const h2 = createH2cServer(handlers.request as RequestHandler, true);

  const tlsServer = tls.createServer(
    {
      ...deps.identity.serverOptions(),
      requestCert: true,
      // Checked below instead: Node closes an unauthorized peer without saying why anywhere.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['h2', 'http/1.1', TCP_ALPN],
    },
    (socket: TLSSocket) => {
      socket.on('error', () => socket.destroy());
      if (!socket.authorized) return refuse(socket);
      // A resumed session was verified when it was made: its client certificate may have expired since.
      if (socket.isSessionReused() && peerExpired(socket))
        return refuse(socket, 'CERT_HAS_EXPIRED (resumed session)');
      if (socket.alpnProtocol === 'h2') return void h2.emit('connection', socket);
      if (socket.alpnProtocol === TCP_ALPN) return inboundTcp(deps, socket, describeSocket(socket));
      h1.emit('connection', socket);
    },
  );
  // Rotation: new handshakes use the new certificate; open connections keep theirs.
  deps.identity.on('rotated', () => tlsServer.setSecureContext(deps.identity.serverOptions()));
  // A client certificate missing, expired or from a root this proxy does not trust (a peer on another
  // mesh, a trust bundle out of step after a root rotation): closed, and said in the log.
  const refuse = (socket: TLSSocket, reason?: string) => {
    const why = reason ?? String(socket.authorizationError ?? 'no verified client certificate');
    const cert = socket.getPeerCertificate();
    // The peer wrote these names: quoted, so that a newline in one cannot forge a log line.
    const named = cert.subjectaltname ?? cert.subject?.CN;
    const who = named === undefined ? 'none' : JSON.stringify(String(named));
    deps.notice!(
      `refused|${why}`,
      `mTLS connection from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} refused: ${why} (client certificate: ${who})`,
    );
    socket.destroy();
  };
  // Handshakes that failed on their own (no common protocol or cipher, malformed): said in the log too.
  // Clients that went away mid-handshake are not news.
  tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
    const why = err.code ?? err.message;
    deps.notice!(
      `tls|${why}`,
      `TLS handshake from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} failed: ${why}`,
    );
  });

  const plaintext = (socket: net.Socket, first: Buffer) => {
    const state = deps.state();
    const mtls = state?.snapshot.security.mtls;
    // STRICT everywhere: nothing to sniff further, the connection is refused (Istio resets it).
    if (!mtls || (mtls.mode === 'STRICT' && Object.values(mtls.ports).every((m) => m === 'STRICT')))
      return socket.destroy();
    if (isH2Preface(first)) return h2.emit('connection', socket);
    if (HTTP_METHODS.test(first.subarray(0, 8).toString('latin1'))) return h1.emit('connection', socket);
    // Opaque TCP in plaintext: only when the workload serves one port this could be for.
    const route = inboundRoute(state, '', undefined);
    if (!route || portMode(mtls, route.targetPort) === 'STRICT') return socket.destroy();
    inboundTcp(deps, socket, describeSocket(socket), route);
  };

  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    const first = (chunk: Buffer) => {
      clearTimeout(silent);
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) tlsServer.emit('connection', socket);
      else plaintext(socket, chunk);
      process.nextTick(() => socket.resume());
    };
    // A client that says nothing: after Envoy's listener-filter timeout a server-first TCP protocol
    // (plaintext, where allowed) is passed through to the app; anything else is closed.
    const silent = setTimeout(() => {
      socket.off('data', first);
      const state = deps.state();
      const mtls = state?.snapshot.security.mtls;
      const route = inboundRoute(state, '', undefined);
      if (!mtls || !route || route.protocol !== 'tcp' || portMode(mtls, route.targetPort) === 'STRICT')
        return socket.destroy();
      inboundTcp(deps, socket, describeSocket(socket), route);
    }, SNIFF_TIMEOUT_MS);
    socket.once('close', () => clearTimeout(silent));
    socket.once('data', first);
  });
  server.on('close', () => appH2.close());
  return server;
}

/** The client certificate of a resumed session is past its validity (a root that left the bundle ends
 *  resumption itself: the server's TLS context is replaced, and with it the session keys). */
function peerExpired(socket: TLSSocket): boolean {
  const cert = socket.getPeerX509Certificate();
  return cert === undefined || Date.parse(cert.validTo) <= Date.now();
}
