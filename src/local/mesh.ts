// Local mode: a whole mesh on one machine. The control plane runs in this process; each workload
// instance is a proxy child that runs its app. Instance state is mirrored to <stateDir>/instances.json
// for people and tests (pids, ports, logs).
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ControlPlane } from '../control-plane/server.js';
import { resourceKey, type Resource, type Workload } from '../config/types.js';
import type { Logger } from '../lib/logger.js';
import type { PluggedCaFiles } from '../control-plane/ca/material.js';
import { builtinResources } from './builtins.js';
import { Instance } from './instance.js';
import { reservePorts } from './ports.js';

export interface LocalMeshOptions {
  stateDir: string;
  resources: Resource[];
  keepState?: boolean; // keep resources applied in earlier runs (default: the files are the truth)
  discoveryPort?: number;
  adminPort?: number;
  trustDomain?: string;
  certTtlMs?: number;
  /** A plugged-in CA (--ca-cert, --ca-key, --root-cert, --cert-chain). */
  caFiles?: PluggedCaFiles;
  /** Dashboard metrics from this Prometheus; '' scrapes the proxies whatever the environment says. */
  prometheusUrl?: string;
  cwd: string;
  log: Logger;
  onChange?: (i: Instance) => void;
  /** Called once the control plane is up, before the proxies start (for live status displays). */
  onControlPlane?: (mesh: LocalMesh) => void;
}

export class LocalMesh {
  readonly instances: Instance[] = [];
  private writing = Promise.resolve();
  private reconciling = Promise.resolve();
  private stopping = false;

  private constructor(
    readonly cp: ControlPlane,
    private readonly o: LocalMeshOptions,
  ) {}

  static async start(o: LocalMeshOptions): Promise<LocalMesh> {
    const cp = await ControlPlane.start({
      stateDir: o.stateDir,
      log: o.log.child('control-plane'),
      ...(o.discoveryPort !== undefined ? { discoveryPort: o.discoveryPort } : {}),
      ...(o.adminPort !== undefined ? { adminPort: o.adminPort } : {}),
      ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}),
      ...(o.certTtlMs ? { certTtlMs: o.certTtlMs } : {}),
      ...(o.caFiles ? { caFiles: o.caFiles } : {}),
      ...(o.prometheusUrl !== undefined ? { prometheusUrl: o.prometheusUrl } : {}),
    });
    const mesh = new LocalMesh(cp, o);
    o.onControlPlane?.(mesh);
    const wanted = [...o.resources, ...builtinResources(o.resources)];
    if (!o.keepState) {
      const keep = new Set(wanted.map(resourceKey));
      await cp.store.delete(
        cp.store
          .list()
          .map(resourceKey)
          .filter((k) => !keep.has(k)),
      );
    }
    await cp.store.apply(wanted);
    cp.registry.on('change', () => mesh.syncReadiness());
    await mkdir(join(o.stateDir, 'logs'), { recursive: true });
    // Ports the config pins are bound only once their proxy starts: no app may be given one meanwhile.
    const workloads = cp.store.list('Workload') as Workload[];
    reservePorts(
      workloads.flatMap((w) => [
        w.spec.sidecar?.outboundPort,
        w.spec.sidecar?.inboundPort,
        w.spec.sidecar?.adminPort,
      ]),
    );
    // Gateway ports too (Istio servers, Gateway API listeners): the gateway binds them after apps start.
    for (const g of cp.store.list('Gateway') as Array<{ spec: Record<string, unknown> }>) {
      const servers = (g.spec.servers ?? []) as Array<{ port?: { number?: number } }>;
      const listeners = (g.spec.listeners ?? []) as Array<{ port?: number }>;
      reservePorts([...servers.map((x) => x.port?.number), ...listeners.map((l) => l.port)]);
    }
    await Promise.all(workloads.map((w) => mesh.startWorkload(w)));
    // A Gateway applied later that selects the egress gateway starts it then (and its Service follows
    // the Gateways' ports), as Istio's egress gateway Deployment would already be running.
    cp.store.on('change', () => mesh.queueBuiltins());
    await mesh.writeState();
    return mesh;
  }

  /** Starts the instances of a workload (all its replicas). */
  private async startWorkload(w: Workload): Promise<void> {
    const started: Instance[] = [];
    for (let i = 0; i < (w.spec.replicas ?? 1); i++) {
      const inst = new Instance(w, i, (x) => this.changed(x));
      this.instances.push(inst);
      started.push(inst);
    }
    const cp = this.cp;
    await Promise.all(
      started.map((inst) =>
        inst.start({
          controlPlane: cp.info.discovery,
          rootCert: cp.info.rootCert,
          trustDomain: cp.info.trustDomain,
          logDir: join(this.o.stateDir, 'logs'),
          cwd: this.o.cwd,
          issueToken: () =>
            cp.tokens.issue({
              namespace: w.metadata.namespace,
              workload: w.metadata.name,
              serviceAccount: w.spec.serviceAccount ?? 'default',
              instance: inst.info.id,
            }),
        }),
      ),
    );
  }

  private queueBuiltins(): void {
    if (this.stopping) return;
    this.reconciling = this.reconciling
      .then(() => this.reconcileBuiltins())
      .catch((e: Error) => this.o.log.error('cannot start a gateway', { error: e.message }));
  }

  /**
   * Brings the built-in gateways in line with the applied config: adds the egress gateway (Workload and
   * Service) when a Gateway selects it and starts its proxy; removes them, and stops it, when none does.
   */
  private async reconcileBuiltins(): Promise<void> {
    const store = this.cp.store;
    const managed = (r: Resource) => r.metadata.annotations?.['weft.dev/managed-by'] === 'weft-up';
    const wanted = builtinResources(store.list().filter((r) => !managed(r)));
    const keep = new Set(wanted.map(resourceKey));
    const gone = store
      .list()
      .filter((r) => managed(r) && !keep.has(resourceKey(r)))
      .map(resourceKey);
    // Each write below changes the store again; the next round finds nothing to do, so this settles.
    if (gone.length) await store.delete(gone);
    await store.apply(wanted);
    for (const key of gone) {
      const [kind, namespace, name] = key.split('/');
      if (kind !== 'Workload') continue;
      const old = this.instances.filter((i) => i.info.workload === name && i.info.namespace === namespace);
      await Promise.all(old.map((i) => i.stop()));
      this.instances.splice(0, this.instances.length, ...this.instances.filter((i) => !old.includes(i)));
    }
    for (const w of wanted.filter((r): r is Workload => r.kind === 'Workload')) {
      const { name, namespace } = w.metadata;
      if (this.instances.some((i) => i.info.workload === name && i.info.namespace === namespace)) continue;
      this.o.log.info('starting a gateway applied after start', { workload: `${name}.${namespace}` });
      await this.startWorkload(store.get('Workload', namespace, name) as Workload);
      await this.writeState();
    }
  }

  private syncReadiness(): void {
    for (const inst of this.instances) inst.markReady(this.cp.registry.get(inst.info.id)?.ready ?? false);
  }

  private changed(inst: Instance): void {
    if (inst.info.state === 'running') inst.markReady(this.cp.registry.get(inst.info.id)?.ready ?? false);
    this.o.onChange?.(inst);
    void this.writeState();
  }

  private writeState(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const file = join(this.o.stateDir, 'instances.json');
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify({ instances: this.instances.map((i) => i.info) }, null, 2));
      await rename(tmp, file);
    });
    return this.writing;
  }

  /** Listener addresses of the gateways, from the snapshot each gateway proxy was sent. */
  ingressUrls(): Array<{ url: string; gateway: string; paths: string[] }> {
    const out: Array<{ url: string; gateway: string; paths: string[] }> = [];
    for (const inst of this.instances.filter((i) => i.info.kind === 'gateway')) {
      for (const l of this.cp.push.snapshotOf(inst.info.id)?.gateways ?? []) {
        const paths = l.virtualHosts.flatMap((vh) =>
          vh.routes.flatMap((r) => r.matches.map((m) => m.path?.exact).filter((p): p is string => !!p)),
        );
        out.push({ url: `http://${l.bind}:${l.port}`, gateway: l.name, paths });
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.reconciling;
    await Promise.all(this.instances.map((i) => i.stop()));
    await this.writeState();
    await this.cp.stop();
  }
}
