// HTTP requests arriving at the inbound listener, over mTLS or (where PeerAuthentication allows it)
// plaintext: find the service port, check mTLS mode, rate limit, then the security gate (path
// normalization, JWT, AuthorizationPolicy), and only then the app, on loopback, with the caller's
// verified identity in x-forwarded-client-cert.
import http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { InboundRoute } from '../../model/snapshot.js';
import { portMode } from '../../model/security.js';
import { endToEnd } from '../http/headers.js';
import { forward, sendLocalReply, type ForwardResult, type ForwardTarget } from '../http/forward.js';
import {
  httpRequests,
  socketAddresses,
  type DownstreamSocket,
  type RequestRecord,
} from '../telemetry/events.js';
import { whenUpgradeEnds } from '../http/upgraded.js';
import { hasBody, peekBody } from '../http/body.js';
import { injectServerSpan, startServerSpan } from '../telemetry/tracing.js';
import type { H2Sessions } from '../transport/h2-sessions.js';
import { APP_POOL_IDLE_MS } from './idle.js';
import { H1Pools } from '../upstream/h1-pools.js';
import { upgradeToApp } from '../transport/tunnel.js';
import { limiter, RATE_LIMITED_BODY } from '../ratelimit/limiters.js';
import { decodePeerMetadata, PEER_METADATA_HEADER } from '../telemetry/peer-metadata.js';
import { connOf, inboundRoute, type InboundConn, type InboundReq } from './inbound-conn.js';
import type { InboundDeps } from './inbound.js';
import type { GateHttpRequest, GateOutcome } from '../security/gate-types.js';
import { denyReply } from '../security/deny-reply.js';

type Res = http.ServerResponse | http2.Http2ServerResponse;

const XFCC = 'x-forwarded-client-cert';

export function createInboundHttp(deps: InboundDeps, appH2: H2Sessions) {
  const appPools = new H1Pools({ idleTimeoutMs: APP_POOL_IDLE_MS });
  // One target per app port and protocol, made once: the pools then find their pool by the object
  // rather than by a key string built per request (0.5-1.2% of a sidecar's samples on the outbound).
  const appTargets = new Map<number, ForwardTarget[]>();
  const appTarget = (port: number, h2: boolean): ForwardTarget => {
    let t = appTargets.get(port);
    if (!t) {
      const base = {
        host: deps.appHost,
        port,
        address: `${deps.appHost}:${port}`,
        plain: true as const,
        pools: appPools,
      };
      appTargets.set(port, (t = [base, { ...base, h2: appH2 }]));
    }
    return t[h2 ? 1 : 0]!;
  };
  const spiffeId = () => deps.state()!.snapshot.proxy.spiffeId;

  /** Route and mTLS mode; on plaintext to a STRICT port the connection is reset, as Istio does. */
  const admit = (req: InboundReq, conn: InboundConn, host: string): InboundRoute | 'reset' | undefined => {
    const state = deps.state();
    const route = inboundRoute(state, conn.sni, host);
    if (!conn.mtls && state) {
      const mode = route
        ? portMode(state.snapshot.security.mtls, route.targetPort)
        : state.snapshot.security.mtls.mode;
      if (mode === 'STRICT') return 'reset';
    }
    return route;
  };

  const shared: InboundShared = { deps, appTarget, spiffeId };
  const request = (req: InboundReq, res: Res) => {
    const start = performance.now();
    const conn = connOf(req);
    const host = String(req.headers[':authority'] ?? req.headers.host ?? '-');
    const peerMeta = conn.mtls ? decodePeerMetadata(req.headers[PEER_METADATA_HEADER]) : undefined;
    const route = admit(req, conn, host);
    if (route === 'reset') {
      if ('stream' in req) req.stream.session?.destroy();
      else req.socket.destroy();
      return;
    }
    const trace = startServerSpan(req.headers, conn.sourceIp);
    const x = new InboundExchange(shared, req, res, conn, host, start, peerMeta, route, trace);
    if (!route) {
      sendLocalReply(res, 404, `this workload serves no ${conn.sni || host}`, 'NR');
      return x.log(404, 'NR');
    }
    const state = deps.state()!;
    const rl = state.snapshot.inbound.rateLimit;
    if (rl && !limiter(rl, 'inbound').tryTake()) {
      sendLocalReply(res, 429, RATE_LIMITED_BODY, 'RL');
      return x.log(429, 'RL');
    }
    const outcome = state.gate.checkHttp(gateRequest(req, conn, host, route, true));
    if ('then' in outcome)
      outcome.then(
        (o) => x.toApp(o),
        () => {
          // A client that left while its body was read for the check: nothing to answer (Envoy's DC).
          if (req.destroyed && !req.readableEnded) return x.log(499, 'DC');
          sendLocalReply(res, 500, 'authorization check failed', 'UAEX');
          x.log(500, 'UAEX');
        },
      );
    else x.toApp(outcome);
  };

  // WebSocket and other upgrades: the same checks, then the app's 101 and a byte pipe.
  const upgrade = (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const conn = connOf(req);
    const host = String(req.headers.host ?? '-');
    const route = admit(req, conn, host);
    if (route === 'reset') return socket.destroy();
    if (!route) return socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    // One request record per upgrade, as for any request: when the app refused it, or, once upgraded,
    // when the stream ends (as Envoy logs it), with the bytes that crossed it.
    const start = performance.now();
    const log = (status: number, flags = '', upstreamHost?: string) => {
      if (status === 101) {
        const answered = performance.now();
        const downstream = socketAddresses(socket);
        return whenUpgradeEnds(socket, head, (received, sent) =>
          publish(status, flags, upstreamHost, answered, downstream, received, sent),
        );
      }
      publish(status, flags, upstreamHost, upstreamHost ? performance.now() : undefined, socket, 0, 0);
    };
    const publish = (
      status: number,
      flags: string,
      upstreamHost: string | undefined,
      answered: number | undefined,
      downstream: DownstreamSocket,
      received: number,
      sent: number,
    ) => {
      if (!httpRequests.hasSubscribers) return;
      const rec = inboundRecord(req, conn, host, start, status, flags);
      rec.requestBytes = received;
      rec.responseBytes = sent;
      rec.downstream = downstream;
      rec.destination = { service: route.service, port: route.port };
      rec.requestDurationMs = 0; // an upgrade request has no body: it ended with its headers
      if (downstream !== socket && conn.sni) rec.requestedServerName = conn.sni; // a closed socket forgets it
      if (upstreamHost !== undefined) rec.upstreamHost = upstreamHost;
      if (answered !== undefined) rec.responseDurationMs = answered - start;
      httpRequests.publish(rec);
    };
    const go = (outcome: GateOutcome) => {
      if (!outcome.ok) {
        socket.end(
          `HTTP/1.1 ${outcome.status} ${http.STATUS_CODES[outcome.status] ?? ''}\r\ncontent-length: ${Buffer.byteLength(outcome.body)}\r\n` +
            `content-type: text/plain\r\n\r\n${outcome.body}`,
        );
        return log(outcome.status, outcome.flags);
      }
      const headers: http.OutgoingHttpHeaders = { ...req.headers };
      for (const h of outcome.removeHeaders) delete headers[h];
      for (const [k, v] of outcome.setHeaders) headers[k] = v;
      if (conn.mtls) headers[XFCC] = `By=${spiffeId()};URI=${conn.peer}`;
      else if (XFCC in headers) delete headers[XFCC];
      req.url = outcome.target;
      const port = deps.appPort(route.targetPort);
      upgradeToApp(req, socket, head, { host: deps.appHost, port, headers }, (s) =>
        log(s, '', `${deps.appHost}:${port}`),
      );
    };
    const outcome = deps.state()!.gate.checkHttp(gateRequest(req, conn, host, route));
    if ('then' in outcome) outcome.then(go, () => socket.destroy());
    else go(outcome);
  };

  return { request, upgrade };
}

/** What every request on the listener shares. */
interface InboundShared {
  deps: InboundDeps;
  appTarget: (port: number, h2: boolean) => ForwardTarget;
  spiffeId: () => string;
}

/**
 * One request admitted on the inbound listener: on to the app once the gate allows it, and its record
 * once it ended. One object per request with shared methods, where closures per request (the record's,
 * the gate's continuation) and their scope made ~0.4 KB of garbage.
 */
class InboundExchange {
  constructor(
    private readonly shared: InboundShared,
    private readonly req: InboundReq,
    private readonly res: Res,
    private readonly conn: InboundConn,
    private readonly host: string,
    private readonly start: number,
    private readonly peerMeta: ReturnType<typeof decodePeerMetadata> | undefined,
    private readonly route: InboundRoute | undefined,
    private readonly trace: ReturnType<typeof startServerSpan>,
  ) {}

  /** The request's record: metrics, traces and access logs subscribe to it (telemetry/access-log/logger.ts). */
  log(status: number, flags: string, r?: ForwardResult, path?: string): void {
    if (!httpRequests.hasSubscribers) return;
    const { req, route, trace, peerMeta, start } = this;
    const rec = inboundRecord(req, this.conn, this.host, start, status, flags);
    rec.path = path ?? req.url ?? '/';
    if (String(req.headers['content-type'] ?? '').startsWith('application/grpc')) rec.protocol = 'grpc';
    rec.requestBytes = r?.requestBytes ?? 0;
    rec.responseBytes = r?.responseBytes ?? 0;
    rec.responseHeaders = this.res.getHeaders();
    rec.downstream = req.socket;
    if (r?.grpcStatus !== undefined) rec.grpcStatus = r.grpcStatus;
    if (peerMeta) rec.peerMetadata = peerMeta;
    if (route) rec.destination = { service: route.service, port: route.port };
    if (trace) rec.trace = trace;
    if (r) {
      rec.upstreamHost = r.upstreamHost;
      if (r.transportFailure) rec.upstreamTransportFailureReason = r.transportFailure;
      if (r.requestEnd !== undefined) rec.requestDurationMs = r.requestEnd === 0 ? 0 : r.requestEnd - start;
      if (r.responseStart !== undefined) rec.responseDurationMs = r.responseStart - start;
      if (r.upstreamLocal !== undefined) rec.upstreamLocalAddress = r.upstreamLocal;
    } else if (!hasBody(req)) rec.requestDurationMs = 0; // a local reply to a request without a body
    httpRequests.publish(rec);
  }

  /** The gate's answer: denied here, or on to the app. */
  toApp(outcome: GateOutcome): void {
    const { req, res, conn, trace } = this;
    const route = this.route!;
    if (!outcome.ok) {
      denyReply(req, res, outcome);
      return this.log(outcome.status, outcome.flags);
    }
    const headers = endToEnd(req.headers, PEER_METADATA_HEADER); // that one is for the proxies, not the app
    for (const h of outcome.removeHeaders) delete headers[h];
    for (const [k, v] of outcome.setHeaders) headers[k] = v;
    headers.host = this.host;
    // Only a verified peer identity reaches the app; a plaintext client cannot forge one.
    if (conn.mtls) headers[XFCC] = `By=${this.shared.spiffeId()};URI=${conn.peer}`;
    else if (XFCC in headers) delete headers[XFCC];
    // A mesh peer (an ingress gateway that terminated HTTPS) knows the original scheme; others do not.
    if (!conn.mtls || headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http';
    if (trace) injectServerSpan(headers, trace, route.targetPort);
    for (const [k, v] of outcome.responseHeaders) res.setHeader(k, v);
    const h2 = route.protocol === 'grpc' || route.protocol === 'http2';
    const target = outcome.target;
    forward(
      req,
      res,
      this.shared.appTarget(this.shared.deps.appPort(route.targetPort), h2),
      { path: target, headers },
      (r) => this.log(r.status, r.flags, r, target),
    );
  }
}

/** What the security gate is told about a request on this listener. */
/** What every inbound request record says: the request, its caller, when it started and how it ended. */
function inboundRecord(
  req: InboundReq,
  conn: InboundConn,
  host: string,
  start: number,
  status: number,
  flags: string,
): RequestRecord {
  const now = performance.now();
  return {
    reporter: 'destination',
    listener: 'inbound',
    startTime: Date.now() - (now - start),
    durationMs: now - start,
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    authority: host,
    protocol: 'http',
    httpVersion: req.httpVersion,
    status,
    flags,
    requestBytes: 0,
    responseBytes: 0,
    requestHeaders: req.headers,
    peerIdentity: conn.peer,
  };
}

function gateRequest(
  req: InboundReq,
  conn: InboundConn,
  host: string,
  route: InboundRoute,
  withBody = false,
): GateHttpRequest {
  return {
    // Only an ext-authz provider with includeRequestBodyInCheck calls it; the bytes it reads are put
    // back, so forward() still streams the whole body to the app. Upgrades carry no body to read.
    readBody: withBody ? (max) => peekBody(req, max) : undefined,
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    host,
    headers: req.headers,
    peer: conn.peer,
    sourceIp: conn.sourceIp,
    destinationIp: conn.destinationIp,
    destinationPort: route.targetPort,
    sni: conn.sni,
  };
}
