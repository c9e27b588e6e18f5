// `weft up` for suites that need one big mesh. If an app fails to start because its port was taken
// (weft up reserves app ports below the ephemeral range so proxies' port-0 listeners never take them;
// this catches a regression), the error names the port and which proxy listener held it.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunningMesh } from './weft.js';

export interface StartOutcome {
  mesh: RunningMesh;
  /** One line per failed attempt: which app logs said EADDRINUSE, on which port. */
  portClashes: string[];
}

async function addrInUse(message: string): Promise<string | undefined> {
  const logs = /Logs: (\S+)/.exec(message)?.[1];
  if (!logs) return undefined;
  const hits: string[] = [];
  for (const f of (await readdir(logs).catch(() => [])).filter((x) => x.endsWith('.app.log'))) {
    const text = await readFile(join(logs, f), 'utf8').catch(() => '');
    const m = /EADDRINUSE: address already in use (\S+)/.exec(text);
    if (!m) continue;
    // Who holds it: a proxy log line that names the port as one of its listeners.
    const port = m[1]!.split(':').pop()!;
    let holder = '?';
    for (const p of (await readdir(logs)).filter((x) => x.endsWith('.proxy.log'))) {
      const line = (await readFile(join(logs, p), 'utf8'))
        .split('\n')
        .find((l) => new RegExp(`proxy ready .*=${port}\\b`).test(l));
      if (line) holder = `${p.replace(/\.proxy\.log$/, '')} (${/proxy ready (.*)/.exec(line)?.[1]})`;
    }
    hits.push(`${f.replace(/\.app\.log$/, '')}: app port ${port} already taken by ${holder}`);
  }
  return hits.length ? hits.join('; ') : undefined;
}

export async function upWithRetry(
  files: string[],
  extra: string[] = [],
  attempts = 1,
): Promise<StartOutcome> {
  const portClashes: string[] = [];
  for (let i = 1; ; i++) {
    try {
      return { mesh: await RunningMesh.up(files, extra), portClashes };
    } catch (e) {
      const clash = await addrInUse((e as Error).message);
      if (!clash || i >= attempts) throw e;
      portClashes.push(`attempt ${i}: ${clash}`);
    }
  }
}
