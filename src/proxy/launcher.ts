// Runs the workload's own process beside the proxy, as pilot-agent does for Envoy: the app starts only
// once the proxy is ready (no startup race), and when the app exits the proxy goes too (no stuck
// sidecar). A stopping proxy stops its app first.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import type { Logger } from '../lib/logger.js';

export interface LaunchOptions {
  command: string[];
  env: Record<string, string>;
  cwd?: string;
  logFile?: string; // app stdout+stderr; inherited when absent
  log: Logger;
}

export class AppLauncher {
  private child: ChildProcess | undefined;
  private stopping = false;

  constructor(private readonly o: LaunchOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the app; `onExit` runs when it exits on its own (not when we stop it). */
  start(onExit: (code: number | null, signal: NodeJS.Signals | null) => void): number {
    const [cmd, ...args] = this.o.command;
    if (!cmd) throw new Error('empty command');
    const out = this.o.logFile ? openSync(this.o.logFile, 'a') : 'inherit';
    const child = spawn(cmd, args, {
      cwd: this.o.cwd,
      env: this.o.env,
      stdio: ['ignore', out, out],
    });
    this.child = child;
    child.on('error', (e) =>
      this.o.log.error('cannot start app', { command: this.o.command.join(' '), error: e.message }),
    );
    child.on('exit', (code, signal) => {
      if (!this.stopping) onExit(code, signal);
    });
    return child.pid ?? -1;
  }

  /** SIGTERM, then SIGKILL after the grace period. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
      c.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      c.kill('SIGTERM');
    });
  }
}
