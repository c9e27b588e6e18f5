// Helpers for the config tests: find the project root from the compiled test file (dist/src/config),
// and the shared fixtures that sit beside the project (../shared/fixtures, not copied in).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function projectRoot(from = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(from));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(from)}`);
    dir = up;
  }
  return dir;
}

export function fixture(...parts: string[]): string {
  return path.resolve(projectRoot(), '../shared/fixtures', ...parts);
}
