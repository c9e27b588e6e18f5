// Long-running weft processes for tests (control plane, proxies), with their output captured.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, ROOT } from './paths.js';
import { waitFor } from './weft.js';

export class Proc {
  output = '';
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  async waitOutput(re: RegExp, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      `output ${re}`,
      async () => re.test(this.output) || this.child.exitCode !== null,
      timeoutMs,
    );
    if (!re.test(this.output)) throw new Error(`process exited before ${re}:\n${this.output}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}
