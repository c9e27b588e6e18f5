// DestinationRule connectionPool.tcp.tcpKeepalive (or meshConfig.tcpKeepalive) on an upstream socket.
import type net from 'node:net';
import type { TcpKeepalive } from '../../model/snapshot.js';
import { LazyModule } from '../../lib/lazy-module.js';

// Node 20 sets only SO_KEEPALIVE and the idle time; the interval and the probe count need setsockopt,
// which net-keepalive calls through ffi-rs. It costs ~4 MB and ~12 ms to load, so it loads with the first
// snapshot that sets either (loadClusterCode), and a proxy without them never holds it.
export const keepaliveOptions = new LazyModule(
  'TCP keep-alive interval and probes',
  async () => (await import('net-keepalive')).default,
);

/** The most Linux takes for TCP_KEEPIDLE and TCP_KEEPINTVL (s) and TCP_KEEPCNT: above, setsockopt fails. */
const MAX_SECONDS = 32_767;
const MAX_PROBES = 127;

/** Whether `ka` needs the code in `keepaliveOptions`. */
export const needsSocketOptions = (ka: TcpKeepalive | undefined): boolean =>
  ka !== undefined && (ka.intervalMs !== undefined || ka.probes !== undefined);

/**
 * SO_KEEPALIVE once `socket` has connected; nothing when `ka` is undefined.
 *
 * - Time: libuv counts whole seconds, so at least 1 s. Setting it makes libuv also set the interval to
 *   1 s and the count to 10; with 0 the system's time, interval and count stay.
 * - Interval and probes, when given, replace libuv's (or the system's), through setsockopt.
 *
 * Set once connected: asked before, libuv applies a fixed 60 s as it creates the socket, and a 0 (which
 * it refuses) would then leave that instead of the system's time.
 */
export function keepAlive<S extends net.Socket>(socket: S, ka: TcpKeepalive | undefined): S {
  if (ka !== undefined) socket.once('connect', () => apply(socket, ka));
  return socket;
}

const seconds = (ms: number) => Math.min(MAX_SECONDS, Math.max(1, Math.floor(ms / 1000)));

function apply(socket: net.Socket, ka: TcpKeepalive): void {
  socket.setKeepAlive(true, ka.timeMs === 0 ? 0 : seconds(ka.timeMs) * 1000);
  if (!needsSocketOptions(ka)) return;
  try {
    const options = keepaliveOptions.get();
    if (ka.intervalMs !== undefined) options.setKeepAliveInterval(socket, seconds(ka.intervalMs) * 1000);
    if (ka.probes !== undefined) options.setKeepAliveProbes(socket, Math.min(MAX_PROBES, ka.probes));
  } catch (err) {
    // Values are clamped to what Linux takes, so only a socket gone meanwhile or a system without the
    // options gets here: the connection carries on with libuv's interval and count, and says so once.
    if (!warned) process.emitWarning(`tcpKeepalive interval/probes not set: ${(err as Error).message}`);
    warned = true;
  }
}

let warned = false;
