// Runs the gRPC load generator (grpc-client.ts) as a child process, pinned with `taskset`, and reads its
// JSON lines: `onWindow` fires at the measured window's start and end (where the caller samples the
// proxies' CPU), and the promise resolves with the client's result. A run that overstays its time is
// killed; `stopLoads()` kills any still running (for cleanup on failure or a signal).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Kind } from './grpc-service.js';
import type { Summary } from './stats.js';
import { waitExit } from './proc.js';

const CLIENT = fileURLToPath(new URL('./grpc-client.js', import.meta.url));

export interface GrpcLoadOptions {
  target: string; // host:port the connections go to
  authority?: string; // :authority (the service name when going through weft's outbound sidecar)
  kind: Kind;
  concurrency: number; // calls (or bidi streams) in flight
  channels: number; // HTTP/2 connections
  warmupS: number;
  durationS: number;
}

export interface GrpcLoadResult {
  kind: Kind;
  concurrency: number;
  channels: number;
  durationS: number; // measured window, s
  calls: number; // completed OK in the window (bidi: echoed round trips)
  messages: number; // response messages received in the window
  callsPerS: number;
  messagesPerS: number;
  mbPerS: number; // response payload, 10^6 bytes/s
  errors: number;
  errorKinds: Record<string, number>;
  errorDetails: Record<string, string>;
  latency: Summary; // ms per call (server stream: to the last message; bidi: per round trip)
  wallS: number;
}

const running = new Set<ChildProcess>();

export async function stopLoads(): Promise<void> {
  await Promise.all(
    [...running].map((c) => {
      c.kill('SIGKILL');
      return waitExit(c, 2000);
    }),
  );
}

export function grpcLoad(
  o: GrpcLoadOptions,
  cpus: string | undefined,
  onWindow: (edge: 'start' | 'end', clientPid: number) => void,
): Promise<GrpcLoadResult> {
  const args = [CLIENT, JSON.stringify(o)];
  const [file, argv] = cpus ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const limitMs = (o.warmupS + o.durationS + 40) * 1000; // + connect, drain and start-up time
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  return new Promise((resolve, reject) => {
    let result: GrpcLoadResult | undefined;
    let failure = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let m: { event?: string; result?: GrpcLoadResult; error?: string };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return; // not ours (a library warning)
      }
      if (m.event === 'start' || m.event === 'end') onWindow(m.event, child.pid ?? -1);
      else if (m.event === 'result') result = m.result;
      else if (m.event === 'failed') failure = m.error ?? 'unknown';
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (result) resolve(result);
      else
        reject(
          new Error(
            `gRPC load (${o.kind} → ${o.target}) ended without a result (code ${code}, signal ${signal}): ${failure}\n${stderr}`,
          ),
        );
    });
  });
}
