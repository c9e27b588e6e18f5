// What the outbound and gateway request record carries beyond telemetry/records.ts's routedRecord:
// Envoy's REQUEST_DURATION and RESPONSE_DURATION (from the two performance.now() readings the request
// path takes: the request body's end, the upstream response's start), the upstream connection's local
// address when an access log asked for it, and a CONNECT tunnel's bytes.
import type { RequestRecord } from '../telemetry/events.js';
import { hasBody } from './body.js';
import type { RequestCtx } from './context.js';

export function addTimings(r: RequestRecord, ctx: RequestCtx): RequestRecord {
  const b = ctx.body;
  if (b === undefined) {
    // Never read (a local reply): a request without a body ended with its headers; one with a body
    // that nobody read is unknown, as in Envoy.
    if (!hasBody(ctx.req)) r.requestDurationMs = 0;
  } else if (b.ended) r.requestDurationMs = b.endedAt === undefined ? 0 : b.endedAt - ctx.start;
  if (ctx.responseStart !== undefined) r.responseDurationMs = ctx.responseStart - ctx.start;
  if (ctx.upstreamLocalAddress !== undefined) r.upstreamLocalAddress = ctx.upstreamLocalAddress;
  if (ctx.tunnelReceived !== undefined) r.requestBytes = ctx.tunnelReceived;
  if (ctx.tunnelDownstream !== undefined) r.downstream = ctx.tunnelDownstream;
  return r;
}
