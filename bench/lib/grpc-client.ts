// The closed-loop gRPC load generator of `bench/grpc.ts`, in its own process so that it can be pinned to
// the generator CPU and never shares an event loop with the benchmark's bookkeeping:
//   node dist/bench/lib/grpc-client.js '<GrpcLoadOptions as JSON>'
// `concurrency` workers spread over `channels` HTTP/2 connections each keep one call (unary,
// server-streaming) or one ping-pong exchange on a long-lived bidi stream in flight, back to back, for a
// warm-up and then the measured window. Stdout carries one JSON line per event: {"event":"start"} and
// {"event":"end"} at the window's edges (the parent samples the proxies' CPU there), then the result.
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { deserialize, MSG_BYTES, PATHS, serialize, STREAM_MESSAGES, type Kind } from './grpc-service.js';
import { summarize } from './stats.js';
import type { GrpcLoadOptions, GrpcLoadResult } from './grpc-load.js';

const o = JSON.parse(process.argv[2] ?? '') as GrpcLoadOptions;
const emit = (x: object) => process.stdout.write(JSON.stringify(x) + '\n');
const CALL_TIMEOUT_MS = 10_000;

// Separate subchannel pools, or grpc-js would share one connection between all our channels.
const clients = Array.from(
  { length: o.channels },
  () =>
    new grpc.Client(o.target, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      ...(o.authority ? { 'grpc.default_authority': o.authority } : {}),
    }),
);
const request = Buffer.alloc(MSG_BYTES, 'c');

let measuring = false;
let stopping = false;
let calls = 0; // completed in the window (unary, stream) or round trips (bidi)
let messages = 0; // response messages received in the window
const latencies: number[] = [];
const errorKinds: Record<string, number> = {};
const errorDetails: Record<string, string> = {}; // the first message of each kind, to say what failed
const fail = (kind: string, detail = kind) => {
  if (!measuring) return;
  errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  errorDetails[kind] ??= detail;
};
const errKind = (e: unknown) => {
  const s = e as Partial<grpc.StatusObject>;
  return s.code !== undefined ? (grpc.status[s.code] ?? String(s.code)) : String(e);
};
const deadline = () => Date.now() + CALL_TIMEOUT_MS;

function unary(c: grpc.Client): Promise<void> {
  const t = performance.now();
  return new Promise((resolve) =>
    c.makeUnaryRequest(PATHS.unary, serialize, deserialize, request, { deadline: deadline() }, (e, res) => {
      if (e) fail(errKind(e), (e as Error).message);
      else if (res?.length !== MSG_BYTES) fail('short answer');
      else if (measuring) {
        calls++;
        messages++;
        latencies.push(performance.now() - t);
      }
      resolve();
    }),
  );
}

function serverStream(c: grpc.Client): Promise<void> {
  const t = performance.now();
  return new Promise((resolve) => {
    const call = c.makeServerStreamRequest(PATHS.serverStream, serialize, deserialize, request, {
      deadline: deadline(),
    });
    let got = 0;
    call.on('data', (m: Buffer) => {
      if (m.length === MSG_BYTES) got++;
    });
    call.on('error', (e) => {
      fail(errKind(e), (e as Error).message);
      resolve();
    });
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) return; // reported by 'error'
      if (got !== STREAM_MESSAGES) fail('short stream');
      else if (measuring) {
        // Counted when the call ends well: a stream cut short by a proxy delivers no messages here.
        calls++;
        messages += got;
        latencies.push(performance.now() - t);
      }
      resolve();
    });
  });
}

/** One long-lived bidi stream per worker: send a message, wait for its echo, repeat until stopped. */
function bidiWorker(c: grpc.Client): Promise<void> {
  return new Promise((resolve) => {
    const call = c.makeBidiStreamRequest(PATHS.bidi, serialize, deserialize);
    let t = 0;
    const send = () => {
      if (stopping) return void call.end();
      t = performance.now();
      call.write(request);
    };
    call.on('data', (m: Buffer) => {
      if (measuring && m.length === MSG_BYTES) {
        calls++;
        messages++;
        latencies.push(performance.now() - t);
      }
      send();
    });
    call.on('error', (e) => {
      fail(errKind(e), (e as Error).message);
      resolve();
    });
    call.on('status', () => resolve());
    send();
  });
}

async function worker(i: number, kind: Kind): Promise<void> {
  const c = clients[i % clients.length]!;
  if (kind === 'bidi') {
    // A stream that fails is reopened, so one reset does not idle a worker for the rest of the run.
    while (!stopping) await bidiWorker(c);
    return;
  }
  const call = kind === 'unary' ? unary : serverStream;
  while (!stopping) await call(c);
}

async function main(): Promise<void> {
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve, reject) =>
          c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())),
        ),
    ),
  );
  const start = performance.now();
  const work = Array.from({ length: o.concurrency }, (_, i) => worker(i, o.kind));
  await new Promise((r) => setTimeout(r, o.warmupS * 1000));
  emit({ event: 'start' });
  const ws = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  measuring = false;
  const we = performance.now();
  emit({ event: 'end' });
  stopping = true;
  // Calls still in flight finish (or time out) before we close; they are not counted.
  await Promise.race([Promise.all(work), new Promise((r) => setTimeout(r, CALL_TIMEOUT_MS + 1000))]);
  for (const c of clients) c.close();
  const windowS = (we - ws) / 1000;
  const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
  const result: GrpcLoadResult = {
    kind: o.kind,
    concurrency: o.concurrency,
    channels: o.channels,
    durationS: windowS,
    calls,
    messages,
    callsPerS: calls / windowS,
    messagesPerS: messages / windowS,
    mbPerS: (messages * MSG_BYTES) / windowS / 1e6,
    errors,
    errorKinds,
    errorDetails,
    latency: summarize(latencies),
    wallS: (performance.now() - start) / 1000,
  };
  emit({ event: 'result', result });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    emit({ event: 'failed', error: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  },
);
