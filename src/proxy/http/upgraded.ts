// An upgraded connection (WebSocket) is one HTTP stream that lasts until its socket closes: Envoy logs
// it then, with the whole duration and the bytes that crossed it. Upgrades are rare next to requests,
// so a listener per upgrade is fine here.
import type net from 'node:net';

/** Calls `done` when the upgraded `socket` closes, with the bytes received from the client after the
 *  101 (`head` included) and those sent to it after the response head. */
export function whenUpgradeEnds(
  socket: net.Socket,
  head: Buffer,
  done: (received: number, sent: number) => void,
): void {
  let received = head.length;
  const written = socket.bytesWritten; // the 101 head already counts: it was written before this
  if (socket.destroyed) return done(received, 0);
  socket.on('data', (c: Buffer) => (received += c.length));
  socket.once('close', () => done(received, Math.max(0, socket.bytesWritten - written)));
}
