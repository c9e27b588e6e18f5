// The registry of running workload instances: who is up, where its inbound listener is, and whether its
// app is ready. Proxies register over their push stream and heartbeat on it; an instance that stops
// heartbeating (crashed, partitioned) leaves the endpoint set after `ttlMs`, and one whose stream
// closes leaves at once.
import { EventEmitter } from 'node:events';

export interface Instance {
  id: string; // proxy id: "<workload>-<n>.<namespace>"
  workload: string;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  spiffeId: string;
  kind: 'sidecar' | 'gateway';
  address: string; // inbound listener host
  inboundPort: number;
  adminPort?: number;
  ready: boolean; // the app passes its readiness probe
  lastSeen: number;
  registeredAt: number;
}

export class Registry extends EventEmitter {
  private readonly instances = new Map<string, Instance>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(opts: { ttlMs?: number; now?: () => number } = {}) {
    super();
    this.ttlMs = opts.ttlMs ?? 6000;
    this.now = opts.now ?? Date.now;
  }

  start(intervalMs = 1000): void {
    this.sweeper = setInterval(() => this.sweep(), intervalMs);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  upsert(inst: Omit<Instance, 'lastSeen' | 'registeredAt'>): void {
    const now = this.now();
    const prev = this.instances.get(inst.id);
    this.instances.set(inst.id, { ...inst, lastSeen: now, registeredAt: prev?.registeredAt ?? now });
    this.emit('change');
  }

  heartbeat(id: string): void {
    const inst = this.instances.get(id);
    if (inst) inst.lastSeen = this.now();
  }

  setReady(id: string, ready: boolean): void {
    const inst = this.instances.get(id);
    if (!inst || inst.ready === ready) return;
    inst.ready = ready;
    inst.lastSeen = this.now();
    this.emit('change');
  }

  remove(id: string): void {
    if (this.instances.delete(id)) this.emit('change');
  }

  get(id: string): Instance | undefined {
    return this.instances.get(id);
  }

  list(): Instance[] {
    return [...this.instances.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Drop instances that missed heartbeats for longer than the TTL. */
  sweep(): string[] {
    const cutoff = this.now() - this.ttlMs;
    const gone: string[] = [];
    for (const [id, inst] of this.instances) {
      if (inst.lastSeen < cutoff) {
        this.instances.delete(id);
        gone.push(id);
      }
    }
    if (gone.length) this.emit('change');
    return gone;
  }
}
