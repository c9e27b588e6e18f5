// Long-running helper processes of the benchmark (nginx, HAProxy, `weft up`): started pinned to a CPU set
// with `taskset`, output straight to a log file in the run's temp dir (not through our event loop), and
// stopped by pid (SIGTERM, then SIGKILL). Every daemon started here is remembered, so one `stopAll()` in a
// finally block or signal handler ends them all.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { waitExit } from './proc.js';

export interface Daemon {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** The end of its log, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

const running = new Set<Daemon>();

/**
 * Starts `cmd args` under `taskset -c cpus` (taskset execs the command, so the pid is the daemon's own).
 * `cpus` undefined: not pinned.
 */
export function startDaemon(
  name: string,
  cmd: string,
  args: string[],
  o: { cpus?: string; logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Daemon {
  const fd = openSync(o.logFile, 'a');
  const [file, argv] = o.cpus ? ['taskset', ['-c', o.cpus, cmd, ...args]] : [cmd, args];
  let child: ChildProcess;
  try {
    child = spawn(file, argv, { stdio: ['ignore', fd, fd], env: o.env ?? process.env, cwd: o.cwd });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  const d: Daemon = {
    name,
    pid: child.pid,
    child,
    logFile: o.logFile,
    tail: () => {
      try {
        return readFileSync(o.logFile, 'utf8').slice(-4000);
      } catch {
        return '';
      }
    },
    stop: async () => {
      running.delete(d);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await waitExit(child, 10_000);
    },
  };
  running.add(d);
  return d;
}

/** Stops every daemon still running, newest first. */
export async function stopAll(): Promise<void> {
  for (const d of [...running].reverse()) await d.stop();
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects if `d` exits first. */
export async function waitPort(port: number, d: Daemon, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (d.child.exitCode !== null || d.child.signalCode !== null)
      throw new Error(`${d.name} exited (code ${d.child.exitCode}):\n${d.tail()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`${d.name}: nothing listening on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
