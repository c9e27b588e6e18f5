// Access log lines in the spirit of Envoy's default format, so a failed request explains itself:
// [START] "METHOD PATH PROTOCOL" STATUS FLAGS DURATION_MS "UPSTREAM_HOST" CLUSTER ROUTE
import { performance } from 'node:perf_hooks';
import type { RequestCtx } from '../http/context.js';

export function accessLogLine(direction: string, ctx: RequestCtx): string {
  const d = Math.round(performance.now() - ctx.start);
  const r = ctx.req;
  return (
    `[${new Date().toISOString()}] ${direction} "${r.method} ${ctx.path || r.url} HTTP/${r.httpVersion}" ` +
    `${ctx.status ?? 0} ${ctx.flags || '-'} ${d} "${ctx.authority || '-'}" "${ctx.upstreamHost ?? '-'}" ` +
    `${ctx.cluster?.cluster.name ?? '-'} ${ctx.route?.route.name ?? '-'}`
  );
}
