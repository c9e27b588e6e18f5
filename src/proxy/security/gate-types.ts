// The contract between listeners and the security gate (gate.ts): what a listener tells it about a
// request or connection, and what it must do with the answer.
import type { IncomingHttpHeaders } from 'node:http';

export interface GateHttpRequest {
  method: string;
  /** The request-target as received: path and query. */
  target: string;
  host: string;
  headers: IncomingHttpHeaders;
  /** Verified peer SPIFFE ID, "" on plaintext. */
  peer: string;
  sourceIp: string;
  /** The peer's port, when the listener knows it (sent to gRPC ext-authz providers). */
  sourcePort?: number;
  /** The original client when the listener knows it (a gateway: the TCP peer, as Istio's gateways with
   *  numTrustedProxies 0); otherwise the last X-Forwarded-For entry, else sourceIp. */
  remoteIp?: string;
  destinationIp: string;
  /** The workload (container) port the request is for. */
  destinationPort: number;
  sni: string;
  /** Up to `max` bytes of the body, left in place for the upstream, and whether there was more
   *  (undefined: the request has no body): for ext-authz providers with includeRequestBodyInCheck. Only
   *  called when such a provider checks the request; where a listener does not offer it, no body is sent. */
  readBody?: (max: number) => Promise<{ data: Buffer; partial: boolean } | undefined>;
}

export type GateOutcome =
  | {
      ok: true;
      /** Normalized path plus the original query: what the app receives. */
      target: string;
      /** Header changes for the upstream request (JWT outputs, ext-authz headers, token removal). */
      setHeaders: Array<[string, string]>;
      removeHeaders: string[];
      /** Extra response headers (ext-authz headersToDownstreamOnAllow). */
      responseHeaders: Array<[string, string]>;
      /** Policies that audited the request (AUDIT action), for the access log. */
      audit?: string[];
    }
  | {
      ok: false;
      status: number;
      body: string;
      /** Envoy response flag: RBAC (local policy), UAEX (external authorizer), or "" (400/401). */
      flags: string;
      headers: Array<[string, string]>;
      /** Why, in plain language, for logs and `weft authz check`. */
      reason: string;
    };

export interface GateTcpConnection {
  peer: string;
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
  sni: string;
}

export interface GateTcpDecision {
  allowed: boolean;
  reason: string;
  policy?: string;
}
