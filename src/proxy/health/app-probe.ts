// Runs the workload's readiness probe against the app (HTTP GET, 2xx/3xx = ready), as kubelet would,
// and reports changes. With no probe configured the app is ready once its port accepts connections.
import http from 'node:http';
import net from 'node:net';

export interface ProbeTarget {
  host: string;
  port: number;
  path?: string; // undefined = TCP check
}

export function probeOnce(t: ProbeTarget, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    if (t.path === undefined) {
      const s = net.connect(t.port, t.host);
      s.setTimeout(timeoutMs, () => {
        s.destroy();
        resolve(false);
      });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      return;
    }
    const req = http.get(
      { host: t.host, port: t.port, path: t.path, timeout: timeoutMs, agent: false },
      (res) => {
        res.resume();
        const c = res.statusCode ?? 0;
        resolve(c >= 200 && c < 400);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * Kubernetes semantics: ready after one success, not ready only after `failureThreshold` (3) failures
 * in a row, so one slow probe on a busy machine does not pull the endpoint out of every load balancer.
 */
export class AppProber {
  private timer: NodeJS.Timeout | undefined;
  private last: boolean | undefined;
  private failures = 0;

  constructor(
    private readonly target: () => ProbeTarget | undefined,
    private readonly onChange: (ready: boolean) => void,
    private readonly periodMs = 1000,
    private readonly failureThreshold = 3,
  ) {}

  start(): void {
    const tick = async () => {
      const t = this.target();
      const ok = t ? await probeOnce(t) : true;
      this.failures = ok ? 0 : this.failures + 1;
      // Until the first success the app is simply not ready yet; after it, only repeated failures count.
      const ready = ok || (this.last === true && this.failures < this.failureThreshold);
      if (ready !== this.last) {
        this.last = ready;
        this.onChange(ready);
      }
      this.timer = setTimeout(() => void tick(), this.periodMs);
    };
    void tick();
  }

  get ready(): boolean {
    return this.last ?? false;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
