// What the agent (the proxy's primary process) and its data-plane workers say to each other over
// Node's IPC channel. Everything is plain JSON: snapshots and certificates are data already.
import type { ProxySnapshot } from '../../model/snapshot.js';
import type { IdentityMaterial } from '../identity/certificates.js';
import type { ExpositionFormat } from '../telemetry/prom-text.js';
import type { TapEvent } from '../listeners/tap.js';

/** The data-plane settings a worker needs (the rest of ProxyOptions stays with the agent). */
export interface WorkerSettings {
  name: string; // for log lines: the proxy's workload
  index: number;
  kind: 'sidecar' | 'gateway';
  bind: string;
  outboundPort: number;
  inboundPort: number;
  appHost: string;
  appPorts: Record<number, number>;
  accessLog: boolean;
}

export type ToWorker =
  | { t: 'init'; settings: WorkerSettings; identity: IdentityMaterial; snapshot?: ProxySnapshot }
  | { t: 'identity'; identity: IdentityMaterial }
  | { t: 'snapshot'; seq: number; snapshot: ProxySnapshot }
  | { t: 'metrics'; seq: number; format: ExpositionFormat }
  | { t: 'tap'; on: boolean }
  | { t: 'stop' };

export type FromWorker =
  | { t: 'listening' } // its message handler is in place (IPC messages sent before that are lost)
  | { t: 'started'; ports: { outbound: number; inbound: number } }
  | { t: 'failed'; error: string }
  | { t: 'applied'; seq: number; error?: string }
  | { t: 'metrics'; seq: number; text: string }
  | { t: 'tap'; events: TapEvent[] }
  | { t: 'stopped' };
