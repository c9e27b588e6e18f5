// One plaintext port for HTTP/1.1 and HTTP/2 with prior knowledge (h2c), told apart by the first bytes:
// an HTTP/2 client opens with the fixed preface "PRI * HTTP/2.0". The socket is handed, bytes put back,
// to the matching server (both read already-buffered bytes before consuming the socket directly).
import type { EventEmitter } from 'node:events';
import net from 'node:net';

const PREFACE_START = Buffer.from('PRI * HTTP/2.0');

export function isH2Preface(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, PREFACE_START.length);
  return n > 0 && chunk.subarray(0, n).equals(PREFACE_START.subarray(0, n));
}

export function sniffingServer(h1: EventEmitter, h2: EventEmitter): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      (isH2Preface(chunk) ? h2 : h1).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
}
