// A proxy: sidecar (outbound + inbound) or gateway. This is its agent, as pilot-agent is Envoy's: it
// gets the certificate, holds the push stream, serves admin and metrics, probes the app and reports
// readiness. The data path (data-plane.ts) runs in this process, or with `concurrency` > 1 in that many
// worker processes (workers/); either way each snapshot is compiled and swapped in whole, or NACKed.
import type net from 'node:net';
import type { ProxySnapshot } from '../model/snapshot.js';
import type { Logger } from '../lib/logger.js';
import { spiffeId } from '../lib/spiffe.js';
import { ControlClient } from './control/client.js';
import { WorkloadIdentity } from './identity/certificates.js';
import type { TokenSource } from './identity/token-source.js';
import { createAdminServer } from './listeners/admin.js';
import { channelTapSource, type TapSource } from './listeners/tap.js';
import { AppProber } from './health/app-probe.js';
import { closeNow } from './listeners/tracked.js';
import { controlMetrics } from './telemetry/metrics.js';
import { createMetricsServer } from './telemetry/metrics-server.js';
import { Exposition, type ExpositionFormat } from './telemetry/prom-text.js';
import { processMetrics } from './telemetry/process-metrics.js';
import { DataPlane, listen } from './data-plane.js';
import type { WorkerPool } from './workers/pool.js';

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
  /** A new bootstrap token when the certificate is no longer accepted (identity/token-source.ts). */
  reissueToken?: TokenSource;
  bind: string; // loopback by default: local mode shares one host
  outboundPort: number;
  inboundPort: number;
  adminPort: number;
  /** Prometheus metrics listener on loopback (Istio's 15020); 0 = any free port. */
  metricsPort?: number;
  appHost: string;
  appPorts: Record<number, number>; // container port -> where the app really listens
  /** The proxy's own output for access logs (`/dev/stdout`): one or more lines joined by '\n', no final
   *  newline. Absent: no access log. With workers, each writes its lines to its own (inherited) stdout. */
  accessLog?: (lines: string) => void;
  /** Data-plane worker processes sharing the listeners (Envoy's --concurrency); 1 = all in this process. */
  concurrency?: number;
  log: Logger;
}

export class Proxy {
  readonly identity = new WorkloadIdentity();
  private snapshot: ProxySnapshot | undefined;
  private control!: ControlClient;
  private readonly servers: net.Server[] = [];
  /** The data path: in this process, or in worker processes (--concurrency). */
  private plane: DataPlane | undefined;
  private pool: WorkerPool | undefined;
  private prober: AppProber | undefined;
  private firstSnapshot!: Promise<void>;
  ports = { outbound: 0, inbound: 0, admin: 0, metrics: 0 };

  constructor(private readonly opts: ProxyOptions) {}

  current(): ProxySnapshot | undefined {
    return this.snapshot;
  }

  async start(): Promise<void> {
    const o = this.opts;
    let resolveFirst!: () => void;
    this.firstSnapshot = new Promise((r) => (resolveFirst = r));
    this.control = new ControlClient({
      address: o.controlPlane,
      rootPem: o.rootPem,
      ...(o.token ? { token: o.token } : {}),
      ...(o.reissueToken ? { reissueToken: o.reissueToken } : {}),
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

    // The data path opens its listeners only now that there is a certificate to serve.
    let tapSource: TapSource;
    const concurrency = o.concurrency ?? 1;
    if (concurrency > 1) {
      // The worker pool's code loads only for --concurrency > 1: most proxies run one data plane.
      const { WorkerPool } = await import('./workers/pool.js');
      const pool = new WorkerPool({
        concurrency,
        identity: this.identity,
        log: o.log,
        settings: {
          name: o.workload,
          kind: o.kind,
          bind: o.bind,
          outboundPort: o.outboundPort,
          inboundPort: o.inboundPort,
          appHost: o.appHost,
          appPorts: o.appPorts,
          accessLog: o.accessLog !== undefined,
        },
      });
      this.pool = pool;
      await pool.start();
      Object.assign(this.ports, pool.ports);
      tapSource = pool;
    } else {
      const plane = new DataPlane({
        kind: o.kind,
        identity: this.identity,
        bind: o.bind,
        outboundPort: o.outboundPort,
        inboundPort: o.inboundPort,
        appHost: o.appHost,
        appPorts: o.appPorts,
        accessLog: o.accessLog ?? (() => {}),
        control: () => this.control.stats(),
        log: o.log,
      });
      this.plane = plane;
      await plane.start();
      Object.assign(this.ports, plane.ports);
      tapSource = channelTapSource(() => this.snapshot?.proxy);
    }

    const admin = createAdminServer({
      snapshot: () => this.snapshot,
      tapSource,
      identity: this.identity,
      appReady: () => this.prober?.ready ?? false,
      controlConnected: () => this.control.connected,
      quit: () => void this.stop().then(() => process.exit(0)),
    });
    this.servers.push(admin);
    this.ports.admin = await listen(admin, o.adminPort, '127.0.0.1');
    const metricsServer = createMetricsServer((format) => this.renderMetrics(format));
    this.servers.push(metricsServer);
    this.ports.metrics = await listen(metricsServer, o.metricsPort ?? 15020, '127.0.0.1');

    this.control.updateHello({
      inbound: { address: o.bind, port: this.ports.inbound },
      adminPort: this.ports.admin,
      metricsPort: this.ports.metrics,
    });
    this.control.start();
    await this.firstSnapshot;

    this.prober = new AppProber(
      () => {
        const probe = this.snapshot?.inbound.probe;
        if (probe) return { host: o.appHost, port: o.appPorts[probe.port] ?? probe.port, path: probe.path };
        const first = this.snapshot?.inbound.containerPorts[0];
        return first === undefined ? undefined : { host: o.appHost, port: o.appPorts[first] ?? first };
      },
      (ready) => {
        o.log.info(ready ? 'app is ready' : 'app is not ready');
        this.control.reportHealth(ready);
      },
    );
    this.prober.start();
  }

  /** Every data plane applies the snapshot, or it is NACKed (throws) and the old one stays. */
  private async apply(s: ProxySnapshot): Promise<void> {
    if (this.pool) await this.pool.apply(s);
    else await this.plane?.apply(s);
    this.snapshot = s;
    const listeners = this.plane?.gatewayAddresses();
    this.opts.log.info('applied config', {
      version: s.version,
      clusters: s.clusters.length,
      ...(listeners ? { listeners: listeners.join(',') } : {}),
      ...(this.pool ? { workers: this.opts.concurrency } : {}),
    });
  }

  /** One scrape: the data plane's, or with workers the sum of theirs plus the agent's own figures. */
  private async renderMetrics(format: ExpositionFormat): Promise<string> {
    if (!this.pool) return this.plane?.renderMetrics(format) ?? new Exposition(format).text();
    const own = new Exposition(format);
    controlMetrics(own, this.control.stats(), this.snapshot?.version);
    processMetrics(own);
    const texts = [own.text(), ...(await this.pool.metrics(format))];
    return (await import('./workers/merge-metrics.js')).mergeExpositions(texts, format);
  }

  async stop(): Promise<void> {
    this.prober?.stop();
    this.control?.close();
    await Promise.all([...this.servers.map((s) => closeNow(s)), this.plane?.stop(), this.pool?.stop()]);
  }
}
