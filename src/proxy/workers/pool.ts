// The agent's side of `weft proxy --concurrency N`: N data-plane worker processes that share the
// proxy's listeners through node:cluster (the primary accepts and hands connections round-robin, so
// load spreads even on Node 20, which has no SO_REUSEPORT). Like Envoy's worker threads, each worker
// holds its own connection pools, balancer positions and outlier state; certificates and snapshots
// come from the agent, which ACKs a snapshot only when every worker applied it. A worker that dies is
// replaced with the same ports, certificate and snapshot.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { ProxySnapshot } from '../../model/snapshot.js';
import type { Logger } from '../../lib/logger.js';
import type { IdentityMaterial, WorkloadIdentity } from '../identity/certificates.js';
import type { ExpositionFormat } from '../telemetry/prom-text.js';
import type { TapEvent, TapSource } from '../listeners/tap.js';
import type { FromWorker, ToWorker, WorkerSettings } from './messages.js';

const APPLY_TIMEOUT_MS = 30_000;
const METRICS_TIMEOUT_MS = 2_000;

interface Waiting {
  left: Set<number>; // worker indexes yet to answer
  errors: string[];
  texts: string[];
  done: () => void;
}

export interface PoolOptions {
  concurrency: number;
  settings: Omit<WorkerSettings, 'index'>;
  identity: WorkloadIdentity;
  log: Logger;
}

export class WorkerPool implements TapSource {
  private readonly workers = new Map<number, Worker>();
  private readonly waiting = new Map<number, Waiting>();
  private readonly tapping = new Set<(e: TapEvent) => void>();
  private seq = 0;
  private stopping = false;
  private last: ProxySnapshot | undefined;
  readonly ports = { outbound: 0, inbound: 0 };

  constructor(private readonly o: PoolOptions) {}

  async start(): Promise<void> {
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)), args: [] });
    // Every worker listens with the same arguments: node:cluster shares one socket per distinct
    // listen() (the Nth listen on port 0 of each worker gets the same free port), whereas a worker
    // naming the port another one got by port 0 would try to bind it again.
    for (let i = 0; i < this.o.concurrency; i++)
      Object.assign(this.ports, await this.fork(i, this.o.settings));
    this.o.identity.on('rotated', (m: IdentityMaterial) => this.broadcast({ t: 'identity', identity: m }));
  }

  private fork(
    index: number,
    s: Omit<WorkerSettings, 'index'>,
    snapshot?: ProxySnapshot,
  ): Promise<{ outbound: number; inbound: number }> {
    const w = cluster.fork();
    this.workers.set(index, w);
    return new Promise((resolve, reject) => {
      const init: ToWorker = { t: 'init', settings: { ...s, index }, identity: this.o.identity.current };
      if (snapshot) init.snapshot = snapshot;
      w.on('message', (m: FromWorker) => {
        if (m.t === 'listening') w.send(init);
        else if (m.t === 'started') resolve(m.ports);
        else if (m.t === 'failed') reject(new Error(`worker ${index}: ${m.error}`));
        else this.onMessage(index, m);
      });
      w.once('exit', (code, signal) => {
        reject(new Error(`worker ${index} exited (${signal ?? code}) before it started`));
        this.onExit(index, w, s, code, signal);
      });
    });
  }

  private onExit(
    index: number,
    w: Worker,
    s: Omit<WorkerSettings, 'index'>,
    code: number | null,
    signal: string | null,
  ) {
    if (this.workers.get(index) !== w) return;
    this.workers.delete(index);
    for (const seq of [...this.waiting.keys()]) this.answer(seq, index, `worker ${index} exited`);
    if (this.stopping) return;
    this.o.log.error('data-plane worker exited; starting another', { worker: index, code, signal });
    // The replacement applies the last snapshot before it takes a connection.
    this.fork(index, s, this.last).then(
      () => {
        if (this.tapping.size) this.send(index, { t: 'tap', on: true });
      },
      (e: unknown) =>
        this.o.log.error('cannot restart a data-plane worker', { worker: index, error: String(e) }),
    );
  }

  private onMessage(index: number, m: FromWorker): void {
    if (m.t === 'applied') this.answer(m.seq, index, m.error);
    else if (m.t === 'metrics') this.answer(m.seq, index, undefined, m.text);
    else if (m.t === 'tap') for (const e of m.events) for (const f of this.tapping) f(e);
  }

  private answer(seq: number, index: number, error?: string, text?: string): void {
    const wait = this.waiting.get(seq);
    if (!wait || !wait.left.delete(index)) return;
    if (error) wait.errors.push(`worker ${index}: ${error}`);
    if (text !== undefined) wait.texts.push(text);
    if (wait.left.size === 0) wait.done();
  }

  private send(index: number, m: ToWorker): void {
    const w = this.workers.get(index);
    if (w?.isConnected()) w.send(m);
  }

  private broadcast(m: ToWorker): void {
    for (const i of this.workers.keys()) this.send(i, m);
  }

  /** Sends one request to every worker and waits (bounded) for all answers. */
  private ask(make: (seq: number) => ToWorker, timeoutMs: number): Promise<Waiting> {
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const wait: Waiting = { left: new Set(this.workers.keys()), errors: [], texts: [], done: () => {} };
      const timer = setTimeout(() => {
        for (const i of wait.left) wait.errors.push(`worker ${i}: no answer in ${timeoutMs} ms`);
        wait.done();
      }, timeoutMs);
      wait.done = () => {
        clearTimeout(timer);
        this.waiting.delete(seq);
        resolve(wait);
      };
      this.waiting.set(seq, wait);
      if (wait.left.size === 0) return wait.done();
      this.broadcast(make(seq));
    });
  }

  /** Every worker applies the snapshot; throws (so the agent NACKs) when one could not. */
  async apply(snapshot: ProxySnapshot): Promise<void> {
    const r = await this.ask((seq) => ({ t: 'snapshot', seq, snapshot }), APPLY_TIMEOUT_MS);
    if (r.errors.length) throw new Error(r.errors.join('; '));
    this.last = snapshot;
  }

  /** Each worker's exposition (a worker that does not answer in time is left out of this scrape). */
  async metrics(format: ExpositionFormat): Promise<string[]> {
    return (await this.ask((seq) => ({ t: 'metrics', seq, format }), METRICS_TIMEOUT_MS)).texts;
  }

  subscribe(onEvent: (e: TapEvent) => void): void {
    if (this.tapping.size === 0) this.broadcast({ t: 'tap', on: true });
    this.tapping.add(onEvent);
  }

  unsubscribe(onEvent: (e: TapEvent) => void): void {
    if (this.tapping.delete(onEvent) && this.tapping.size === 0) this.broadcast({ t: 'tap', on: false });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.workers.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (!w.isConnected()) return resolve();
            const t = setTimeout(() => w.process.kill('SIGKILL'), 5000);
            w.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.send({ t: 'stop' } satisfies ToWorker);
          }),
      ),
    );
  }
}
