// The HTTP/1.1 client a proxy uses for every upstream call, measured alone: the proxy's own pools
// (src/proxy/upstream/h1-*.ts, on Node's llhttp) against undici's Pool.dispatch, which they replaced.
// One process sends N requests with 32 in flight to a backend in another process and reads its own CPU
// time (process.cpuUsage): no proxy, no other hop, so the difference is the client alone. Rounds
// alternate so drift on a shared machine hits both; medians are reported.
//
// Run: npm run bench:client  (--quick: fewer, shorter rounds)
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { startBackend } from './lib/backend.js';
import { H1Pools } from '../src/proxy/upstream/h1-pools.js';
import { sendH1 } from '../src/proxy/upstream/h1-request.js';
import type { BodySink } from '../src/proxy/upstream/response.js';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 2 : 8;
const REQUESTS = QUICK ? 5_000 : 20_000;
const IN_FLIGHT = 32;
// What an outbound sidecar sends upstream for a typical request (host, app headers, Istio's).
const HEADERS = {
  host: 'reviews.default.svc.cluster.local:9080',
  'user-agent': 'curl/7.88.1',
  accept: '*/*',
  'x-request-id': '3f2b6c1e-6a0f-4d51-9d0c-1b7c5e0b9a41',
  'x-forwarded-proto': 'http',
  'x-envoy-attempt-count': '1',
};

type Send = (done: (ok: boolean) => void) => void;

const sink: BodySink = { write: () => true, end: () => {}, once: () => {}, writableNeedDrain: false };

function weftClient(port: number): { send: Send; close(): void } {
  const pools = new H1Pools({ idleTimeoutMs: 60_000 });
  const pool = pools.get({ host: '127.0.0.1', port, plain: true }, 5_000);
  return {
    send: (done) =>
      sendH1(
        pool,
        { method: 'GET', path: '/', headers: HEADERS, body: undefined, paced: true },
        {
          onResponse: (res) => res.pipeTo(sink, { end: () => done(true), error: () => done(false) }),
          onError: () => done(false),
        },
      ),
    close: () => pools.close(),
  };
}

function undiciClient(port: number): { send: Send; close(): void } {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: null, pipelining: 1 });
  return {
    send: (done) =>
      pool.dispatch({ method: 'GET', path: '/', headers: HEADERS }, {
        onConnect() {},
        onHeaders: () => true,
        onData: () => true,
        onComplete: () => done(true),
        onError: () => done(false),
      } as Dispatcher.DispatchHandler),
    close: () => void pool.close(),
  };
}

/** CPU µs per request and requests per second for `n` requests, IN_FLIGHT at a time. */
async function round(send: Send, n: number): Promise<{ us: number; rps: number; errors: number }> {
  let started = 0;
  let finished = 0;
  let errors = 0;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const next = () => {
      if (started >= n) return;
      started++;
      send((ok) => {
        if (!ok) errors++;
        if (++finished === n) resolve();
        else next();
      });
    };
    for (let i = 0; i < IN_FLIGHT; i++) next();
  });
  const used = process.cpuUsage(cpu);
  return { us: (used.user + used.system) / n, rps: n / ((performance.now() - t0) / 1000), errors };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function main(): Promise<void> {
  const backend = await startBackend();
  const clients = { weft: weftClient(backend.port), undici: undiciClient(backend.port) };
  const results: Record<string, { us: number[]; rps: number[]; errors: number }> = {
    weft: { us: [], rps: [], errors: 0 },
    undici: { us: [], rps: [], errors: 0 },
  };
  try {
    for (const c of Object.values(clients)) await round(c.send, 2_000); // warm up both
    for (let i = 0; i < ROUNDS; i++)
      for (const name of i % 2 ? (['undici', 'weft'] as const) : (['weft', 'undici'] as const)) {
        const r = await round(clients[name].send, REQUESTS);
        results[name]!.us.push(r.us);
        results[name]!.rps.push(r.rps);
        results[name]!.errors += r.errors;
        console.error(
          `round ${i + 1} ${name}: ${r.us.toFixed(2)} µs CPU per request, ${Math.round(r.rps)} req/s`,
        );
      }
  } finally {
    for (const c of Object.values(clients)) c.close();
    await backend.stop();
  }
  const w = results.weft!;
  const u = results.undici!;
  console.log(
    `HTTP/1.1 client alone, ${REQUESTS} requests x ${ROUNDS} rounds, ${IN_FLIGHT} in flight (medians):`,
  );
  console.log(
    `  weft pools (llhttp):  ${median(w.us).toFixed(2)} µs CPU per request, ${Math.round(median(w.rps))} req/s`,
  );
  console.log(
    `  undici Pool.dispatch: ${median(u.us).toFixed(2)} µs CPU per request, ${Math.round(median(u.rps))} req/s`,
  );
  console.log(`  weft / undici CPU per request: ${(median(w.us) / median(u.us)).toFixed(2)}`);
  if (w.errors || u.errors) {
    console.log(`  errors: weft ${w.errors}, undici ${u.errors}`);
    process.exitCode = 1;
  }
}

await main();
