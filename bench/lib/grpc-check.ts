// Before measuring: one call of each kind through a path must come back whole (the 1 KB echo, all
// STREAM_MESSAGES stream messages, a bidi echo), retried while a freshly started proxy settles (weft's
// outbound sidecar may learn the backend's endpoint a moment after `weft up` reports ready).
import * as grpc from '@grpc/grpc-js';
import { deserialize, MSG_BYTES, PATHS, serialize, STREAM_MESSAGES } from './grpc-service.js';

const msg = Buffer.alloc(MSG_BYTES, 'k');
const opts = () => ({ deadline: Date.now() + 5000 });

function once(c: grpc.Client): Promise<string | undefined> {
  const unary = new Promise<string | undefined>((resolve) =>
    c.makeUnaryRequest(PATHS.unary, serialize, deserialize, msg, opts(), (e, r) =>
      resolve(e ? `unary: ${e.message}` : r?.equals(msg) ? undefined : `unary: ${r?.length} bytes back`),
    ),
  );
  const stream = new Promise<string | undefined>((resolve) => {
    const call = c.makeServerStreamRequest(PATHS.serverStream, serialize, deserialize, msg, opts());
    let bytes = 0;
    let n = 0;
    call.on('data', (m: Buffer) => ((bytes += m.length), n++));
    call.on('error', (e) => resolve(`server stream: ${e.message}`));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) return;
      const ok = n === STREAM_MESSAGES && bytes === n * MSG_BYTES;
      resolve(ok ? undefined : `server stream: ${n} messages, ${bytes} bytes`);
    });
  });
  const bidi = new Promise<string | undefined>((resolve) => {
    const call = c.makeBidiStreamRequest(PATHS.bidi, serialize, deserialize, opts());
    let echoed = false;
    call.on('data', (m: Buffer) => {
      echoed = m.equals(msg);
      call.end();
    });
    call.on('error', (e) => resolve(`bidi: ${e.message}`));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) resolve(echoed ? undefined : 'bidi: no echo');
    });
    call.write(msg);
  });
  return Promise.all([unary, stream, bidi]).then((r) => r.filter(Boolean).join('; ') || undefined);
}

/** Resolves once unary, server-streaming and bidi calls all succeed through `target`; throws after ~10 s. */
export async function grpcCheck(target: string, authority?: string): Promise<void> {
  const c = new grpc.Client(target, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    ...(authority ? { 'grpc.default_authority': authority } : {}),
  });
  try {
    for (let attempt = 0; ; attempt++) {
      const problem = await once(c);
      if (!problem) return;
      if (attempt >= 20) throw new Error(`gRPC check through ${target} (${authority ?? ''}): ${problem}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    c.close();
  }
}
