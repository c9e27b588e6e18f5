// Bytes allocated per request in a sidecar, by the JavaScript function that allocated them. Nearly all
// of it is garbage by the next scavenge, and how often a sidecar scavenges (each a pause of 0.2–0.9 ms
// on this machine, felt by the requests in flight) follows from it.
//
// What it runs: a `weft up` mesh of bench/lib/mesh.ts with the proxies started under
// `--import bench/lib/heap-sampler.js`, wrk through the client sidecar (8 connections, 1 KB answers),
// 8 s of warm-up, then V8's sampling heap profiler (collected objects included) over 5 s of load.
// Allocation counts are samples (one per 512 bytes on average), so small rows move between runs; the
// total repeats within a few per cent.
//
// Run: npm run bench:garbage  (the client sidecar on the one-hop path)
//      npm run bench:garbage -- --two-hops  (the server sidecar: inbound, to the app, behind the client)
//      add --top N for more rows.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackend } from './lib/backend.js';
import { ONE_HOP_HOST, startMesh } from './lib/mesh.js';
import { ensureTools } from './lib/tools.js';

const TWO_HOPS = process.argv.includes('--two-hops');
const topAt = process.argv.indexOf('--top');
const TOP = topAt > 0 ? Number(process.argv[topAt + 1]) : 20;
const SAMPLER = fileURLToPath(new URL('./lib/heap-sampler.js', import.meta.url));

const log = (s: string) => process.stderr.write(`[garbage] ${s}\n`);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: ProfileNode[];
}

/** Self bytes by function (`name file:line`, paths from the project's dist/). */
function byFunction(root: ProfileNode): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (n: ProfileNode) => {
    const f = n.callFrame;
    const where = f.url ? ` ${f.url.replace(/^.*\/dist\//, '')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where}`;
    if (n.selfSize) out.set(key, (out.get(key) ?? 0) + n.selfSize);
    for (const c of n.children ?? []) walk(c);
  };
  walk(root);
  return out;
}

async function main(): Promise<void> {
  ensureTools(log);
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-garbage-'));
  const backend = await startBackend();
  // Read by the proxies `weft up` starts, which inherit this process's environment.
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${SAMPLER}`.trim();
  process.env.WEFT_HEAP_SAMPLE_DIR = dir;
  let mesh: Awaited<ReturnType<typeof startMesh>> | undefined;
  try {
    log('starting a weft mesh');
    mesh = await startMesh(join(dir, 'weft'), backend.port, { oneHop: !TWO_HOPS });
    delete process.env.WEFT_HEAP_SAMPLE_DIR;
    const who = TWO_HOPS ? 'backend-' : 'client-';
    const pid = Object.entries(mesh.proxies).find(([id]) => id.startsWith(who))?.[1];
    if (!pid) throw new Error(`no ${who} sidecar in ${Object.keys(mesh.proxies).join(', ')}`);
    const host = TWO_HOPS ? `backend:${backend.port}` : ONE_HOP_HOST;
    const wrk = (seconds: number) =>
      execFileSync(
        'wrk',
        ['-t1', '-c8', `-d${seconds}s`, '-H', `Host: ${host}`, `http://127.0.0.1:${mesh!.outboundPort}/`],
        { encoding: 'utf8' },
      );
    log('warm-up: 8 s');
    wrk(8);
    process.kill(pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 500));
    log('sampling: 5 s');
    const out = wrk(5);
    process.kill(pid, 'SIGUSR2');
    const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
    if (!(requests > 0) || / Non-2xx/.test(out)) throw new Error(`wrk: ${out}`);
    const file = join(dir, `heap-${pid}.json`);
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 300)); // written in one call, but let it land
    const rows = [...byFunction((JSON.parse(await readFile(file, 'utf8')) as { head: ProfileNode }).head)];
    const total = rows.reduce((s, [, b]) => s + b, 0);
    rows.sort((a, b) => b[1] - a[1]);
    const kb = (b: number) => (b / requests / 1000).toFixed(2);
    process.stdout.write(
      [
        `Bytes allocated per request in the ${TWO_HOPS ? 'server (inbound) sidecar, two hops' : 'client sidecar, one hop'}`,
        `(${requests.toLocaleString('en-US')} requests over 5 s, wrk -c8, 1 KB answers; V8 sampling heap profiler, collected objects included):`,
        '',
        `**${kb(total)} KB per request**`,
        '',
        '| KB per request | allocated in |',
        '| --: | --- |',
        ...rows.slice(0, TOP).map(([where, b]) => `| ${kb(b)} | ${where.replace(/\|/g, '\\|')} |`),
        '',
      ].join('\n'),
    );
  } finally {
    await mesh?.stop().catch(() => {});
    await backend.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
