// Opaque TCP arriving at the inbound listener (ALPN weft-tcp over mTLS, or plaintext where allowed):
// AuthorizationPolicy's connection-level fields decide, then bytes are piped to the app. A denied
// connection is closed, as Envoy's network RBAC filter does.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { InboundRoute } from '../../model/snapshot.js';
import { publishTcp } from '../telemetry/events.js';
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
  if (!state || !route) return void socket.destroy();
  const destination = { service: route.service, port: route.port };
  const start = performance.now();
  const log = (what: string) =>
    deps.log(
      `[${new Date().toISOString()}] inbound tcp ${route.service}:${route.port} "${conn.peer || '-'}" ${what}`,
    );
  const tcp = (event: 'open' | 'close', received = 0, sent = 0, flags = '') =>
    publishTcp(() => ({
      reporter: 'destination',
      event,
      sentBytes: sent,
      receivedBytes: received,
      flags,
      destination,
      peerIdentity: conn.peer,
    }));
  const go = (d: GateTcpDecision) => {
    if (!d.allowed) {
      socket.destroy();
      tcp('open', 0, 0, 'RBAC');
      tcp('close', 0, 0, 'RBAC');
      return log(`denied RBAC: ${d.reason}`);
    }
    const app = net.connect(deps.appPort(route.targetPort), deps.appHost);
    tcp('open');
    // peer → app is the request direction (received), app → peer the response (sent)
    pipeSockets(socket, app, (received, sent) => {
      tcp('close', received, sent);
      log(`${Math.round(performance.now() - start)}ms received=${received} sent=${sent}`);
    });
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
