// Traffic mirroring (VirtualService mirror/mirrors, Gateway API RequestMirror): a copy of the request
// goes to the mirror cluster with "-shadow" appended to the host, fire and forget. Its answer is
// drained and ignored, and it never delays or changes the real response (its body copy is not paced).
import type { RequestCtx } from '../context.js';
import type { PipelineDeps } from '../pipeline.js';
import { sendAttempt } from '../../upstream/attempt.js';
import { stripPort } from '../router.js';

export function shadowHost(authority: string): string {
  const host = stripPort(authority);
  return `${host}-shadow${authority.slice(host.length)}`;
}

export function sendMirrors(ctx: RequestCtx, deps: PipelineDeps): void {
  const a = ctx.route!.route.action;
  if (a.kind !== 'forward' || !a.mirrors || !ctx.body?.replayable) return;
  for (const m of a.mirrors) {
    if (m.percentage < 100 && Math.random() * 100 >= m.percentage) continue;
    const cluster = deps.clusters().get(m.cluster);
    const ep = cluster?.pick();
    if (!cluster || !ep) continue;
    const headers = { ...ctx.headers, host: shadowHost(String(ctx.headers.host ?? ctx.authority)) };
    sendAttempt(
      deps.target(cluster, ep, ctx.req.httpVersion === '2.0'),
      { method: ctx.req.method ?? 'GET', path: ctx.upstreamPath, headers, body: ctx.body, paced: false },
      { perTryTimeoutMs: 30_000 },
      (_o, res) => res?.discard(),
    );
  }
}
