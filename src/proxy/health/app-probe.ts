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

export class AppProber {
  private timer: NodeJS.Timeout | undefined;
  private last: boolean | undefined;

  constructor(
    private readonly target: () => ProbeTarget | undefined,
    private readonly onChange: (ready: boolean) => void,
    private readonly periodMs = 1000,
  ) {}

  start(): void {
    const tick = async () => {
      const t = this.target();
      const ok = t ? await probeOnce(t) : true;
      if (ok !== this.last) {
        this.last = ok;
        this.onChange(ok);
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
