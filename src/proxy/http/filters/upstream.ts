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
  passTrailers,
  type PipeEvents,
  type Trailers,
  type UpstreamResponse,
} from '../../upstream/response.js';
import { backoffMs, isRetriable, type AttemptOutcome } from '../../upstream/retry.js';
import type { ClusterRuntime } from '../../upstream/cluster.js';
import type { Endpoint, RetryPolicy } from '../../../model/snapshot.js';
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
    if (!cluster.limits.tryAcquire())
      return localReply(ctx, 503, 'upstream overflow: connection pool limit reached', 'UO', deps.onDone);
    cluster.budget.recordRequest();
    const call = new UpstreamCall(ctx, deps, cluster, a.retry, hash, useH2, h1First, a.timeoutMs);
    // The body streams to the attempt as it arrives and is kept (up to a limit) for retries and mirrors.
    ctx.body = RequestBody.start(ctx.req, RETRY_BUFFER_LIMIT);
    sendMirrors(ctx, deps);
    call.attempt(0, undefined);
  };
}

const noop = (): void => {};

/**
 * One request on its way upstream: its attempts, the overall timeout, and the answer's body (as
 * PipeEvents). One object per request with shared methods, where closures per request (done, the
 * close listener, each attempt, the answer's relay) and node's `once` wrapper made ~0.9 KB of garbage.
 */
class UpstreamCall implements PipeEvents {
  private finished = false;
  private released = false;
  private overall: NodeJS.Timeout | undefined = undefined;
  private current: Cancellable | undefined = undefined;
  private readonly method: string;
  private readonly parsed: readonly string[] | undefined;
  private readonly timeouts: { perTryTimeoutMs?: number; connectTimeoutMs: number };

  constructor(
    private readonly ctx: RequestCtx,
    private readonly deps: PipelineDeps,
    private readonly cluster: ClusterRuntime,
    private readonly retry: RetryPolicy | undefined,
    private readonly hash: number | undefined,
    private readonly useH2: boolean,
    private readonly h1First: boolean,
    timeoutMs: number | undefined,
  ) {
    this.method = ctx.req.method ?? 'GET';
    this.parsed = parsedLines(ctx.req);
    // The same for every attempt: built once (without a spread, which costs a map lookup per request).
    this.timeouts = {
      // Istio's default connect timeout is 10 s: a peer that accepts TCP but never finishes the TLS
      // handshake (a stalled process) must fail the attempt, not hang the request.
      connectTimeoutMs: cluster.cluster.connectionPool?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    };
    if (retry?.perTryTimeoutMs) this.timeouts.perTryTimeoutMs = retry.perTryTimeoutMs;
    // 'close' comes once: `on` rather than `once`, which wraps the listener in two more objects.
    ctx.res.on('close', () => this.closed());
    if (timeoutMs) this.overall = setTimeout(() => this.timedOut(), timeoutMs);
  }

  attempt(n: number, avoid: Endpoint | undefined): void {
    if (this.finished) return;
    const { ctx, cluster } = this;
    const ep = cluster.pick(avoid, this.hash);
    if (!ep) {
      localReply(ctx, 503, 'no healthy upstream', 'UH', noop);
      return this.done();
    }
    ctx.endpoint = ep;
    ctx.attempts = n + 1;
    ctx.upstreamHost = `${ep.address}:${ep.port}`;
    const headers = n === 0 ? ctx.headers : { ...ctx.headers, 'x-envoy-attempt-count': String(n + 1) };
    cluster.started(ep);
    // Targets are shared between requests (pipeline.ts): a request-specific setting goes on a copy.
    const shared = this.deps.target(cluster, ep, this.useH2);
    const target = this.h1First ? { ...shared, h1First: true } : shared;
    this.current = sendAttempt(
      target,
      { method: this.method, path: ctx.upstreamPath, headers, body: ctx.body!, parsed: this.parsed },
      this.timeouts,
      (o, res) => this.settled(n, ep, o, res),
    );
  }

  /** Attempt `n` to `ep` ended: answer, retry, or fail. */
  private settled(n: number, ep: Endpoint, o: AttemptOutcome, res: UpstreamResponse | undefined): void {
    const { ctx, cluster, retry } = this;
    cluster.finished(ep);
    if (this.finished) return void res?.discard();
    cluster.record(ep, o.kind === 'response' ? o.status : 503);
    const canRetry =
      retry !== undefined && n < retry.attempts && ctx.body!.replayable && isRetriable(retry, o, this.method);
    if (canRetry) {
      if (!cluster.budget.tryRetry() || !cluster.limits.tryRetry()) {
        addFlag(ctx, 'URX'); // out of retry budget: answer with what we have
      } else {
        res?.discard();
        setTimeout(
          () => {
            cluster.limits.retryDone();
            this.attempt(n + 1, ep);
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
      isRetriable(retry, o, this.method)
    ) {
      addFlag(ctx, 'URX');
    }
    if (res) return this.respond(res, o.kind === 'response' ? o.grpcStatus : undefined);
    if (o.kind === 'connect-failure' && o.reason) ctx.transportFailure = o.reason;
    const f = failure(o);
    localReply(ctx, f.status, f.body, f.flag, noop);
    this.done();
  }

  /** `grpcStatus`: the answer's headers' grpc-status, as the attempt's outcome read it. */
  private respond(up: UpstreamResponse, grpcStatus: number | undefined): void {
    const ctx = this.ctx;
    ctx.responseStart = performance.now();
    if (up.upstreamLocal !== undefined) ctx.upstreamLocalAddress = up.upstreamLocal;
    const h = endToEnd(up.headers);
    for (const e of ctx.responseEdits) applyHeaderEdits(h, e);
    if (ctx.flags) h['x-weft-response-flags'] = ctx.flags;
    ctx.status = up.status;
    if (grpcStatus !== undefined) ctx.grpcStatus = grpcStatus;
    if (up.endedWithHeaders && respondHeadersOnly(ctx.res, ctx.status, h)) {
      up.discard();
      return this.done();
    }
    answerParsed(ctx.res, up.parsed);
    ctx.res.writeHead(ctx.status, h);
    up.pipeTo(ctx.res, this);
  }

  /** The downstream response closed: finished, or the client left (DC) before it was. */
  private closed(): void {
    if (this.released) return; // whatever the response type, the pool's slot is given back once
    this.released = true;
    this.cluster.limits.release();
    if (this.finished) return;
    this.current?.destroy();
    addFlag(this.ctx, 'DC');
    this.ctx.status ??= 499;
    this.done();
  }

  private timedOut(): void {
    if (this.finished) return;
    this.current?.destroy();
    localReply(this.ctx, 504, 'upstream request timeout', 'UT', noop);
    this.done();
  }

  private done(): void {
    this.finished = true;
    if (this.overall) clearTimeout(this.overall);
    this.ctx.body?.release();
    this.deps.onDone(this.ctx);
  }

  // ---- PipeEvents: how the answer's body went ----

  data(n: number): void {
    this.ctx.responseBytes += n;
  }

  // Trailers (gRPC's status) go on before the downstream response is ended.
  trailers(t: Trailers): void {
    const g = passTrailers(this.ctx.res, t);
    if (g !== undefined) this.ctx.grpcStatus = g;
  }

  end(): void {
    this.done();
  }

  error(): void {
    addFlag(this.ctx, 'UC');
    abortResponse(this.ctx.res);
    this.done();
  }
}

function isGrpc(ctx: RequestCtx): boolean {
  return String(ctx.req.headers['content-type'] ?? '').startsWith('application/grpc');
}
