// DestinationRule connectionPool.tcp.tcpKeepalive (or meshConfig.tcpKeepalive) on an upstream socket.
import type net from 'node:net';

/**
 * SO_KEEPALIVE, the first probe after `ms` without traffic. libuv counts whole seconds, so at least 1 s,
 * and then sets the interval to 1 s and the count to 10 itself (Node 20 offers nothing else). With 0 the
 * system's time, interval and count stay. Nothing at all when `ms` is undefined.
 *
 * Set once connected: asked before, libuv applies a fixed 60 s as it creates the socket, and a 0 (which
 * it refuses) would then leave that instead of the system's time.
 */
export function keepAlive<S extends net.Socket>(socket: S, ms: number | undefined): S {
  if (ms !== undefined)
    socket.once('connect', () => socket.setKeepAlive(true, ms === 0 ? 0 : Math.max(1000, ms)));
  return socket;
}
