// The per-request record the filters read and fill in, in request order. One object per request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Endpoint, Route } from '../../model/snapshot.js';
import type { RouteTable } from './router.js';
import type { ClusterRuntime } from '../upstream/cluster.js';

export interface RequestCtx {
  req: IncomingMessage;
  res: ServerResponse;
  start: number; // performance.now() at arrival
  routes: RouteTable;
  authority: string;
  path: string; // path + query as sent upstream
  route?: Route;
  cluster?: ClusterRuntime;
  endpoint?: Endpoint;
  status?: number;
  flags: string; // Envoy response flags (NR, UH, UF, ...)
  upstreamHost?: string;
}
