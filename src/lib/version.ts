import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels above dist/src/lib). */
export const WEFT_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return 'dev';
  }
})();
