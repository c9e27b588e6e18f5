// The per-request record the filters read and fill in, in request order. One object per request, made
// with every field present (pipeline.ts): a field added here belongs in that literal too.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Endpoint, HeaderMutation, WeightedCluster } from '../../model/snapshot.js';
import type { RouteRuntime, RouteTable } from './router.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { RequestBody } from './body.js';
import type { DownstreamSocket } from '../telemetry/events.js';

export interface RequestCtx {
  req: IncomingMessage;
  res: ServerResponse;
  start: number; // performance.now() at arrival
  routes: RouteTable;
  scheme: string;
  authority: string; // as the client sent it (lower-case)
  path: string; // path + query as the client sent it
  pathOnly: string;
  query: string;
  route?: RouteRuntime;
  /** Outgoing request: headers and path after rewrites and header edits. */
  headers: OutgoingHttpHeaders;
  upstreamPath: string;
  body?: RequestBody;
  weighted?: WeightedCluster;
  cluster?: ClusterRuntime;
  endpoint?: Endpoint;
  /** Response header edits and extra headers (CORS), applied when the response head is written. */
  responseEdits: HeaderMutation[];
  status?: number;
  flags: string; // Envoy response flags (NR, UH, UF, ...), comma-separated
  upstreamHost?: string;
  attempts: number;
  responseBytes: number;
  grpcStatus?: number;
  /** Why the last attempt could not connect (access logs). */
  transportFailure?: string;
  /** performance.now() when the upstream's response began (RESPONSE_DURATION). */
  responseStart?: number;
  /** UPSTREAM_LOCAL_ADDRESS of the answering connection, only while an access log prints it. */
  upstreamLocalAddress?: string;
  /** A CONNECT tunnel's bytes (client to upstream): the request's BYTES_RECEIVED. */
  tunnelReceived?: number;
  /** A CONNECT tunnel's client addresses, read while its socket was open (it is logged once closed). */
  tunnelDownstream?: DownstreamSocket;
}

export function addFlag(ctx: RequestCtx, flag: string): void {
  ctx.flags = ctx.flags ? `${ctx.flags},${flag}` : flag;
}
