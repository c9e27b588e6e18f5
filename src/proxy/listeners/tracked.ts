// Listeners that can be shut down at once: net servers only stop accepting on close(), so we keep
// their sockets (every kind: plain, TLS, sniffed) and destroy them when the proxy stops. Every
// data-plane listener is tracked, so the first connection is also where TurboFan comes on.
import type net from 'node:net';
import { releaseOptimizingCompiler } from '../startup-jit.js';

const sockets = new WeakMap<net.Server, Set<net.Socket>>();

export function track<T extends net.Server>(server: T): T {
  const set = new Set<net.Socket>();
  sockets.set(server, set);
  server.on('connection', (s: net.Socket) => {
    releaseOptimizingCompiler();
    set.add(s);
    s.once('close', () => set.delete(s));
  });
  return server;
}

export function closeNow(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const s of sockets.get(server) ?? []) s.destroy();
    if (!server.listening) resolve();
  });
}
