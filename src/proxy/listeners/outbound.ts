// Outbound and gateway listeners: plain HTTP in (from the app on loopback, or from clients at the edge),
// routed by the pipeline, and out over mTLS to the chosen peer proxy.
import http from 'node:http';
import https from 'node:https';
import type { RequestCtx } from '../http/context.js';
import { buildPipeline } from '../http/pipeline.js';
import { performance } from 'node:perf_hooks';
import { accessLogLine } from '../telemetry/access-log.js';
import { publishRequest } from '../telemetry/events.js';
import { routedRecord } from '../telemetry/records.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import type { ProxyState } from '../state.js';
import type { RouteTable } from '../http/router.js';

export interface RoutedDeps {
  identity: WorkloadIdentity;
  state: () => ProxyState | undefined;
  log: (line: string) => void;
}

const EMPTY = new Map();

/** Builds the request handler shared by the outbound listener and every gateway listener. */
export function createRoutedHandler(
  deps: RoutedDeps,
  direction: 'outbound' | 'gateway',
): (req: http.IncomingMessage, res: http.ServerResponse, routes: RouteTable) => void {
  // One keep-alive pool for all peers: Node keys sockets by host:port:servername, so each peer and
  // service port gets its own connections, reused across requests. Clusters with connection limits
  // bring their own pool.
  const meshAgent = new https.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 60_000 });
  return buildPipeline({
    clusters: () => deps.state()?.clusters ?? EMPTY,
    target: (cluster, ep) => ({
      host: ep.address,
      port: ep.port,
      agent: cluster.agent ?? meshAgent,
      tls: {
        secureContext: deps.identity.clientContext,
        servername: cluster.cluster.sni,
        checkServerIdentity: cluster.identityCheck(ep),
      },
    }),
    onDone: (ctx: RequestCtx) => {
      deps.log(accessLogLine(direction, ctx));
      publishRequest(() => routedRecord(ctx, direction, performance.now()));
    },
  });
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
