// A proxy process: sidecar (outbound + inbound) or gateway. It gets its certificate, opens its
// listeners, applies snapshots from the control plane as they come, probes its app and reports
// readiness. Each snapshot is compiled into a ProxyState and swapped in whole.
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ProxySnapshot } from '../model/snapshot.js';
import type { Logger } from '../lib/logger.js';
import { spiffeId } from '../lib/spiffe.js';
import { ControlClient } from './control/client.js';
import { WorkloadIdentity } from './identity/certificates.js';
import { ProxyState } from './state.js';
import { createInboundServer } from './listeners/inbound.js';
import { createOutboundServer } from './listeners/outbound.js';
import { GatewayListeners } from './listeners/gateways.js';
import { createAdminServer } from './listeners/admin.js';
import { AppProber } from './health/app-probe.js';
import { closeNow, track } from './listeners/tracked.js';
import { ProxyMetrics } from './telemetry/metrics.js';
import { createMetricsServer } from './telemetry/metrics-server.js';
import { Exposition } from './telemetry/prom-text.js';
import { Tracer, withTracingMetrics } from './telemetry/tracing.js';
import { AccessLogs } from './telemetry/access-log/logger.js';

export interface ProxyOptions {
  id: string;
  workload: string;
  namespace: string;
  serviceAccount: string;
  kind: 'sidecar' | 'gateway';
  trustDomain: string;
  controlPlane: string; // host:port
  rootPem: string;
  token?: string;
  bind: string; // loopback by default: local mode shares one host
  outboundPort: number;
  inboundPort: number;
  adminPort: number;
  /** Prometheus metrics listener on loopback (Istio's 15020); 0 = any free port. */
  metricsPort?: number;
  appHost: string;
  appPorts: Record<number, number>; // container port -> where the app really listens
  /** The proxy's own output for access logs (`/dev/stdout`): one or more lines joined by '\n', no final newline. */
  accessLog: (lines: string) => void;
  log: Logger;
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  track(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export class Proxy {
  readonly identity = new WorkloadIdentity();
  private state: ProxyState | undefined;
  private control!: ControlClient;
  private readonly servers: net.Server[] = [];
  private gateways: GatewayListeners | undefined;
  private prober: AppProber | undefined;
  private firstSnapshot!: Promise<void>;
  private metrics: ProxyMetrics | undefined;
  private tracer: Tracer | undefined;
  /** Access logs (Telemetry / MeshConfig); undefined when telemetry is off. */
  private accessLogs: AccessLogs | undefined;
  ports = { outbound: 0, inbound: 0, admin: 0, metrics: 0 };

  constructor(private readonly opts: ProxyOptions) {}

  current(): ProxySnapshot | undefined {
    return this.state?.snapshot;
  }

  async start(): Promise<void> {
    const o = this.opts;
    const getState = () => this.state;
    let resolveFirst!: () => void;
    this.firstSnapshot = new Promise((r) => (resolveFirst = r));
    this.control = new ControlClient({
      address: o.controlPlane,
      rootPem: o.rootPem,
      ...(o.token ? { token: o.token } : {}),
      spiffeId: spiffeId(o.trustDomain, o.namespace, o.serviceAccount),
      hello: {
        id: o.id,
        workload: o.workload,
        namespace: o.namespace,
        kind: o.kind,
        inbound: { address: o.bind, port: 0 },
      },
      identity: this.identity,
      onSnapshot: async (s) => {
        await this.apply(s);
        resolveFirst();
      },
      log: o.log.child('xds'),
    });
    await this.control.bootstrap();

    const admin = createAdminServer({
      state: getState,
      identity: this.identity,
      appReady: () => this.prober?.ready ?? false,
      controlConnected: () => this.control.connected,
      quit: () => void this.stop().then(() => process.exit(0)),
    });
    this.servers.push(admin);
    this.ports.admin = await listen(admin, o.adminPort, '127.0.0.1');

    // WEFT_PROXY_TELEMETRY=off: no metrics, access log or tracing at all (nothing subscribes, so no
    // request record is even built): the baseline bench/telemetry.ts measures their cost against.
    const telemetryOff = process.env.WEFT_PROXY_TELEMETRY === 'off';
    const accessLog = telemetryOff ? () => {} : o.accessLog;
    // Metrics: subscribe before any listener carries traffic, serve on loopback like the admin port.
    const metrics = new ProxyMetrics({
      state: getState,
      control: () => this.control.stats(),
      certificateNotAfter: () => this.identity.notAfter(),
    });
    if (!telemetryOff) metrics.start();
    this.metrics = metrics;
    // Tracing: spans from the same records, exported in the background (telemetry/tracing.ts).
    const tracer = new Tracer({
      snapshot: () => this.state?.snapshot,
      outbound: () => (this.ports.outbound ? { host: '127.0.0.1', port: this.ports.outbound } : undefined),
      address: o.bind,
      log: (m) => o.log.warn(m),
    });
    if (!telemetryOff) tracer.start();
    this.tracer = tracer;
    // Access logs: another subscriber of the request records, compiled per snapshot (apply).
    if (!telemetryOff) this.accessLogs = new AccessLogs({ stdout: o.accessLog, warn: (m) => o.log.warn(m) });
    const metricsServer = createMetricsServer((format) =>
      withTracingMetrics(metrics.render(format), tracer, new Exposition(format)),
    );
    this.servers.push(metricsServer);
    this.ports.metrics = await listen(metricsServer, o.metricsPort ?? 15020, '127.0.0.1');

    const routed = { identity: this.identity, state: getState, log: accessLog };
    if (o.kind === 'sidecar') {
      const inbound = createInboundServer({
        identity: this.identity,
        state: getState,
        appHost: o.appHost,
        appPort: (p) => o.appPorts[p] ?? p,
        log: accessLog,
      });
      const outbound = createOutboundServer(routed);
      this.servers.push(inbound, outbound);
      this.ports.inbound = await listen(inbound, o.inboundPort, o.bind);
      this.ports.outbound = await listen(outbound, o.outboundPort, '127.0.0.1');
    } else {
      this.gateways = new GatewayListeners(routed, o.log.child('gateway'));
    }

    this.control.updateHello({
      inbound: { address: o.bind, port: this.ports.inbound },
      adminPort: this.ports.admin,
      metricsPort: this.ports.metrics,
    });
    this.control.start();
    await this.firstSnapshot;

    this.prober = new AppProber(
      () => {
        const probe = this.state?.snapshot.inbound.probe;
        if (probe) return { host: o.appHost, port: o.appPorts[probe.port] ?? probe.port, path: probe.path };
        const first = this.state?.snapshot.inbound.containerPorts[0];
        return first === undefined ? undefined : { host: o.appHost, port: o.appPorts[first] ?? first };
      },
      (ready) => {
        o.log.info(ready ? 'app is ready' : 'app is not ready');
        this.control.reportHealth(ready);
      },
    );
    this.prober.start();
  }

  /** Compile, open any new gateway ports, then swap. Throws to NACK; the old state stays. */
  private async apply(s: ProxySnapshot): Promise<void> {
    const logs = this.accessLogs?.prepare(s);
    const next = new ProxyState(s, this.state, {
      outbound: () => (this.ports.outbound ? { host: '127.0.0.1', port: this.ports.outbound } : undefined),
    });
    if (this.gateways) await this.gateways.prepare(next);
    const previous = this.state;
    this.state = next;
    if (logs) this.accessLogs?.commit(logs);
    previous?.gate.close();
    this.gateways?.prune(next);
    this.opts.log.info('applied config', {
      version: s.version,
      clusters: s.clusters.length,
      ...(this.gateways ? { listeners: this.gateways.addresses().join(',') } : {}),
    });
  }

  async stop(): Promise<void> {
    this.prober?.stop();
    this.metrics?.stop();
    this.control?.close();
    this.gateways?.close();
    await Promise.all(this.servers.map((s) => closeNow(s)));
    this.accessLogs?.stop(); // writes what is batched
    await this.tracer?.stop(); // sends what is queued, for 2 s at most
  }
}
