// The last step: send the request to a peer proxy, with the route's retries, per-try and overall
// timeouts, circuit breakers and outlier detection, then stream the answer back with the response
// header edits. Envoy's flags say how it ended: UH, UO, UF, UC, UT, URX, DC.
import { performance } from 'node:perf_hooks';
import type { Handler, PipelineDeps } from '../pipeline.js';
import type { RequestCtx } from '../context.js';
import { addFlag } from '../context.js';
import { parsedLines } from '../../http1/request.js';
import { answerParsed } from '../../http1/response.js';
import { endToEnd } from '../headers.js';
import { applyHeaderEdits } from '../header-edits.js';
import { localReply } from '../local-reply.js';
import { RETRY_BUFFER_LIMIT, RequestBody } from '../body.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, sendAttempt, type Cancellable } from '../../upstream/attempt.js';
import {
  abortResponse,
  type PipeEvents,
  type Trailers,
  type UpstreamResponse,
} from '../../upstream/response.js';
import { backoffMs, isRetriable, type AttemptOutcome } from '../../upstream/retry.js';
import { sendMirrors } from './mirror.js';
import { hashKey } from '../hash-key.js';
import { respondHeadersOnly } from '../trailers-only.js';
import { PEER_METADATA_HEADER } from '../../telemetry/peer-metadata.js';

/**
 * WEFT_MESH_PROTOCOL=h2 multiplexes HTTP/1.1 traffic between proxies over HTTP/2 too. Off by default:
 * it exists so `npm run bench` can compare both transports in one run (bench/README.md).
 */
const MESH_H2 = process.env.WEFT_MESH_PROTOCOL === 'h2';
/**
 * WEFT_MESH_H2C_UPSTREAM=h1 sends HTTP/2 clients' plain HTTP requests (not gRPC) to HTTP ports on the
 * HTTP/1.1 pool while it has room, overflowing onto the HTTP/2 session (attempt.ts, H1_FIRST_LIMIT),
 * as Envoy does without h2UpgradePolicy. Off by default: measured side by side it saved no CPU over
 * the session, and without the overflow it fell over under load (bench/README.md).
 */
const H2C_UPSTREAM_H1 = process.env.WEFT_MESH_H2C_UPSTREAM === 'h1';

function failure(o: AttemptOutcome): { status: number; flag: string; body: string } {
  switch (o.kind) {
    case 'timeout':
      return { status: 504, flag: 'UT', body: 'upstream request timeout' };
    case 'connect-failure':
      return {
        status: 503,
        flag: 'UF',
        body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
      };
    default:
      return {
        status: 503,
        flag: 'UC',
        body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
      };
  }
}

export function upstream(deps: PipelineDeps): Handler {
  return (ctx) => {
    const a = ctx.route!.route.action;
    if (a.kind !== 'forward') return;
    const cluster = ctx.cluster!;
    const retry = a.retry;
    // Mesh peers learn who calls (peer metadata exchange); hosts outside the mesh learn nothing.
    const meta = cluster.cluster.external ? undefined : deps.peerMetadata?.();
    if (meta) ctx.headers[PEER_METADATA_HEADER] = meta;
    // `delete` is a runtime call even for a name that is not there, which is almost always.
    else if (PEER_METADATA_HEADER in ctx.headers) delete ctx.headers[PEER_METADATA_HEADER];
    const hash = cluster.cluster.hashPolicy ? hashKey(ctx, cluster.cluster.hashPolicy) : undefined;
    // HTTP/2 upstream for HTTP/2 clients (gRPC needs its trailers), for HTTP/2 or gRPC services, and
    // for clusters an h2UpgradePolicy upgrades (the compiler sets it only inside the mesh; outbound.ts
    // builds h2c/h2 targets only toward peer proxies for plain HTTP clusters anyway). Upgrades and
    // CONNECT are tunnels (outbound.ts) and never come here.
    const useH2 =
      MESH_H2 ||
      cluster.cluster.h2Upgrade === true ||
      ctx.req.httpVersion === '2.0' ||
      cluster.cluster.protocol === 'grpc' ||
      cluster.cluster.protocol === 'http2';
    const h1First =
      H2C_UPSTREAM_H1 &&
      !MESH_H2 &&
      cluster.cluster.h2Upgrade !== true &&
      ctx.req.httpVersion === '2.0' &&
      cluster.cluster.protocol !== 'grpc' &&
      cluster.cluster.protocol !== 'http2' &&
      !isGrpc(ctx);
    const method = ctx.req.method ?? 'GET';
    const parsed = parsedLines(ctx.req);
    let finished = false;
    let overall: NodeJS.Timeout | undefined;
    let current: Cancellable | undefined;
    const done = () => {
      finished = true;
      if (overall) clearTimeout(overall);
      ctx.body?.release();
      deps.onDone(ctx);
    };
    if (!cluster.limits.tryAcquire())
      return localReply(ctx, 503, 'upstream overflow: connection pool limit reached', 'UO', deps.onDone);
    cluster.budget.recordRequest();
    ctx.res.once('close', () => {
      cluster.limits.release();
      if (!finished) {
        current?.destroy();
        addFlag(ctx, 'DC');
        ctx.status ??= 499;
        done();
      }
    });
    if (a.timeoutMs) {
      overall = setTimeout(() => {
        if (finished) return;
        current?.destroy();
        localReply(ctx, 504, 'upstream request timeout', 'UT', () => {});
        done();
      }, a.timeoutMs);
    }

    // The same for every attempt: built once (without a spread, which costs a map lookup per request).
    const timeouts: { perTryTimeoutMs?: number; connectTimeoutMs: number } = {
      // Istio's default connect timeout is 10 s: a peer that accepts TCP but never finishes the TLS
      // handshake (a stalled process) must fail the attempt, not hang the request.
      connectTimeoutMs: cluster.cluster.connectionPool?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    };
    if (retry?.perTryTimeoutMs) timeouts.perTryTimeoutMs = retry.perTryTimeoutMs;

    const attempt = (n: number, avoid?: import('../../../model/snapshot.js').Endpoint) => {
      if (finished) return;
      const ep = cluster.pick(avoid, hash);
      if (!ep) {
        localReply(ctx, 503, 'no healthy upstream', 'UH', () => {});
        return done();
      }
      ctx.endpoint = ep;
      ctx.attempts = n + 1;
      ctx.upstreamHost = `${ep.address}:${ep.port}`;
      const headers = n === 0 ? ctx.headers : { ...ctx.headers, 'x-envoy-attempt-count': String(n + 1) };
      cluster.started(ep);
      // Targets are shared between requests (pipeline.ts): a request-specific setting goes on a copy.
      const shared = deps.target(cluster, ep, useH2);
      const target = h1First ? { ...shared, h1First: true } : shared;
      current = sendAttempt(
        target,
        { method, path: ctx.upstreamPath, headers, body: ctx.body!, parsed },
        timeouts,
        (o, res) => {
          cluster.finished(ep);
          if (finished) return void res?.discard();
          cluster.record(ep, o.kind === 'response' ? o.status : 503);
          const canRetry =
            retry !== undefined &&
            n < retry.attempts &&
            ctx.body!.replayable &&
            isRetriable(retry, o, method);
          if (canRetry) {
            if (!cluster.budget.tryRetry() || !cluster.limits.tryRetry()) {
              addFlag(ctx, 'URX'); // out of retry budget: answer with what we have
            } else {
              res?.discard();
              setTimeout(
                () => {
                  cluster.limits.retryDone();
                  attempt(n + 1, ep);
                },
                backoffMs(retry, n),
              );
              return;
            }
          } else if (
            retry &&
            n >= retry.attempts &&
            n > 0 &&
            o.kind === 'response' &&
            isRetriable(retry, o, method)
          ) {
            addFlag(ctx, 'URX');
          }
          if (res) return respond(ctx, res, done);
          if (o.kind === 'connect-failure' && o.reason) ctx.transportFailure = o.reason;
          const f = failure(o);
          localReply(ctx, f.status, f.body, f.flag, () => {});
          done();
        },
      );
    };

    // The body streams to the attempt as it arrives and is kept (up to a limit) for retries and mirrors.
    ctx.body = RequestBody.start(ctx.req, RETRY_BUFFER_LIMIT);
    sendMirrors(ctx, deps);
    attempt(0);
  };
}

function isGrpc(ctx: RequestCtx): boolean {
  return String(ctx.req.headers['content-type'] ?? '').startsWith('application/grpc');
}

function respond(ctx: RequestCtx, up: UpstreamResponse, done: () => void): void {
  ctx.responseStart = performance.now();
  if (up.upstreamLocal !== undefined) ctx.upstreamLocalAddress = up.upstreamLocal;
  const h = endToEnd(up.headers);
  for (const e of ctx.responseEdits) applyHeaderEdits(h, e);
  if (ctx.flags) h['x-weft-response-flags'] = ctx.flags;
  ctx.status = up.status;
  const grpc = up.headers['grpc-status'];
  if (grpc !== undefined) ctx.grpcStatus = Number(grpc);
  if (up.endedWithHeaders && respondHeadersOnly(ctx.res, ctx.status, h)) {
    up.discard();
    return done();
  }
  answerParsed(ctx.res, up.parsed);
  ctx.res.writeHead(ctx.status, h);
  up.pipeTo(ctx.res, new Relay(ctx, done));
}

/** How the answer's body went (one object per request, its methods shared, not four closures). */
class Relay implements PipeEvents {
  constructor(
    private readonly ctx: RequestCtx,
    readonly end: () => void,
  ) {}

  data(n: number): void {
    this.ctx.responseBytes += n;
  }

  // Trailers (gRPC's status) go on before the downstream response is ended.
  trailers(t: Trailers): void {
    if (t['grpc-status'] !== undefined) this.ctx.grpcStatus = Number(t['grpc-status']);
    if (Object.keys(t).length) this.ctx.res.addTrailers(t as Record<string, string>);
  }

  error(): void {
    addFlag(this.ctx, 'UC');
    abortResponse(this.ctx.res);
    this.end();
  }
}
