// The gRPC backend of `bench/grpc.ts`, run as its own process (pinned like the nginx backend):
// `node dist/bench/lib/grpc-server.js PORT` serves grpc-service.ts in plaintext HTTP/2 on 127.0.0.1:PORT
// and exits on SIGTERM. Every path (direct, nginx, HAProxy, weft) ends here.
import * as grpc from '@grpc/grpc-js';
import { definition, MSG_BYTES, STREAM_MESSAGES } from './grpc-service.js';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: grpc-server.js PORT');

// One preallocated answer for the stream: the backend should cost as little per message as possible.
const chunk = Buffer.alloc(MSG_BYTES, 'g');

const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1000 });
server.addService(definition, {
  Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
    cb(null, call.request),
  ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
    // Honour backpressure: a slow path must slow the stream down, not grow our memory.
    let sent = 0;
    const pump = () => {
      while (sent < STREAM_MESSAGES) {
        sent++;
        if (!call.write(chunk)) return void call.once('drain', pump);
      }
      call.end();
    };
    call.on('cancelled', () => (sent = STREAM_MESSAGES));
    pump();
  },
  Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
    call.on('data', (m: Buffer) => call.write(m));
    call.on('end', () => call.end());
    call.on('error', () => {}); // a client that goes away mid-stream is not our failure
  },
});

server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  process.stdout.write(`grpc backend listening on 127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => {
  server.forceShutdown();
  process.exit(0);
});
