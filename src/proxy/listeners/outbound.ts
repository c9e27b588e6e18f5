// Outbound and gateway listeners: HTTP/1.1 or HTTP/2 (h2c) in, from the app on loopback or from clients
// at the edge, routed by the pipeline, and out over mTLS to the chosen peer proxy. WebSocket upgrades
// and HTTP CONNECT (opaque TCP) take the same route decision and then become byte tunnels.
import http from 'node:http';
import http2 from 'node:http2';
import type https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { RequestCtx } from '../http/context.js';
import { buildPipeline, type PipelineDeps } from '../http/pipeline.js';
import {
  accessLogWants,
  httpRequests,
  publishTcp,
  socketAddress,
  socketAddresses,
} from '../telemetry/events.js';
import { addTimings } from '../http/timings.js';
import { whenUpgradeEnds } from '../http/upgraded.js';
import { routedRecord } from '../telemetry/records.js';
import { MESH_POOL_IDLE_MS, longIdle } from './idle.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import type { ProxyState } from '../state.js';
import type { RouteTable } from '../http/router.js';
import { H2Sessions } from '../transport/h2-sessions.js';
import { oncePer } from '../../lib/once-per.js';
import { isoTime } from '../../lib/time.js';
import { sniffingServer } from '../transport/sniff.js';
import { createH1Server, type RequestHandler } from '../http1/server.js';
import { createH2cServer } from '../http2/server.js';
import { connectTcp, pipeSockets, relayUpgrade } from '../transport/tunnel.js';
import { keepAlive } from '../transport/keepalive.js';
import { localReply } from '../http/local-reply.js';
import { TCP_ALPN } from './inbound.js';
import type { Cluster, Endpoint } from '../../model/snapshot.js';
import { Passthrough } from '../upstream/passthrough.js';
import type { AttemptTarget } from '../upstream/attempt.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { H1Pools } from '../upstream/h1-pools.js';
import { originationError } from '../upstream/origination.js';

// node:https is only for upgrades (WebSocket) over TLS, required on the first one: a sidecar whose app
// never opens one would otherwise keep it in memory for nothing.
const load = createRequire(import.meta.url);
let httpsModule: typeof https | undefined;

export interface RoutedDeps {
  identity: WorkloadIdentity;
  state: () => ProxyState | undefined;
  log: (line: string) => void;
}

const EMPTY = new Map();

/** An endpoint's targets: without and with HTTP/2. */
interface TargetSlot {
  h1: AttemptTarget | undefined;
  h2: AttemptTarget | undefined;
}

type Handle = (req: http.IncomingMessage, res: http.ServerResponse, routes: RouteTable) => void;

export interface RoutedHandlers {
  request: Handle;
  /** WebSocket and other HTTP/1.1 upgrades. */
  upgrade: (req: http.IncomingMessage, socket: net.Socket, head: Buffer, routes: RouteTable) => void;
  /** HTTP CONNECT host:port — an opaque TCP stream to a mesh service. */
  connect: (req: http.IncomingMessage, socket: net.Socket, head: Buffer, routes: RouteTable) => void;
}

/** Builds the handlers shared by the outbound listener and every gateway listener. */
export function createRoutedHandlers(
  deps: RoutedDeps,
  direction: 'outbound' | 'gateway',
  scheme: 'http' | 'https' = 'http',
): RoutedHandlers {
  // Keep-alive pools for all peers, one per peer address, service port (SNI) and identity, reused
  // across requests. Clusters with connection limits bring their own pools. HTTP/2 traffic shares one
  // session per peer.
  const meshPools = new H1Pools({ idleTimeoutMs: MESH_POOL_IDLE_MS });
  const h2 = new H2Sessions();
  const onDone = (ctx: RequestCtx) => {
    // Metrics, traces and access logs subscribe to this record (telemetry/access-log/logger.ts); built
    // only when someone listens, without a closure per request.
    if (httpRequests.hasSubscribers)
      httpRequests.publish(addTimings(routedRecord(ctx, direction, performance.now()), ctx));
  };
  // Why TLS origination failed (wrong CA, name mismatch, unreadable files), in the proxy log: at most
  // once a minute per cluster and reason, since every request would hit it again.
  const firstInAMinute = oncePer(60_000);
  const originationFailed = (c: Cluster, ep: Endpoint, err: NodeJS.ErrnoException) => {
    if (!firstInAMinute(`${c.name}|${err.code ?? err.message}`)) return;
    deps.log(
      `[${isoTime(Date.now())}] ${direction} TLS origination to ${ep.address}:${ep.port} ` +
        `(${c.name}, sni ${c.originateTls?.sni ?? '-'}) failed: ${err.message}${err.code ? ` [${err.code}]` : ''}`,
    );
  };
  const base: PipelineDeps = {
    clusters: () => deps.state()?.clusters ?? EMPTY,
    target: attemptTargets(deps.identity, meshPools, h2, originationFailed),
    onDone,
    peerMetadata: () => deps.state()?.peerMetadata,
    ...(direction === 'gateway' ? { gate: () => deps.state()?.gate } : {}),
    // Sidecars only: hosts outside the registry (meshConfig.outboundTrafficPolicy); gateways answer 404 NR.
    ...(direction === 'outbound'
      ? { outboundPolicy: () => deps.state()?.snapshot.outbound.policy, passthrough: new Passthrough() }
      : {}),
    scheme,
  };
  const tunnels = new WeakMap<http.IncomingMessage, { socket: net.Socket; head: Buffer }>();
  const tunnelEnd = (ctx: RequestCtx) => {
    const t = tunnels.get(ctx.req)!;
    const cluster = ctx.cluster!;
    const ep = cluster.pick();
    if (!ep) return localReply(ctx, 503, 'no healthy upstream', 'UH', onDone);
    ctx.endpoint = ep;
    ctx.upstreamHost = `${ep.address}:${ep.port}`;
    const target = base.target(cluster, ep, false);
    if (target.error) {
      target.onConnectError?.(target.error);
      return localReply(ctx, 503, `upstream connect error: ${target.error.message}`, 'UF', onDone);
    }
    ctx.res.detachSocket(t.socket);
    if (ctx.req.method === 'CONNECT') {
      // Mesh peers get an mTLS stream (ALPN weft-tcp); hosts outside the mesh a plain TCP connection, or
      // TLS the proxy originates (DestinationRule SIMPLE/MUTUAL) around the client's bytes.
      const external = target.plain === true;
      const up = keepAlive(
        external
          ? net.connect(target.port, target.host)
          : cluster.origination
            ? tls.connect({ host: target.host, port: target.port, ...target.tls })
            : connectTcp(cluster.tunnelTarget(ep, deps.identity.clientContext), TCP_ALPN),
        cluster.cluster.connectionPool?.tcpKeepalive,
      );
      let established = false;
      up.once(external ? 'connect' : 'secureConnect', () => {
        established = true;
        t.socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (t.head.length) up.write(t.head);
        ctx.status = 200;
        ctx.responseStart = performance.now();
        ctx.tunnelDownstream = socketAddresses(t.socket);
        if (accessLogWants.upstreamLocalAddress)
          ctx.upstreamLocalAddress = socketAddress(up.localAddress, up.localPort);
        const c = cluster.cluster;
        const destination = {
          service: c.service,
          port: c.port,
          ...(c.subset ? { subset: c.subset } : {}),
          identity: ep.identity,
          instance: ep.instance,
          labels: ep.labels,
        };
        const tcp = (event: 'open' | 'close', received = 0, sent = 0) =>
          publishTcp(() => ({
            reporter: 'source',
            event,
            sentBytes: sent,
            receivedBytes: received,
            flags: '',
            destination,
          }));
        tcp('open');
        // client → service is the request direction (received), service → client the response (sent).
        // The tunnel is logged as its CONNECT request, with the tunnel's bytes, as Envoy's HTTP
        // connection manager logs a CONNECT it terminates.
        pipeSockets(
          t.socket,
          up,
          (toUp, toClient) => {
            tcp('close', toUp, toClient);
            ctx.tunnelReceived = toUp + t.head.length; // the head went up before the pipe
            ctx.responseBytes = toClient;
            onDone(ctx);
          },
          c.connectionPool?.tcpIdleTimeoutMs,
        );
      });
      up.once('error', (err: NodeJS.ErrnoException) => {
        if (established) return; // the tunnel is up: pipeSockets ends it
        if (cluster.origination) target.onConnectError?.(err);
        t.socket.end(
          'HTTP/1.1 503 Service Unavailable\r\nx-weft-response-flags: UF\r\ncontent-length: 0\r\n\r\n',
        );
        ctx.status = 503;
        ctx.flags = 'UF';
        ctx.transportFailure = `connect_error:_${err.code ?? err.message.replace(/\s+/g, '_')}`;
        onDone(ctx);
      });
      return;
    }
    const headers = { ...ctx.headers, connection: 'upgrade', upgrade: String(ctx.req.headers.upgrade ?? '') };
    const upReq = target.plain
      ? http.request({
          host: target.host,
          port: target.port,
          method: ctx.req.method,
          path: ctx.upstreamPath,
          headers,
          agent: false,
        })
      : (httpsModule ??= load('node:https') as typeof https).request({
          host: target.host,
          port: target.port,
          method: ctx.req.method,
          path: ctx.upstreamPath,
          headers,
          agent: false,
          ...target.tls,
          ALPNProtocols: ['http/1.1'],
        } as https.RequestOptions);
    // The upstream's answer (101, or a refusal) starts the response; a failed connection has none.
    const answered = () => {
      ctx.responseStart = performance.now();
      if (accessLogWants.upstreamLocalAddress)
        ctx.upstreamLocalAddress = socketAddress(upReq.socket?.localAddress, upReq.socket?.localPort);
    };
    upReq.once('response', answered).once('upgrade', answered);
    relayUpgrade(upReq, t.socket, t.head, (status) => {
      ctx.status = status;
      if (status !== 101) return onDone(ctx);
      // Logged when the upgraded stream ends, as Envoy does, with its bytes both ways.
      ctx.tunnelDownstream = socketAddresses(t.socket);
      whenUpgradeEnds(t.socket, t.head, (received, sent) => {
        ctx.tunnelReceived = received;
        ctx.responseBytes = sent;
        onDone(ctx);
      });
    });
  };
  const request = buildPipeline(base);
  const tunnel = buildPipeline({ ...base, send: tunnelEnd });
  const viaTunnel = (req: http.IncomingMessage, socket: net.Socket, head: Buffer, routes: RouteTable) => {
    socket.on('error', () => socket.destroy());
    tunnels.set(req, { socket, head });
    const res = new http.ServerResponse(req);
    res.assignSocket(socket);
    tunnel(req, res, routes);
  };
  return { request, upgrade: viaTunnel, connect: viaTunnel };
}

/**
 * How to reach an endpoint, built on first use and then shared by every request to it: building it per
 * request (object spreads, a TLS options object) showed as ~3% of a sidecar's CPU under load. Keyed by
 * the cluster runtime and endpoint objects, which snapshots replace whenever anything in them changes,
 * so stale entries go with them. The workload certificate is not in the key: a rotation makes a new
 * client context, and a target holding the old one is rebuilt (pools are keyed by context too).
 */
export function attemptTargets(
  identity: Pick<WorkloadIdentity, 'clientContext'>,
  meshPools: H1Pools,
  h2: H2Sessions,
  originationFailed: (c: Cluster, ep: Endpoint, err: NodeJS.ErrnoException) => void,
): PipelineDeps['target'] {
  const targets = new WeakMap<ClusterRuntime, WeakMap<Endpoint, TargetSlot>>();
  const buildTarget = (cluster: ClusterRuntime, ep: Endpoint, useH2: boolean): AttemptTarget => {
    const c = cluster.cluster;
    const o = cluster.origination;
    if (o) {
      // DestinationRule SIMPLE/MUTUAL: TLS to the endpoint with the rule's SNI, CAs and certificate,
      // on the cluster's own pool. A rule that cannot be applied fails the attempt (503 UF).
      const t: AttemptTarget = { host: ep.address, port: ep.port, pools: cluster.pools!, tls: o.tls ?? {} };
      if (useH2 && (c.protocol === 'grpc' || c.protocol === 'http2')) t.h2 = o.h2;
      if (o.error) t.error = originationError(o.error);
      t.onConnectError = (err) => originationFailed(c, ep, err);
      return t;
    }
    // Plaintext: hosts outside the mesh, and peers whose port does not take mTLS (auto mTLS).
    const plain = c.external === true || ep.plaintext === true;
    const t: AttemptTarget = {
      host: ep.address,
      port: ep.port,
      pools: cluster.pools ?? meshPools,
      tls: {
        secureContext: identity.clientContext,
        servername: c.sni,
        checkServerIdentity: cluster.identityCheck(ep),
      },
    };
    if (plain) t.plain = true;
    else t.key = ep.identity;
    // h2c only where the other side is known to speak it: a peer proxy, or a gRPC/HTTP/2 service.
    if (useH2 && (!c.external || c.protocol === 'grpc' || c.protocol === 'http2')) t.h2 = cluster.h2 ?? h2;
    return t;
  };
  return (cluster, ep, useH2) => {
    let byEp = targets.get(cluster);
    if (byEp === undefined) targets.set(cluster, (byEp = new WeakMap()));
    let slot = byEp.get(ep);
    if (slot === undefined) byEp.set(ep, (slot = { h1: undefined, h2: undefined }));
    let t = useH2 ? slot.h2 : slot.h1;
    // Origination targets carry the rule's own context; mesh targets ours, which rotation replaces.
    if (t === undefined || (!cluster.origination && t.tls.secureContext !== identity.clientContext)) {
      t = buildTarget(cluster, ep, useH2);
      if (useH2) slot.h2 = t;
      else slot.h1 = t;
    }
    return t;
  };
}

/** A listener that speaks HTTP/1.1 and h2c on one port, with upgrades and CONNECT. `local`: its clients
 *  are the workload's own (a sidecar's outbound port), trusted with wide HTTP/2 windows. */
export function routedServer(
  handlers: RoutedHandlers,
  routes: () => RouteTable | undefined,
  local = false,
): net.Server {
  const noConfig = (res: http.ServerResponse | http2.Http2ServerResponse) => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('proxy has no configuration yet');
  };
  const onRequest = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    const r = routes();
    if (!r) return noConfig(res);
    // The HTTP/2 compatibility request/response mirror node:http's; the pipeline uses only that surface.
    handlers.request(req as http.IncomingMessage, res as http.ServerResponse, r);
  };
  const h1 = longIdle(createH1Server(onRequest as RequestHandler));
  const tunnel =
    (kind: 'upgrade' | 'connect') => (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const r = routes();
      if (!r) return socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n');
      handlers[kind](req, socket, head, r);
    };
  h1.on('upgrade', tunnel('upgrade'));
  h1.on('connect', tunnel('connect'));
  const h2 = createH2cServer(onRequest as RequestHandler, local);
  return sniffingServer(h1, h2);
}

export function createOutboundServer(deps: RoutedDeps): net.Server {
  return routedServer(createRoutedHandlers(deps, 'outbound'), () => deps.state()?.outbound, true);
}
