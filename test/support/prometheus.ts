// A real Prometheus (Debian package `prometheus`) for tests: started on a free loopback port with a
// config and rules written to a temp folder, queried through its HTTP API, stopped with bounded waits.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../src/local/ports.js';
import { waitFor } from './weft.js';

export const PROMETHEUS_MISSING =
  'prometheus is not installed (Debian: apt-get install prometheus; .ci/run installs it)';

export function hasPrometheus(): boolean {
  return spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  value: string;
}

export class Prometheus {
  output = '';
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  /** Writes prometheus.yml and rules.yml into `dir`, checks them with promtool when present, starts. */
  static async start(dir: string, config: string, rules: string): Promise<Prometheus> {
    await mkdir(join(dir, 'tsdb'), { recursive: true });
    await writeFile(join(dir, 'prometheus.yml'), config);
    await writeFile(join(dir, 'rules.yml'), rules);
    const check = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], {
      encoding: 'utf8',
    });
    if (check.status !== null && check.status !== 0 && !check.error)
      throw new Error(`promtool check config failed:\n${check.stdout}${check.stderr}`);
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const prom = new Prometheus(child, `http://127.0.0.1:${port}`);
    try {
      await waitFor(
        'prometheus to be ready',
        async () => {
          if (child.exitCode !== null) throw new Error(`prometheus exited:\n${prom.output}`);
          return (await fetch(`${prom.url}/-/ready`)).status === 200;
        },
        30_000,
      );
    } catch (e) {
      await prom.stop();
      throw e;
    }
    return prom;
  }

  async query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: Sample[] } };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
    return body.data!.result;
  }

  /** The value of a query that returns one sample, or undefined when it returns none. */
  async scalar(expr: string): Promise<number | undefined> {
    const r = await this.query(expr);
    return r.length ? Number(r[0]!.value[1]) : undefined;
  }

  async alerts(): Promise<Alert[]> {
    const body = (await (await fetch(`${this.url}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } };
    return body.data.alerts;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}
