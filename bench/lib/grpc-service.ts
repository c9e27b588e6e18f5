// The gRPC service the benchmark calls, shared by the backend (grpc-server.ts) and the load client
// (grpc-client.ts). Messages are opaque byte strings with identity (de)serialisation: the wire carries
// real gRPC framing (5-byte length prefix, HTTP/2, trailers), which is all a proxy sees, and neither the
// backend nor the generator spends CPU on protobuf, so what is measured is the transport and the proxies.
import type { ServiceDefinition } from '@grpc/grpc-js';

/** Bytes per message, both ways (the 1 KB of the HTTP scenarios). */
export const MSG_BYTES = 1024;
/** Messages the server sends per server-streaming call. */
export const STREAM_MESSAGES = 100;

export const SERVICE = 'weft.bench.Echo';
export const PATHS = {
  unary: `/${SERVICE}/Unary`, // echoes the request
  serverStream: `/${SERVICE}/ServerStream`, // STREAM_MESSAGES messages of MSG_BYTES per request
  bidi: `/${SERVICE}/Bidi`, // echoes every message on the stream
} as const;

export type Kind = keyof typeof PATHS;
export const KINDS: Kind[] = ['unary', 'serverStream', 'bidi'];

const id = (b: Buffer): Buffer => b;
export const serialize = id;
export const deserialize = id;

const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});

export const definition: ServiceDefinition = {
  Unary: method(PATHS.unary, false, false),
  ServerStream: method(PATHS.serverStream, false, true),
  Bidi: method(PATHS.bidi, true, true),
};
