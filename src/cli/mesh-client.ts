// How commands find and talk to a running mesh: --addr, then WEFT_ADDR, then <state-dir>/mesh.json
// (written by the control plane; `weft up` uses .weft/ under the working directory by default).
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { ErrorCodes, WeftError } from '../lib/errors.js';

export interface MeshFlags {
  addr?: string;
  stateDir?: string;
}

export const DEFAULT_STATE_DIR = '.weft';

export async function resolveAdmin(flags: MeshFlags): Promise<string> {
  if (flags.addr) return flags.addr;
  if (process.env.WEFT_ADDR) return process.env.WEFT_ADDR;
  const file = join(resolve(flags.stateDir ?? DEFAULT_STATE_DIR), 'mesh.json');
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { admin: string }).admin;
  } catch {
    throw new WeftError(
      ErrorCodes.MESH_UNREACHABLE,
      `no running mesh found (looked for ${file})`,
      'start one with `weft up -f examples/bookinfo`, or point at one with --addr HOST:PORT or WEFT_ADDR',
    );
  }
}

export class MeshClient {
  private constructor(private readonly base: string) {}

  /** The control plane's admin base URL, e.g. http://127.0.0.1:15014. */
  get url(): string {
    return this.base;
  }

  /**
   * Reads a Server-Sent Events stream (the dashboard's /api/tap) until the server ends it or `signal`
   * aborts; each event is handed over as its name and data.
   */
  async events(
    path: string,
    onEvent: (event: string, data: string) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    let res;
    try {
      res = await request(`${this.base}${path}`, {
        headers: { accept: 'text/event-stream' },
        ...(signal ? { signal } : {}),
        bodyTimeout: 0,
      });
    } catch (e) {
      if (signal?.aborted) return;
      throw new WeftError(
        ErrorCodes.MESH_UNREACHABLE,
        `cannot reach the control plane at ${this.base}: ${(e as Error).message}`,
        'is `weft up` still running? Check --addr / WEFT_ADDR / --state-dir',
      );
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new WeftError(
        ErrorCodes.MESH_UNREACHABLE,
        `${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`,
        'is the control plane as new as this CLI? `weft version` on both',
      );
    }
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8');
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) onEvent(event, data.join('\n'));
        }
      }
    } catch (e) {
      if (!signal?.aborted) throw e;
    }
  }

  static async connect(flags: MeshFlags): Promise<MeshClient> {
    const admin = await resolveAdmin(flags);
    return new MeshClient(admin.startsWith('http') ? admin : `http://${admin}`);
  }

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    try {
      const res = await request(`${this.base}${path}`, {
        method,
        ...(body !== undefined
          ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
          : {}),
      });
      return { status: res.statusCode, body: (await res.body.json()) as T };
    } catch (e) {
      throw new WeftError(
        ErrorCodes.MESH_UNREACHABLE,
        `cannot reach the control plane at ${this.base}: ${(e as Error).message}`,
        'is `weft up` still running? Check --addr / WEFT_ADDR / --state-dir',
      );
    }
  }
}
