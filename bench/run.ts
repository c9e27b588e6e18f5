// `npm run bench`: request latency through two Weft sidecars (client outbound → mTLS → backend inbound)
// against a direct connection to the same backend, in one run on one machine. See bench/README.md.
// `node dist/bench/run.js --quick` shortens every phase for a smoke test (results are not written).
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { startBackend, type Backend } from './lib/backend.js';
import { closedLoop, openLoop, type Target } from './lib/load.js';
import { PROJECT_ROOT, startMesh, type Mesh } from './lib/mesh.js';
import { machine, markdown, overhead, type Results } from './lib/report.js';

const QUICK = process.argv.includes('--quick');
// `--mesh-h2`: carry HTTP/1.1 between the proxies over HTTP/2 sessions instead of keep-alive TLS pools
// (the proxies inherit WEFT_MESH_PROTOCOL from `weft up`), to compare the two transports.
const MESH_H2 = process.argv.includes('--mesh-h2');
if (MESH_H2) process.env.WEFT_MESH_PROTOCOL = 'h2';
const SUFFIX = MESH_H2 ? '-mesh-h2' : '';
const CONFIG = {
  rate: 1000, // req/s: light enough that neither setup should saturate, so we see per-request cost
  warmupS: QUICK ? 0.5 : 2, // connections, TLS sessions and JIT settle before we record
  durationS: QUICK ? 2 : 10,
  bodyBytes: 1024,
  closedLoopS: QUICK ? 2 : 10,
};
const CONNECTIONS = [1, 16];
const log = (s: string): void => void process.stderr.write(`[bench] ${s}\n`);

let backend: Backend | undefined;
let mesh: Mesh | undefined;
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    await mesh?.stop();
    await backend?.stop();
  })());

// Ctrl-C or a stuck phase must not leave proxies behind: stop what we started, then exit.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => void cleanup().then(() => process.exit(130)));
setTimeout(() => {
  log('watchdog: still running after 4 min, giving up');
  void cleanup().then(() => process.exit(1));
}, 240_000).unref();

/** GET once and check we really reach the backend (200, full body); retried while config settles. */
async function check(t: Target): Promise<void> {
  const pool = new Pool(t.origin);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await pool.request({
          path: t.path,
          method: 'GET',
          headers: t.host ? { host: t.host } : {},
        });
        const n = (await res.body.arrayBuffer()).byteLength;
        if (res.statusCode === 200 && n === CONFIG.bodyBytes) return;
        if (attempt >= 25) throw new Error(`${t.origin}: HTTP ${res.statusCode}, ${n} bytes`);
      } catch (e) {
        if (attempt >= 25) throw e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await pool.close();
  }
}

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  const m = machine(pkg.version); // before we start anything, so loadavg reflects the idle box
  const dir = await mkdtemp(join(os.tmpdir(), 'weft-bench-'));

  backend = await startBackend();
  log(`backend on 127.0.0.1:${backend.port}; starting weft up (state in ${dir})`);
  const t0 = Date.now();
  mesh = await startMesh(dir, backend.port);
  log(`mesh ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; outbound sidecar on ${mesh.outboundPort}`);

  const targets: Record<'direct' | 'weft', Target> = {
    direct: { origin: `http://127.0.0.1:${backend.port}`, path: '/' },
    weft: { origin: `http://127.0.0.1:${mesh.outboundPort}`, host: `backend:${backend.port}`, path: '/' },
  };
  await check(targets.direct);
  await check(targets.weft);

  const results: Results = { date: today(), machine: m, config: CONFIG, open: [], closed: [], overhead: [] };
  // Interleave direct and weft per connection count so slow drift (thermal, noisy neighbours) hits both.
  for (const connections of CONNECTIONS) {
    for (const setup of ['direct', 'weft'] as const) {
      log(`open loop ${setup}, ${connections} conn, ${CONFIG.rate} req/s × ${CONFIG.durationS} s`);
      results.open.push({ setup, ...(await openLoop(targets[setup], { connections, ...CONFIG })) });
    }
  }
  // Closed loop: the most each setup serves. With 1 connection (no pipelining) that is 1 / round trip,
  // which tells whether the open-loop rate above was within capacity; 16 connections shows CPU limits.
  for (const connections of CONNECTIONS) {
    for (const setup of ['direct', 'weft'] as const) {
      log(`closed loop ${setup}, ${connections} conn × ${CONFIG.closedLoopS} s`);
      const r = await closedLoop(targets[setup], { connections, warmupS: 1, durationS: CONFIG.closedLoopS });
      results.closed.push({ setup, ...r });
    }
  }
  results.overhead = overhead(results.open);
  results.machine.loadavg1End = os.loadavg()[0]!;

  await cleanup();
  await rm(dir, { recursive: true, force: true }); // only on success: a failed run keeps its logs

  const md = markdown(results);
  process.stdout.write(md);
  if (QUICK) return log('--quick: results not written');
  const out = join(PROJECT_ROOT, 'bench', 'results');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, `${results.date}${SUFFIX}.md`), md);
  await writeFile(join(out, `${results.date}${SUFFIX}.json`), JSON.stringify(results, null, 2) + '\n');
  log(`wrote bench/results/${results.date}${SUFFIX}.md and .json`);
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await cleanup();
    process.exit(1);
  },
);
