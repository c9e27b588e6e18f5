// TLS PASSTHROUGH at the gateway: the client's TLS is not terminated; its bytes, ClientHello included,
// go to the destination chosen by the SNI, which keeps its own certificate. A VirtualService `tls` route
// (sniHosts) picks the weighted destination. To a mesh endpoint the bytes travel inside the mesh's mTLS
// (ALPN weft-tcp, as an HTTP CONNECT tunnel does) and the destination sidecar hands them to its app; to
// a host outside the mesh over plain TCP. AUTO_PASSTHROUGH reads the destination from the SNI itself
// (Istio's outbound_.<port>_.<subset>_.<host>) and sends the client's own mTLS to the endpoint's
// inbound port untouched. A TLS server that terminates (protocol TLS, mode SIMPLE or MUTUAL) sends the
// bytes inside the TLS the same way, to its VirtualService tcp route.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type tls from 'node:tls';
import type { GatewayTlsServer, TlsRoute, WeightedCluster } from '../../model/snapshot.js';
import { clusterName, parseClusterSni } from '../../model/snapshot.js';
import {
  accessLogWants,
  publishTcp,
  socketAddress,
  socketAddresses,
  type TcpRecord,
} from '../telemetry/events.js';
import { connectTcp, pipeSockets } from '../transport/tunnel.js';
import { keepAlive } from '../transport/keepalive.js';
import { TCP_ALPN } from './inbound.js';
import type { RoutedDeps } from './outbound.js';
import { matchSni } from './gateway-client-hello.js';

/** The first route whose sniHosts match ("*" any, "*.x" a suffix), as Envoy's filter chain match. */
export function matchTlsRoute(routes: readonly TlsRoute[], sni: string | undefined): TlsRoute | undefined {
  const any = routes.find((r) => r.sniHosts.includes('*'));
  const named = routes.map((r) => ({ route: r, sniHosts: r.sniHosts.filter((h) => h !== '*') }));
  return (
    matchSni(
      named.filter((r) => r.sniHosts.length),
      sni,
    )?.route ?? any
  );
}

export function pickWeighted(clusters: readonly WeightedCluster[]): string | undefined {
  const total = clusters.reduce((s, c) => s + c.weight, 0);
  if (total <= 0) return clusters[0]?.cluster;
  let x = Math.random() * total;
  for (const c of clusters) if ((x -= c.weight) < 0) return c.cluster;
  return clusters.at(-1)?.cluster;
}

export function passthrough(
  deps: RoutedDeps,
  server: GatewayTlsServer,
  sni: string | undefined,
  socket: net.Socket,
): void {
  let cluster: string | undefined;
  let routeName = '-';
  if (server.mode === 'AUTO_PASSTHROUGH') {
    const parsed = sni ? parseClusterSni(sni) : undefined;
    if (parsed) cluster = clusterName(parsed.port, parsed.subset || undefined, parsed.host);
  } else {
    const route = matchTlsRoute(server.tlsRoutes ?? [], sni);
    if (route) {
      routeName = route.name;
      cluster = pickWeighted(route.clusters);
    }
  }
  // AUTO_PASSTHROUGH: the client speaks mTLS to the endpoint's inbound itself.
  forwardBytes(deps, server, sni, socket, cluster, routeName, server.mode === 'AUTO_PASSTHROUGH');
}

/** A TLS server that terminated the client's TLS: the bytes inside go to its VirtualService tcp route. */
export function terminatedTcp(deps: RoutedDeps, server: GatewayTlsServer, socket: tls.TLSSocket): void {
  const route = server.tcpRoute;
  forwardBytes(
    deps,
    server,
    socket.servername || undefined,
    socket,
    route && pickWeighted(route.clusters),
    route?.name ?? '-',
    false,
  );
}

export function forwardBytes(
  deps: RoutedDeps,
  server: GatewayTlsServer,
  sni: string | undefined,
  socket: net.Socket,
  cluster: string | undefined,
  routeName: string,
  clientMtls: boolean,
): void {
  const start = performance.now();
  const startTime = Date.now();
  const downstream = socketAddresses(socket);
  const state = deps.state();
  let destination: TcpRecord['destination'] = undefined; // known once an endpoint is picked
  let upstreamLocal: string | undefined;
  // Opened and closed (Istio's TCP metrics); the close carries the access log line's values. A
  // connection that got no upstream is opened and closed with its flag (NR, UH, UF), as Envoy's TCP
  // proxy counts and logs it.
  const tcp = (
    event: 'open' | 'close',
    flags = '',
    toUp = 0,
    toClient = 0,
    upstream?: string,
    why?: string,
  ) =>
    publishTcp(() => {
      const t: TcpRecord = { reporter: 'source', event, sentBytes: toClient, receivedBytes: toUp, flags };
      if (destination) t.destination = destination;
      if (event !== 'close') return t;
      t.log = { listener: 'gateway', startTime, durationMs: performance.now() - start, downstream };
      if (cluster !== undefined) t.log.upstreamCluster = cluster;
      if (routeName !== '-') t.log.route = routeName;
      if (sni !== undefined) t.log.sni = sni;
      if (upstream !== undefined) t.log.upstreamHost = upstream;
      if (upstreamLocal !== undefined) t.log.upstreamLocalAddress = upstreamLocal;
      if (why !== undefined) t.log.upstreamTransportFailureReason = why;
      return t;
    });
  const refuse = (flags: string, upstream?: string, why?: string) => {
    socket.destroy();
    tcp('open', flags);
    tcp('close', flags, 0, 0, upstream, why);
  };
  const runtime = cluster ? state?.clusters.get(cluster) : undefined;
  if (!runtime) return refuse('NR');
  const ep = runtime.pick();
  if (!ep) return refuse('UH');
  const c = runtime.cluster;
  // Outside the mesh, or to a peer that takes no mTLS on the port: plain TCP. Otherwise our own mTLS
  // tunnel around the bytes.
  const raw = clientMtls || c.external === true || ep.plaintext === true;
  const up = keepAlive(
    raw
      ? net.connect({ port: ep.port, host: ep.address, noDelay: true })
      : connectTcp(runtime.tunnelTarget(ep, deps.identity.clientContext), TCP_ALPN),
    c.connectionPool?.tcpKeepalive,
  );
  destination = {
    service: c.service,
    port: c.port,
    ...(c.subset ? { subset: c.subset } : {}),
    identity: ep.identity,
    instance: ep.instance,
    labels: ep.labels,
  };
  const upstream = `${ep.address}:${ep.port}`;
  let connected = false;
  up.once(raw ? 'connect' : 'secureConnect', () => {
    connected = true;
    if (accessLogWants.upstreamLocalAddress) upstreamLocal = socketAddress(up.localAddress, up.localPort);
    tcp('open');
    runtime.started(ep);
    pipeSockets(
      socket,
      up,
      (toUp, toClient) => {
        runtime.finished(ep);
        tcp('close', '', toUp, toClient, upstream);
      },
      c.connectionPool?.tcpIdleTimeoutMs,
    );
    socket.resume();
  });
  up.once('error', (e: NodeJS.ErrnoException) => {
    if (connected) return; // from here on, pipeSockets owns errors
    up.destroy();
    refuse('UF', upstream, `connect_error:_${e.code ?? e.message.replace(/\s+/g, '_')}`);
  });
}
