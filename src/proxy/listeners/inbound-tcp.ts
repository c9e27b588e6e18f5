// Opaque TCP arriving at the inbound listener (ALPN weft-tcp over mTLS, or plaintext where allowed):
// AuthorizationPolicy's connection-level fields decide, then bytes are piped to the app. A denied
// connection is closed, as Envoy's network RBAC filter does.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { InboundRoute } from '../../model/snapshot.js';
import {
  accessLogWants,
  publishTcp,
  rbacTerminationDetails,
  socketAddress,
  socketAddresses,
  type TcpRecord,
} from '../telemetry/events.js';
import { pipeSockets } from '../transport/tunnel.js';
import { inboundRoute, type InboundConn } from './inbound-conn.js';
import type { InboundDeps } from './inbound.js';
import type { GateTcpDecision } from '../security/gate-types.js';

export function inboundTcp(
  deps: InboundDeps,
  socket: net.Socket,
  conn: InboundConn,
  known?: InboundRoute,
): void {
  const state = deps.state();
  const route = known ?? inboundRoute(state, conn.sni, undefined);
  if (!state || !route) {
    deps.notice?.(
      `tcp-no-route|${conn.sni}`,
      `TCP connection${conn.sni ? ` for ${JSON.stringify(conn.sni)}` : ''} matches no inbound service port: closed`,
    );
    return void socket.destroy();
  }
  const destination = { service: route.service, port: route.port };
  const start = performance.now();
  const startTime = Date.now();
  const downstream = socketAddresses(socket);
  let upstreamLocal: string | undefined;
  let termination: string | undefined; // why the proxy closed it (CONNECTION_TERMINATION_DETAILS)
  const appHost = `${deps.appHost}:${deps.appPort(route.targetPort)}`;
  // Opened and closed (Istio's TCP metrics); the close also carries what an access log line says.
  const tcp = (
    event: 'open' | 'close',
    received = 0,
    sent = 0,
    flags = '',
    upstream?: string,
    why?: string,
  ) =>
    publishTcp(() => {
      const t: TcpRecord = {
        reporter: 'destination',
        event,
        sentBytes: sent,
        receivedBytes: received,
        flags,
        destination,
        peerIdentity: conn.peer,
      };
      if (event === 'close') {
        t.log = { listener: 'inbound', startTime, durationMs: performance.now() - start, downstream };
        if (conn.sni) t.log.sni = conn.sni;
        if (upstream !== undefined) t.log.upstreamHost = upstream;
        if (upstreamLocal !== undefined) t.log.upstreamLocalAddress = upstreamLocal;
        if (why !== undefined) t.log.upstreamTransportFailureReason = why;
        if (termination !== undefined) t.log.terminationDetails = termination;
      }
      return t;
    });
  const go = (d: GateTcpDecision) => {
    if (!d.allowed) {
      socket.destroy();
      termination = rbacTerminationDetails(d);
      tcp('open', 0, 0, 'RBAC');
      tcp('close', 0, 0, 'RBAC');
      return;
    }
    const app = net.connect(deps.appPort(route.targetPort), deps.appHost);
    // An app that does not accept the connection: Envoy's UF, with the reason, when the stream closes.
    let connected = false;
    let why: string | undefined;
    app.once('connect', () => {
      connected = true;
      if (accessLogWants.upstreamLocalAddress) upstreamLocal = socketAddress(app.localAddress, app.localPort);
    });
    app.once('error', (e: NodeJS.ErrnoException) => {
      if (!connected) why = `connect_error:_${e.code ?? e.message.replace(/\s+/g, '_')}`;
    });
    tcp('open');
    // peer → app is the request direction (received), app → peer the response (sent)
    pipeSockets(socket, app, (received, sent) =>
      tcp('close', received, sent, connected ? '' : 'UF', appHost, why),
    );
  };
  // Hold the peer's bytes until the decision is made.
  socket.pause();
  const d = state.gate.checkTcp({
    peer: conn.peer,
    sourceIp: conn.sourceIp,
    destinationIp: conn.destinationIp,
    destinationPort: route.targetPort,
    sni: conn.sni,
  });
  go(d);
}
