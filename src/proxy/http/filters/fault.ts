// Fault injection (VirtualService fault): delay a share of requests (flag DI), abort a share with an
// HTTP or gRPC status (flag FI). Each is drawn independently, as in Envoy.
import type { Filter } from '../pipeline.js';
import { addFlag } from '../context.js';
import { localReply } from '../local-reply.js';

const hit = (pct: number) => pct >= 100 || Math.random() * 100 < pct;

export const fault: Filter = (next, deps) => (ctx) => {
  const f = ctx.route!.route.fault;
  if (!f) return next(ctx);
  const abortOrNext = () => {
    if (ctx.res.destroyed) return;
    const a = f.abort;
    if (a && hit(a.percentage)) {
      if (a.grpcStatus !== undefined) {
        // gRPC aborts are trailers-only responses: HTTP 200 with grpc-status in the headers.
        return localReply(ctx, 200, '', 'FI', deps.onDone, [
          ['content-type', 'application/grpc'],
          ['grpc-status', String(a.grpcStatus)],
          ['grpc-message', 'fault filter abort'],
        ]);
      }
      return localReply(ctx, a.httpStatus ?? 500, 'fault filter abort', 'FI', deps.onDone);
    }
    next(ctx);
  };
  if (f.delay && hit(f.delay.percentage)) {
    addFlag(ctx, 'DI');
    setTimeout(abortOrNext, f.delay.fixedDelayMs);
    return;
  }
  abortOrNext();
};
