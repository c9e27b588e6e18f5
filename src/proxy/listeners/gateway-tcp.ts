// A plain TCP gateway port (Gateway API listener with protocol TCP and its TCPRoute): nothing is read
// from the connection; its bytes go to the route's weighted destination as a TLS server's tcp route
// sends the bytes inside the TLS (gateway-passthrough.ts): inside the mesh's mTLS to a mesh endpoint,
// plain TCP to a host outside the mesh. No route, or no destination: the connection is closed (NR).
import type net from 'node:net';
import type { GatewayListener } from '../../model/snapshot.js';
import { forwardBytes, pickWeighted } from './gateway-passthrough.js';
import type { RoutedDeps } from './outbound.js';

export function plainTcpListener(deps: RoutedDeps, listener: GatewayListener, socket: net.Socket): void {
  const route = listener.tcpRoute;
  forwardBytes(
    deps,
    { name: listener.name, sniHosts: [], mode: 'SIMPLE' },
    undefined,
    socket,
    route && pickWeighted(route.clusters),
    route?.name ?? '-',
    false,
  );
}
