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
  cwd: string;
  log: Logger;
  onChange?: (i: Instance) => void;
}

export class LocalMesh {
  readonly instances: Instance[] = [];
  private writing = Promise.resolve();

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
    });
    const mesh = new LocalMesh(cp, o);
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
    const workloads = cp.store.list('Workload') as Workload[];
    for (const w of workloads) {
      for (let i = 0; i < (w.spec.replicas ?? 1); i++) {
        mesh.instances.push(new Instance(w, i, (inst) => mesh.changed(inst)));
      }
    }
    await Promise.all(
      mesh.instances.map((inst) => {
        const w = workloads.find(
          (x) => x.metadata.name === inst.info.workload && x.metadata.namespace === inst.info.namespace,
        )!;
        return inst.start({
          controlPlane: cp.info.discovery,
          rootCert: cp.info.rootCert,
          trustDomain: cp.info.trustDomain,
          logDir: join(o.stateDir, 'logs'),
          cwd: o.cwd,
          token: cp.tokens.issue({
            namespace: w.metadata.namespace,
            workload: w.metadata.name,
            serviceAccount: w.spec.serviceAccount ?? 'default',
            instance: inst.info.id,
          }),
        });
      }),
    );
    await mesh.writeState();
    return mesh;
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
    await Promise.all(this.instances.map((i) => i.stop()));
    await this.writeState();
    await this.cp.stop();
  }
}
