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
