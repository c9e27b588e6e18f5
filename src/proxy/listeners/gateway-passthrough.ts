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
import { publishTcp } from '../telemetry/events.js';
import { connectTcp, pipeSockets } from '../transport/tunnel.js';
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
  const state = deps.state();
  const log = (status: string, clusterName = '-', upstream = '-', extra = '') =>
    deps.log(
      `[${new Date().toISOString()}] gateway tls "${sni ?? '-'}" ${status} ${Math.round(performance.now() - start)} "${upstream}" ${clusterName} ${server.name}${extra}`,
    );
  const runtime = cluster ? state?.clusters.get(cluster) : undefined;
  if (!runtime) {
    socket.destroy();
    return log('NR', cluster);
  }
  const ep = runtime.pick();
  if (!ep) {
    socket.destroy();
    return log('UH', cluster);
  }
  const c = runtime.cluster;
  // Outside the mesh, or to a peer that takes no mTLS on the port: plain TCP. Otherwise our own mTLS
  // tunnel around the bytes.
  const raw = clientMtls || c.external === true || ep.plaintext === true;
  const up = raw
    ? net.connect(ep.port, ep.address)
    : connectTcp(
        {
          host: ep.address,
          port: ep.port,
          tls: {
            secureContext: deps.identity.clientContext,
            servername: c.sni,
            checkServerIdentity: runtime.identityCheck(ep),
          },
        },
        TCP_ALPN,
      );
  const destination = {
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
    publishTcp(() => ({
      reporter: 'source',
      event: 'open',
      sentBytes: 0,
      receivedBytes: 0,
      flags: '',
      destination,
    }));
    runtime.started(ep);
    pipeSockets(socket, up, (toUp, toClient) => {
      runtime.finished(ep);
      publishTcp(() => ({
        reporter: 'source',
        event: 'close',
        sentBytes: toClient,
        receivedBytes: toUp,
        flags: '',
        destination,
      }));
      log('-', c.name, upstream, ` ${routeName} received=${toUp} sent=${toClient}`);
    });
    socket.resume();
  });
  up.once('error', (e) => {
    if (connected) return; // from here on, pipeSockets owns errors
    socket.destroy();
    up.destroy();
    log('UF', c.name, upstream, ` ${routeName} ${e.message}`);
  });
}
