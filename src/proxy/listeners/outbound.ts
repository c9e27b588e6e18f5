// Outbound and gateway listeners: plain HTTP in (from the app on loopback, or from clients at the edge),
// routed by the pipeline, and out over mTLS to the chosen peer proxy.
import http from 'node:http';
import https from 'node:https';
import type { RequestCtx } from '../http/context.js';
import { buildPipeline } from '../http/pipeline.js';
import { forward } from '../http/forward.js';
import { endToEnd } from '../http/headers.js';
import { accessLogLine } from '../telemetry/access-log.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import type { ProxyState } from '../state.js';
import type { RouteTable } from '../http/router.js';

export interface RoutedDeps {
  identity: WorkloadIdentity;
  state: () => ProxyState | undefined;
  log: (line: string) => void;
}

/** Builds the request handler shared by the outbound listener and every gateway listener. */
export function createRoutedHandler(
  deps: RoutedDeps,
  direction: string,
): (req: http.IncomingMessage, res: http.ServerResponse, routes: RouteTable) => void {
  // One keep-alive pool for all peers: Node keys sockets by host:port:servername, so each peer and
  // service port gets its own connections, reused across requests.
  const meshAgent = new https.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 60_000 });
  const onDone = (ctx: RequestCtx) => deps.log(accessLogLine(direction, ctx));
  const send = (ctx: RequestCtx) => {
    const ep = ctx.endpoint!;
    const cluster = ctx.cluster!;
    const action = ctx.route!.action;
    const headers = endToEnd(ctx.req.headers);
    headers.host = ctx.authority;
    cluster.started(ep);
    forward(
      ctx.req,
      ctx.res,
      {
        secure: true,
        host: ep.address,
        port: ep.port,
        agent: meshAgent,
        tls: {
          secureContext: deps.identity.clientContext,
          servername: cluster.cluster.sni,
          checkServerIdentity: cluster.identityCheck(ep),
        },
      },
      {
        path: ctx.path,
        headers,
        ...(action.kind === 'forward' && action.timeoutMs ? { timeoutMs: action.timeoutMs } : {}),
      },
      (r) => {
        cluster.finished(ep);
        ctx.status = r.status;
        ctx.flags = r.flags;
        ctx.upstreamHost = r.upstreamHost;
        onDone(ctx);
      },
    );
  };
  return buildPipeline({ clusters: () => deps.state()?.clusters ?? new Map(), send, onDone });
}

export function createOutboundServer(deps: RoutedDeps): http.Server {
  const handle = createRoutedHandler(deps, 'outbound');
  return http.createServer({ keepAlive: true }, (req, res) => {
    const state = deps.state();
    if (!state) {
      res.writeHead(503).end('proxy has no configuration yet');
      return;
    }
    handle(req, res, state.outbound);
  });
}
