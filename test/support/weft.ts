// Drives the real `weft` binary from tests: run a command to completion, or start `weft up` as a
// child process and wait until its instances are ready (from <state-dir>/instances.json).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT } from './paths.js';
import type { InstanceInfo } from '../../src/local/instance.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function weft(
  args: string[],
  opts: { stateDir?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const full = [...(opts.stateDir ? ['--state-dir', opts.stateDir] : []), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...full], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`weft ${full.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function tempDir(prefix = 'weft-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export class RunningMesh {
  output = '';
  private constructor(
    readonly child: ChildProcess,
    readonly stateDir: string,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  /** `weft up -f …` on free control-plane ports, in a fresh state directory. */
  static async up(files: string[], extra: string[] = []): Promise<RunningMesh> {
    const stateDir = await tempDir();
    const child = spawn(
      process.execPath,
      [
        CLI,
        '--state-dir',
        stateDir,
        'up',
        ...files.flatMap((f) => ['-f', f]),
        '--admin-port',
        '0',
        '--discovery-port',
        '0',
        '--ready-timeout',
        '40',
        ...extra,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const mesh = new RunningMesh(child, stateDir);
    try {
      await waitFor(
        'the mesh to be up',
        async () => mesh.output.includes('Press Ctrl-C to stop') || child.exitCode !== null,
        60_000,
      );
      if (child.exitCode !== null) throw new Error(`weft up exited:\n${mesh.output}`);
      if (!mesh.output.includes('Mesh is up'))
        throw new Error(`some workloads did not become ready:\n${mesh.output}`);
    } catch (e) {
      await mesh.stop();
      throw e;
    }
    return mesh;
  }

  async instances(): Promise<InstanceInfo[]> {
    return (
      JSON.parse(await readFile(join(this.stateDir, 'instances.json'), 'utf8')) as {
        instances: InstanceInfo[];
      }
    ).instances;
  }

  async instance(id: string): Promise<InstanceInfo> {
    const i = (await this.instances()).find((x) => x.id === id);
    if (!i) throw new Error(`no instance ${id}`);
    return i;
  }

  weft(args: string[]): Promise<RunResult> {
    return weft(args, { stateDir: this.stateDir });
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.on('exit', (code) => r(code)));
    this.child.kill('SIGINT');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(t);
    return code;
  }
}
