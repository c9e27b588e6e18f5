// gRPC's interop TestService (grpc/grpc doc/interop-test-descriptions.md) on @grpc/grpc-js, for the
// interop cases in ../shared/fixtures/grpc-interop/. Responses carry zero-filled payloads of the sizes
// asked for; `response_status` makes the call end with that code and message;
// `x-grpc-test-echo-initial` is echoed as initial metadata and `x-grpc-test-echo-trailing-bin` as a
// trailer; UnimplementedCall is deliberately left out (grpc-js answers UNIMPLEMENTED), as is the whole
// UnimplementedService.
// Runs as a mesh workload (h2c on 127.0.0.1:$PORT, exits on SIGTERM) or in-process via
// startInteropServer() for a direct baseline.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { fixture } from './paths.js';

export const PROTO_ROOT = fixture('grpc-interop', 'proto');
export const INTEROP_CASES_FILE = fixture('grpc-interop', 'interop-cases.json');

/** The cases use the proto's snake_case field names, so keepCase; enums by name, defaults filled in. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export interface Payload {
  type?: string;
  body?: Buffer;
}
export interface EchoStatus {
  code?: number;
  message?: string;
}
export interface ResponseParameters {
  size?: number;
  interval_us?: number;
}
export interface SimpleRequest {
  response_type?: string;
  response_size?: number;
  payload?: Payload | null;
  response_status?: EchoStatus | null;
}
export interface SimpleResponse {
  payload?: Payload | null;
}
export interface StreamingInputCallRequest {
  payload?: Payload | null;
}
export interface StreamingInputCallResponse {
  aggregated_payload_size?: number;
}
export interface StreamingOutputCallRequest {
  response_type?: string;
  response_parameters?: ResponseParameters[];
  payload?: Payload | null;
  response_status?: EchoStatus | null;
}
export interface StreamingOutputCallResponse {
  payload?: Payload | null;
}
export type Empty = Record<string, never>;

export interface TestingPackage {
  TestService: grpc.ServiceClientConstructor;
  UnimplementedService: grpc.ServiceClientConstructor;
}

/** grpc.testing from the fixture protos (test.proto imports messages.proto and empty.proto). */
export function loadTesting(): TestingPackage {
  const def = protoLoader.loadSync('grpc/testing/test.proto', LOADER_OPTIONS);
  const root = grpc.loadPackageDefinition(def) as unknown as { grpc: { testing: TestingPackage } };
  return root.grpc.testing;
}

export const ECHO_INITIAL_KEY = 'x-grpc-test-echo-initial';
export const ECHO_TRAILING_KEY = 'x-grpc-test-echo-trailing-bin';

function echoInitial(md: grpc.Metadata): grpc.Metadata | undefined {
  const values = md.get(ECHO_INITIAL_KEY);
  if (values.length === 0) return undefined;
  const out = new grpc.Metadata();
  for (const v of values) out.add(ECHO_INITIAL_KEY, v);
  return out;
}

function echoTrailing(md: grpc.Metadata): grpc.Metadata {
  const out = new grpc.Metadata();
  for (const v of md.get(ECHO_TRAILING_KEY)) out.add(ECHO_TRAILING_KEY, v);
  return out;
}

function payload(type: string | undefined, size: number | undefined): Payload {
  return { type: type || 'COMPRESSABLE', body: Buffer.alloc(size ?? 0) };
}

/** A non-OK response_status, as the status to end the call with (trailers included). */
function requestedStatus(
  s: EchoStatus | null | undefined,
  trailer: grpc.Metadata,
): grpc.ServerErrorResponse | undefined {
  if (!s || !s.code) return undefined;
  return Object.assign(new Error(s.message ?? ''), {
    code: s.code,
    details: s.message ?? '',
    metadata: trailer,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Call<Req, Res> = grpc.ServerWritableStream<Req, Res> | grpc.ServerDuplexStream<Req, Res>;

/** Writes the responses one request asks for, in order, honouring interval_us. */
async function writeResponses(
  call: Call<unknown, StreamingOutputCallResponse>,
  req: StreamingOutputCallRequest,
): Promise<void> {
  for (const p of req.response_parameters ?? []) {
    if (p.interval_us) await sleep(p.interval_us / 1000);
    if (call.cancelled || call.destroyed) return;
    call.write({ payload: payload(req.response_type, p.size) });
  }
}

const unaryCall: grpc.handleUnaryCall<SimpleRequest, SimpleResponse> = (call, callback) => {
  const initial = echoInitial(call.metadata);
  if (initial) call.sendMetadata(initial);
  const trailer = echoTrailing(call.metadata);
  const req = call.request;
  const failed = requestedStatus(req.response_status, trailer);
  if (failed) return callback(failed);
  callback(null, { payload: payload(req.response_type, req.response_size) }, trailer);
};

export const testServiceImpl: grpc.UntypedServiceImplementation = {
  EmptyCall: ((call, callback) => {
    const initial = echoInitial(call.metadata);
    if (initial) call.sendMetadata(initial);
    callback(null, {}, echoTrailing(call.metadata));
  }) as grpc.handleUnaryCall<Empty, Empty>,

  UnaryCall: unaryCall,
  CacheableUnaryCall: unaryCall,

  StreamingInputCall: ((call, callback) => {
    let size = 0;
    call.on('data', (m: StreamingInputCallRequest) => (size += m.payload?.body?.length ?? 0));
    call.on('error', () => {}); // cancelled by the client: nothing to answer
    call.on('end', () => callback(null, { aggregated_payload_size: size }));
  }) as grpc.handleClientStreamingCall<StreamingInputCallRequest, StreamingInputCallResponse>,

  StreamingOutputCall: ((call) => {
    const initial = echoInitial(call.metadata);
    if (initial) call.sendMetadata(initial);
    const trailer = echoTrailing(call.metadata);
    call.on('error', () => {});
    void writeResponses(call, call.request).then(() => {
      const failed = requestedStatus(call.request.response_status, trailer);
      if (failed) call.emit('error', failed);
      else call.end(trailer);
    });
  }) as grpc.handleServerStreamingCall<StreamingOutputCallRequest, StreamingOutputCallResponse>,

  // Each request is answered as it arrives; the call ends (OK, or a requested status) when the client
  // half-closes.
  FullDuplexCall: ((call) => {
    const initial = echoInitial(call.metadata);
    if (initial) call.sendMetadata(initial);
    const trailer = echoTrailing(call.metadata);
    let chain = Promise.resolve();
    let failed: grpc.ServerErrorResponse | undefined;
    call.on('error', () => {});
    call.on('data', (req: StreamingOutputCallRequest) => {
      failed ??= requestedStatus(req.response_status, trailer);
      chain = chain.then(() => writeResponses(call, req));
    });
    call.on('end', () => {
      void chain.then(() => {
        if (call.cancelled) return;
        if (failed) call.emit('error', failed);
        else call.end(trailer);
      });
    });
  }) as grpc.handleBidiStreamingCall<StreamingOutputCallRequest, StreamingOutputCallResponse>,

  // All requests are buffered, then answered in order once the client half-closes.
  HalfDuplexCall: ((call) => {
    const initial = echoInitial(call.metadata);
    if (initial) call.sendMetadata(initial);
    const trailer = echoTrailing(call.metadata);
    const reqs: StreamingOutputCallRequest[] = [];
    call.on('error', () => {});
    call.on('data', (req: StreamingOutputCallRequest) => reqs.push(req));
    call.on('end', () => {
      void (async () => {
        for (const r of reqs) await writeResponses(call, r);
        const failed = reqs.map((r) => requestedStatus(r.response_status, trailer)).find(Boolean);
        if (failed) call.emit('error', failed);
        else call.end(trailer);
      })();
    });
  }) as grpc.handleBidiStreamingCall<StreamingOutputCallRequest, StreamingOutputCallResponse>,
  // UnimplementedCall: not implemented, on purpose.
};

export function createInteropServer(): grpc.Server {
  const server = new grpc.Server();
  server.addService(loadTesting().TestService.service, testServiceImpl);
  return server;
}

/** Starts the TestService in this process on 127.0.0.1 (port 0: a free one), plaintext HTTP/2. */
export async function startInteropServer(port = 0): Promise<{ server: grpc.Server; port: number }> {
  const server = createInteropServer();
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port: bound };
}

// As a workload process.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { server, port } = await startInteropServer(Number(process.env.PORT ?? 50051));
  console.log(`grpc interop TestService listening on 127.0.0.1:${port}`);
  const stop = () => {
    const t = setTimeout(() => {
      server.forceShutdown();
      process.exit(0);
    }, 2000);
    server.tryShutdown(() => {
      clearTimeout(t);
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
