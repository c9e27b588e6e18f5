// The client side of gRPC's interop cases (../shared/fixtures/grpc-interop/interop-cases.json) on
// @grpc/grpc-js: one runner per case name that makes the calls the case describes and returns what came
// back (status, messages, metadata), and checkExpect(), which asserts every expectation the file gives.
// Used both directly against the in-process server and through the mesh.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  INTEROP_CASES_FILE,
  type SimpleRequest,
  type StreamingOutputCallRequest,
  type StreamingOutputCallResponse,
  type Payload,
  type TestingPackage,
} from './grpc-interop-server.js';

export interface InteropCase {
  case: string;
  rpc: string | string[];
  request?: {
    response_type?: string;
    response_size?: number;
    payload_body_zero_bytes?: number;
    response_parameters_sizes?: number[];
    response_status?: { code: number; message: string };
  };
  request_stream_payload_sizes?: number[];
  request_payload_sizes?: number[];
  response_sizes?: number[];
  deadline_ms?: number;
  metadata?: Record<string, string>;
  expect: Record<string, unknown>;
}

export interface InteropFile {
  status_codes: Record<string, string>;
  proto_package: string;
  cases: InteropCase[];
}

export const loadCases = (): InteropFile =>
  JSON.parse(readFileSync(INTEROP_CASES_FILE, 'utf8')) as InteropFile;

/** What one call ended with. */
export interface Outcome {
  code: number;
  details: string;
  initial?: grpc.Metadata;
  trailing?: grpc.Metadata;
  responses: unknown[];
}

/** Deadline of every call that does not test deadlines: a proxy that holds a stream fails, not hangs. */
export const CALL_DEADLINE_MS = 5_000;

/** Metadata values in the file: "hex:…" stands for binary bytes (keys ending in -bin). */
export function metadataValue(v: string): string | Buffer {
  return v.startsWith('hex:') ? Buffer.from(v.slice(4), 'hex') : v;
}

function metadataOf(m: Record<string, string> | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(m ?? {})) md.add(k, metadataValue(v));
  return md;
}

const zeros = (n: number | undefined): Payload | null => (n === undefined ? null : { body: Buffer.alloc(n) });

const lenOf = (r: unknown) => (r as { payload?: Payload | null }).payload?.body?.length;

const deadline = (ms = CALL_DEADLINE_MS) => ({ deadline: Date.now() + ms });

/** Clients of both services on one target, with channel options (default authority). */
export interface InteropClients {
  test: grpc.Client;
  unimplemented: grpc.Client;
  close(): void;
}

export function interopClients(
  pkg: TestingPackage,
  target: string,
  options: grpc.ChannelOptions = {},
): InteropClients {
  const creds = grpc.credentials.createInsecure();
  const test = new pkg.TestService(target, creds, options);
  const unimplemented = new pkg.UnimplementedService(target, creds, options);
  return {
    test,
    unimplemented,
    close: () => {
      test.close();
      unimplemented.close();
    },
  };
}

type AnyCall = grpc.ClientUnaryCall | grpc.ClientReadableStream<unknown> | grpc.ClientWritableStream<unknown>;

/** Records initial metadata and resolves with the final status (listens to 'error' so none is thrown). */
function track(call: AnyCall): {
  initial: () => grpc.Metadata | undefined;
  status: Promise<grpc.StatusObject>;
} {
  let initial: grpc.Metadata | undefined;
  call.on('metadata', (m: grpc.Metadata) => (initial = m));
  (call as NodeJS.EventEmitter).on('error', () => {});
  const status = new Promise<grpc.StatusObject>((r) => call.on('status', r));
  return { initial: () => initial, status };
}

function method(client: grpc.Client, name: string): (...args: unknown[]) => AnyCall {
  const fn = (client as unknown as Record<string, ((...args: unknown[]) => AnyCall) | undefined>)[name];
  if (!fn) throw new Error(`no method ${name} on the client`);
  return fn.bind(client);
}

export async function unary(
  client: grpc.Client,
  name: string,
  request: unknown,
  md = new grpc.Metadata(),
  options: grpc.CallOptions = deadline(),
): Promise<Outcome> {
  let response: unknown;
  let tracked: ReturnType<typeof track> | undefined;
  const answered = new Promise<void>((resolve) => {
    const call = method(client, name)(request, md, options, (_err: unknown, res: unknown) => {
      response = res;
      resolve();
    });
    tracked = track(call);
  });
  await answered;
  const s = await tracked!.status;
  return {
    code: s.code,
    details: s.details,
    initial: tracked!.initial(),
    trailing: s.metadata,
    responses: response === undefined || response === null ? [] : [response],
  };
}

/** A bidi or server stream: collects responses until the status. */
function collect(call: grpc.ClientReadableStream<unknown>): {
  responses: unknown[];
  next: () => Promise<unknown>;
  done: Promise<Outcome>;
} {
  const t = track(call);
  const responses: unknown[] = [];
  const waiting: Array<(v: unknown) => void> = [];
  let read = 0;
  call.on('data', (m: unknown) => {
    responses.push(m);
    const w = waiting.shift();
    if (w) w(responses[read++]);
  });
  const done = t.status.then((s) => {
    for (const w of waiting.splice(0)) w(undefined);
    return {
      code: s.code,
      details: s.details,
      initial: t.initial(),
      trailing: s.metadata,
      responses,
    };
  });
  return {
    responses,
    done,
    // The next response not yet handed out (undefined when the call ended first).
    next: () =>
      read < responses.length
        ? Promise.resolve(responses[read++])
        : new Promise((r) => {
            waiting.push(r);
          }),
  };
}

const rpcName = (rpc: string) => rpc.split('/')[1]!;

/** The runs of one case: one per rpc it lists ("custom_metadata" runs on UnaryCall and FullDuplexCall). */
export function runsOf(c: InteropCase): Array<{ name: string; rpc: string }> {
  const rpcs = Array.isArray(c.rpc) ? c.rpc : [c.rpc];
  return rpcs.map((rpc) => ({ name: rpcs.length > 1 ? `${c.case} (${rpcName(rpc)})` : c.case, rpc }));
}

function simpleRequest(c: InteropCase): SimpleRequest {
  const r = c.request ?? {};
  return {
    ...(r.response_type ? { response_type: r.response_type } : {}),
    ...(r.response_size !== undefined ? { response_size: r.response_size } : {}),
    payload: zeros(r.payload_body_zero_bytes),
    ...(r.response_status ? { response_status: r.response_status } : {}),
  };
}

/** A StreamingOutputCallRequest from a case's request (response_size means one response of that size). */
function streamingRequest(c: InteropCase): StreamingOutputCallRequest {
  const r = c.request ?? {};
  const sizes = r.response_parameters_sizes ?? (r.response_size !== undefined ? [r.response_size] : []);
  return {
    ...(r.response_type ? { response_type: r.response_type } : {}),
    response_parameters: sizes.map((size) => ({ size })),
    payload: zeros(r.payload_body_zero_bytes),
    ...(r.response_status ? { response_status: r.response_status } : {}),
  };
}

/** Makes the calls of one run of a case, following grpc/grpc doc/interop-test-descriptions.md. */
export async function runCase(clients: InteropClients, c: InteropCase, rpc: string): Promise<Outcome> {
  const [service, name] = rpc.split('/') as [string, string];
  const client = service === 'UnimplementedService' ? clients.unimplemented : clients.test;
  const md = metadataOf(c.metadata);
  const options = deadline(c.deadline_ms);
  switch (c.case) {
    case 'empty_unary':
    case 'unimplemented_method':
    case 'unimplemented_service':
      return unary(client, name, {}, md, options);
    case 'large_unary':
    case 'special_status_message':
      return unary(client, name, simpleRequest(c), md, options);
    case 'custom_metadata':
    case 'status_code_and_message': {
      let o: Outcome;
      if (name === 'UnaryCall') o = await unary(client, name, simpleRequest(c), md, options);
      else {
        // FullDuplexCall: one request, half-close, read everything.
        const call = method(client, name)(md, options) as grpc.ClientDuplexStream<unknown, unknown>;
        const s = collect(call);
        call.write(streamingRequest(c));
        call.end();
        o = await s.done;
      }
      // interop-test-descriptions.md: a successful custom_metadata call also carries the payload asked for.
      if (o.code === 0 && c.request?.response_size !== undefined)
        assert.deepEqual(o.responses.map(lenOf), [c.request.response_size], 'response payload length');
      return o;
    }
    case 'client_streaming':
    case 'cancel_after_begin': {
      let response: unknown;
      let tracked: ReturnType<typeof track> | undefined;
      const answered = new Promise<void>((resolve) => {
        const call = method(client, name)(md, options, (_e: unknown, res: unknown) => {
          response = res;
          resolve();
        }) as grpc.ClientWritableStream<unknown>;
        tracked = track(call);
        if (c.case === 'cancel_after_begin') {
          call.cancel(); // before sending anything
          return;
        }
        for (const size of c.request_stream_payload_sizes ?? []) call.write({ payload: zeros(size) });
        call.end();
      });
      await answered;
      const st = await tracked!.status;
      return {
        code: st.code,
        details: st.details,
        initial: tracked!.initial(),
        trailing: st.metadata,
        responses: response ? [response] : [],
      };
    }
    case 'server_streaming': {
      const call = method(client, name)(
        streamingRequest(c),
        md,
        options,
      ) as grpc.ClientReadableStream<unknown>;
      return collect(call).done;
    }
    case 'ping_pong': {
      const call = method(client, name)(md, options) as grpc.ClientDuplexStream<unknown, unknown>;
      const s = collect(call);
      const reqSizes = c.request_payload_sizes ?? [];
      const respSizes = c.response_sizes ?? [];
      for (let i = 0; i < reqSizes.length; i++) {
        call.write({
          response_type: 'COMPRESSABLE',
          response_parameters: [{ size: respSizes[i] }],
          payload: zeros(reqSizes[i]),
        });
        const r = (await s.next()) as StreamingOutputCallResponse | undefined;
        if (r === undefined) break; // the call ended: its status says why
        assert.equal(r.payload?.body?.length, respSizes[i], `response ${i} payload length`);
      }
      call.end();
      const o = await s.done;
      if (o.code === 0) assert.equal(o.responses.length, respSizes.length, 'one response per request');
      return o;
    }
    case 'empty_stream': {
      const call = method(client, name)(md, options) as grpc.ClientDuplexStream<unknown, unknown>;
      const s = collect(call);
      call.end();
      return s.done;
    }
    case 'cancel_after_first_response': {
      const call = method(client, name)(md, options) as grpc.ClientDuplexStream<unknown, unknown>;
      const s = collect(call);
      call.write(streamingRequest(c));
      const first = (await s.next()) as StreamingOutputCallResponse | undefined;
      if (first !== undefined) {
        assert.equal(first.payload?.body?.length, c.request?.response_parameters_sizes?.[0]);
        call.cancel();
      }
      return s.done;
    }
    case 'timeout_on_sleeping_server': {
      const call = method(client, name)(md, options) as grpc.ClientDuplexStream<unknown, unknown>;
      const s = collect(call);
      call.write({ payload: zeros(c.request?.payload_body_zero_bytes) });
      return s.done;
    }
    default:
      throw new Error(`no runner for interop case ${c.case}`);
  }
}

/** Asserts every expectation a case gives (unknown keys fail, so a new kind of expectation is noticed). */
export function checkExpect(c: InteropCase, o: Outcome, codes: Record<string, string>): void {
  const e = c.expect;
  const got = `got ${o.code} ${codes[String(o.code)] ?? ''} "${o.details}"`;
  for (const [key, want] of Object.entries(e)) {
    switch (key) {
      case 'note':
        break;
      case 'status':
        assert.equal(o.code, want, `status: ${got}`);
        break;
      case 'status_one_of':
        assert.ok((want as number[]).includes(o.code), `status one of ${JSON.stringify(want)}: ${got}`);
        break;
      case 'message':
        assert.equal(o.details, want, 'status message');
        break;
      case 'payload_type':
        assert.equal((o.responses[0] as { payload?: Payload }).payload?.type, want, 'payload type');
        break;
      case 'payload_len':
        assert.equal(lenOf(o.responses[0]), want, 'payload length');
        break;
      case 'aggregated_payload_size':
        assert.equal(
          (o.responses[0] as { aggregated_payload_size?: number } | undefined)?.aggregated_payload_size,
          want,
        );
        break;
      case 'response_payload_lens':
        assert.deepEqual(o.responses.map(lenOf), want, 'response payload lengths');
        break;
      case 'responses':
        assert.equal(o.responses.length, want, 'number of responses');
        break;
      case 'initial_metadata':
        for (const [k, v] of Object.entries(want as Record<string, string>))
          assert.deepEqual(o.initial?.get(k), [metadataValue(v)], `initial metadata ${k}`);
        break;
      case 'trailing_metadata':
        for (const [k, v] of Object.entries(want as Record<string, string>))
          assert.deepEqual(o.trailing?.get(k), [metadataValue(v)], `trailing metadata ${k}`);
        break;
      default:
        assert.fail(`unknown expectation ${key} in case ${c.case}`);
    }
  }
}
