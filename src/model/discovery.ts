// The push protocol between control plane and proxies: gRPC over TLS, two methods, JSON-encoded
// messages (the snapshot is already plain JSON data). Certificate is unary; Stream is bidirectional and
// versioned like xDS: the server pushes snapshots, the proxy ACKs or NACKs each version.
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { ProxySnapshot } from './snapshot.js';

export interface CertificateRequest {
  csr: string; // PEM
  /** Bootstrap token proving which workload the caller is; omitted when renewing over mTLS. */
  token?: string;
  proxyId: string;
}
export interface CertificateResponse {
  /** PEM, leaf first, then what a peer needs to reach a root of the bundle (intermediates, cross-signed roots). */
  certChain: string[];
  /** The trust bundle as one PEM text: every root to trust, the signing root first. During a root rotation it
   * holds the old and the new root, so a proxy that reads only this field still trusts both. */
  rootCert: string;
  /** The same roots one PEM each (absent from control planes before trust bundles). */
  trustBundle?: string[];
}

/** Who the proxy says it is; the control plane checks it against the client certificate. */
export interface ProxyHello {
  type: 'hello';
  id: string;
  workload: string;
  namespace: string;
  kind: 'sidecar' | 'gateway';
  inbound: { address: string; port: number };
  adminPort?: number;
  /** Loopback port of the proxy's Prometheus endpoint (/stats/prometheus), Istio's 15020. */
  metricsPort?: number;
  /** Last version the proxy applied (after a reconnect), so an unchanged snapshot is not re-sent. */
  version?: string;
}

export type ProxyMessage =
  | ProxyHello
  | { type: 'ack'; version: string }
  | { type: 'nack'; version: string; reason: string }
  | { type: 'health'; ready: boolean }
  | { type: 'heartbeat' }
  | { type: 'trust-bundle-ack'; version: string };

/** The mesh's trust bundle, pushed on connect and whenever it changes (root rotation, end of an overlap),
 * so proxies need not wait for their next renewal. `reissueWithinMs`: the signing root changed, so renew
 * the workload certificate at a random moment within that window (spread so a fleet does not renew at once). */
export interface TrustBundleMessage {
  type: 'trust-bundle';
  version: string;
  trustBundle: string[];
  reissueWithinMs?: number;
}

export type ControlMessage =
  { type: 'snapshot'; version: string; snapshot: ProxySnapshot } | TrustBundleMessage;

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown,
};

export const DISCOVERY_SERVICE = {
  certificate: {
    path: '/weft.discovery.v1.Discovery/Certificate',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  stream: {
    path: '/weft.discovery.v1.Discovery/Stream',
    requestStream: true,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
} satisfies ServiceDefinition;

export const HEARTBEAT_INTERVAL_MS = 2000;
