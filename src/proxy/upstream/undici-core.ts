// The two pieces of undici the data path uses (Pool and its header parser), loaded from their own
// modules rather than undici's index, which also loads fetch, web streams, WebSocket, the cache and
// mock agents: about 8 MB of resident memory per proxy that nothing here uses (measured with
// process.memoryUsage, bench/README.md). undici has no "exports" map, so these paths are public files;
// the types still come from undici's own declarations.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export type Pool = Undici.Pool;

const core = require('undici/lib/core/util.js') as {
  parseHeaders: (
    headers: Buffer[],
    obj?: Record<string, string | string[]>,
  ) => Record<string, string | string[]>;
};
/** undici's `util.parseHeaders`: raw [name, value, …] buffers to an object (set-cookie as an array). */
export const parseHeaders = core.parseHeaders;
