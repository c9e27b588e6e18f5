// Where things are, from compiled tests in dist/test/…: the project root holds package.json, and the
// shared fixtures sit beside the project as ../shared/fixtures.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const ROOT = findRoot();
export const FIXTURES = resolve(ROOT, '../shared/fixtures');
export const CLI = join(ROOT, 'dist/src/cli/main.js');
export const fixture = (...p: string[]) => join(FIXTURES, ...p);
