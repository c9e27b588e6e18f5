// The part of a proxy that carries traffic: listeners (sidecar inbound/outbound, or gateway listeners),
// the compiled ProxyState they read, and the telemetry fed by their request records (metrics, traces,
// access logs). A `weft proxy` runs one in its own process, or, with `--concurrency N`, one per worker
// process (workers/), all fed the same certificate and snapshots by the agent (proxy.ts).
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ProxySnapshot } from '../model/snapshot.js';
import type { Logger } from '../lib/logger.js';
import type { WorkloadIdentity } from './identity/certificates.js';
import { ProxyState, loadStateCode } from './state.js';
import { createInboundServer } from './listeners/inbound.js';
import { createOutboundServer } from './listeners/outbound.js';
import type { GatewayListeners } from './listeners/gateways.js';
import { closeNow, track } from './listeners/tracked.js';
import { whenLoaded } from '../lib/lazy-module.js';
import { ProxyMetrics, type ControlStats } from './telemetry/metrics.js';
import { Exposition, type ExpositionFormat } from './telemetry/prom-text.js';
import { loadTracingCode, Tracer, withTracingMetrics } from './telemetry/tracing.js';
import { AccessLogs } from './telemetry/access-log/logger.js';

export interface DataPlaneOptions {
  kind: 'sidecar' | 'gateway';
  identity: WorkloadIdentity;
  bind: string; // address of the inbound listener
  outboundPort: number;
  inboundPort: number;
  appHost: string;
  appPorts: Record<number, number>; // container port -> where the app really listens
  /** Access log output: one or more lines joined by '\n', no final newline. */
  accessLog: (lines: string) => void;
  /** Control stream figures for the metrics; absent in a worker (the agent reports them). */
  control?: () => ControlStats;
  log: Logger;
}

export function listen(server: net.Server, port: number, host: string): Promise<number> {
  track(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** A load of snapshot code under way: the snapshots that come after it wait for it too, in order. */
let loading: Promise<void> | undefined;

/**
 * Loads the code `snapshot` needs beyond what every proxy has: see loadStateCode (security policy,
 * clusters) and loadTracingCode. Undefined when it is loaded already and no earlier load is under way,
 * so that applying a snapshot stays synchronous.
 */
function loadSnapshotCode(snapshot: ProxySnapshot): Promise<void> | undefined {
  const p = whenLoaded([loading, loadStateCode(snapshot), loadTracingCode(snapshot)]);
  if (!p) return undefined;
  loading = p;
  const done = () => {
    if (loading === p) loading = undefined;
  };
  p.then(done, done);
  return p;
}

export class DataPlane {
  private state: ProxyState | undefined;
  private readonly servers: net.Server[] = [];
  private gateways: GatewayListeners | undefined;
  private metrics: ProxyMetrics | undefined;
  private tracer: Tracer | undefined;
  /** Access logs (Telemetry / MeshConfig); undefined when telemetry is off. */
  private accessLogs: AccessLogs | undefined;
  readonly ports = { outbound: 0, inbound: 0 };

  constructor(private readonly o: DataPlaneOptions) {}

  current(): ProxyState | undefined {
    return this.state;
  }

  /** Telemetry first (nothing may carry traffic unobserved), then the listeners. With `initial` (a
   *  worker replacing one that died) the snapshot is in force before the first connection. */
  async start(initial?: ProxySnapshot): Promise<void> {
    const o = this.o;
    const getState = () => this.state;
    // WEFT_PROXY_TELEMETRY=off: no metrics, access log or tracing at all (nothing subscribes, so no
    // request record is even built): the baseline bench/telemetry.ts measures their cost against.
    const telemetryOff = process.env.WEFT_PROXY_TELEMETRY === 'off';
    const accessLog = telemetryOff ? () => {} : o.accessLog;
    const metrics = new ProxyMetrics({
      state: getState,
      ...(o.control ? { control: o.control } : {}),
      certificateNotAfter: () => o.identity.notAfter(),
    });
    if (!telemetryOff) metrics.start();
    this.metrics = metrics;
    // Tracing: spans from the same records, exported in the background (telemetry/tracing.ts).
    const tracer = new Tracer({
      snapshot: () => this.state?.snapshot,
      outbound: () => this.outboundAddress(),
      address: o.bind,
      log: (m) => o.log.warn(m),
    });
    if (!telemetryOff) tracer.start();
    this.tracer = tracer;
    // Access logs: another subscriber of the request records, compiled per snapshot (apply).
    if (!telemetryOff) this.accessLogs = new AccessLogs({ stdout: o.accessLog, warn: (m) => o.log.warn(m) });

    const routed = { identity: o.identity, state: getState, log: accessLog };
    if (o.kind === 'gateway') {
      // Loaded by gateways only: sidecars never open gateway listeners (TLS termination, SNI passthrough).
      const { GatewayListeners } = await import('./listeners/gateways.js');
      this.gateways = new GatewayListeners(routed, o.log.child('gateway'));
    }
    if (initial) await this.apply(initial);
    if (o.kind === 'sidecar') {
      const inbound = createInboundServer({
        identity: o.identity,
        state: getState,
        appHost: o.appHost,
        appPort: (p) => o.appPorts[p] ?? p,
        log: accessLog,
      });
      const outbound = createOutboundServer(routed);
      this.servers.push(inbound, outbound);
      this.ports.inbound = await listen(inbound, o.inboundPort, o.bind);
      this.ports.outbound = await listen(outbound, o.outboundPort, '127.0.0.1');
    }
  }

  private outboundAddress(): { host: string; port: number } | undefined {
    return this.ports.outbound ? { host: '127.0.0.1', port: this.ports.outbound } : undefined;
  }

  /** Compile, open any new gateway ports, then swap. Throws to NACK; the old state stays. */
  async apply(s: ProxySnapshot): Promise<void> {
    // Code only some snapshots need loads with the first of them; usually there is nothing to wait for.
    const loading = loadSnapshotCode(s);
    if (loading) await loading;
    const logs = this.accessLogs?.prepare(s);
    const next = new ProxyState(s, this.state, { outbound: () => this.outboundAddress() });
    if (this.gateways) await this.gateways.prepare(next);
    const previous = this.state;
    this.state = next;
    if (logs) this.accessLogs?.commit(logs);
    previous?.gate.close();
    this.gateways?.prune(next);
  }

  /** Gateway listener addresses (for the log line of each applied snapshot). */
  gatewayAddresses(): string[] | undefined {
    return this.gateways?.addresses();
  }

  renderMetrics(format: ExpositionFormat): string {
    if (!this.metrics) return new Exposition(format).text();
    const extra = new Exposition(format);
    this.accessLogs?.metrics(extra); // envoyOtelAls entries exported and dropped, when a provider is used
    return withTracingMetrics(this.metrics.render(format), this.tracer, extra);
  }

  async stop(): Promise<void> {
    this.metrics?.stop();
    this.gateways?.close();
    await Promise.all(this.servers.map((s) => closeNow(s)));
    this.accessLogs?.stop(); // writes what is batched
    await this.tracer?.stop(); // sends what is queued, for 2 s at most
  }
}
