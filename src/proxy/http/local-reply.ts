// Answers produced by the proxy itself (no route, no upstream, fault abort, redirect): the status, a
// plain-text reason, and the Envoy response flags in `x-weft-response-flags` so a user can tell why.
import type { RequestCtx } from './context.js';
import { addFlag } from './context.js';
import { sendLocalReply } from './forward.js';

export function localReply(
  ctx: RequestCtx,
  status: number,
  body: string,
  flag: string,
  onDone: (ctx: RequestCtx) => void,
  extraHeaders: Array<[string, string]> = [],
): void {
  ctx.status = status;
  if (flag) addFlag(ctx, flag);
  sendLocalReply(ctx.res, status, body, ctx.flags, extraHeaders);
  onDone(ctx);
}
