// The config store on files: one JSON file per resource under <stateDir>/resources/. Writes are atomic
// (temp file + rename) so a crash never leaves half a resource, and the store survives restarts.
import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Kind, type Resource, resourceKey } from '../../config/types.js';

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';
export interface ApplyResult {
  key: string;
  outcome: ApplyOutcome;
}

export interface ConfigStore extends EventEmitter {
  readonly revision: number;
  list(kind?: Kind, namespace?: string): Resource[];
  get(kind: Kind, namespace: string, name: string): Resource | undefined;
  apply(resources: Resource[]): Promise<ApplyResult[]>;
  delete(keys: string[]): Promise<string[]>;
}

/** Content that matters for change detection: the resource without where it was read from. */
function comparable(r: Resource): string {
  const { source: _source, ...rest } = r;
  return JSON.stringify(rest);
}

function fileName(key: string): string {
  return `${key.replaceAll('/', '_')}.json`;
}

export class FileStore extends EventEmitter implements ConfigStore {
  private readonly dir: string;
  private readonly items = new Map<string, Resource>();
  private rev = 0;

  private constructor(stateDir: string) {
    super();
    this.dir = join(stateDir, 'resources');
  }

  static async open(stateDir: string): Promise<FileStore> {
    const store = new FileStore(stateDir);
    await mkdir(store.dir, { recursive: true });
    for (const f of (await readdir(store.dir)).sort()) {
      if (!f.endsWith('.json')) continue;
      const r = JSON.parse(await readFile(join(store.dir, f), 'utf8')) as Resource;
      store.items.set(resourceKey(r), r);
    }
    return store;
  }

  get revision(): number {
    return this.rev;
  }

  list(kind?: Kind, namespace?: string): Resource[] {
    const out: Resource[] = [];
    for (const r of this.items.values()) {
      if (kind && r.kind !== kind) continue;
      if (namespace && r.metadata.namespace !== namespace) continue;
      out.push(r);
    }
    return out.sort((a, b) => resourceKey(a).localeCompare(resourceKey(b)));
  }

  get(kind: Kind, namespace: string, name: string): Resource | undefined {
    return this.items.get(`${kind}/${namespace}/${name}`);
  }

  async apply(resources: Resource[]): Promise<ApplyResult[]> {
    const results: ApplyResult[] = [];
    try {
      for (const r of resources) {
        const key = resourceKey(r);
        const prev = this.items.get(key);
        if (prev && comparable(prev) === comparable(r)) {
          results.push({ key, outcome: 'unchanged' });
          continue;
        }
        await this.writeAtomic(fileName(key), JSON.stringify(r, null, 2));
        this.items.set(key, r);
        results.push({ key, outcome: prev ? 'configured' : 'created' });
      }
    } finally {
      // Even when a later write fails, what was written is in force: announce it.
      if (results.some((r) => r.outcome !== 'unchanged')) this.changed();
    }
    return results;
  }

  async delete(keys: string[]): Promise<string[]> {
    const deleted: string[] = [];
    for (const key of keys) {
      if (!this.items.has(key)) continue;
      await rm(join(this.dir, fileName(key)), { force: true });
      this.items.delete(key);
      deleted.push(key);
    }
    if (deleted.length) this.changed();
    return deleted;
  }

  private changed(): void {
    this.rev++;
    this.emit('change', this.rev);
  }

  private async writeAtomic(name: string, data: string): Promise<void> {
    const tmp = join(this.dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeFile(tmp, data, { mode: 0o600 });
      await rename(tmp, join(this.dir, name));
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }
}
