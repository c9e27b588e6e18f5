// The CUSTOM action's gRPC check against a real Authorization/Check server: what the CheckRequest carries,
// allow with header edits, deny with and without a denied_response, a timeout and an unreachable provider
// with failOpen on and off, and the request body when includeRequestBodyInCheck asks for it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { ExtAuthzProvider } from '../../../model/security.js';
import {
  GRPC_DENY_BODY,
  startGrpcAuthzServer,
  type GrpcAuthzServer,
} from '../../../../test/support/grpc-authz-server.js';
import { checkExternalGrpc, closeGrpcAuthzClients, type GrpcCheckRequest } from './ext-authz-grpc.js';

let server: GrpcAuthzServer;
before(async () => {
  server = await startGrpcAuthzServer();
});
after(async () => {
  closeGrpcAuthzClients();
  await server.close();
});

function provider(port: number, o: Partial<ExtAuthzProvider> = {}): ExtAuthzProvider {
  return {
    name: 'grpc-authz',
    grpc: true,
    host: '127.0.0.1',
    port,
    pathPrefix: '',
    timeoutMs: 2000,
    failOpen: false,
    statusOnError: 403,
    includeRequestHeadersInCheck: [],
    includeAdditionalHeadersInCheck: [],
    headersToUpstreamOnAllow: [],
    headersToDownstreamOnAllow: [],
    headersToDownstreamOnDeny: [],
    ...o,
  };
}

const check = (
  headers: GrpcCheckRequest['headers'],
  o: Partial<GrpcCheckRequest> = {},
): GrpcCheckRequest => ({
  method: 'POST',
  host: 'httpbin.foo:8000',
  path: '/anything',
  query: 'a=1',
  headers,
  source: { address: '127.0.0.1', port: 40000, principal: 'spiffe://cluster.local/ns/default/sa/client' },
  destination: { address: '127.0.0.1', port: 8080 },
  ...o,
});

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('allow: the CheckRequest carries the request and its peers; header edits come back', async () => {
  const r = await checkExternalGrpc(
    provider(server.port),
    check({
      'x-grpc-authz': 'allow',
      'x-appended': 'one',
      'x-remove-me': 'secret',
      'x-multi': ['a', 'b'],
      'content-length': '0',
      'x-request-id': 'req-1',
      connection: 'keep-alive',
    }),
  );
  assert.equal(r.allowed, true, r.reason);
  assert.equal(r.outcome, 'allowed');
  assert.deepEqual(r.upstreamHeaders.sort(), [
    ['x-appended', 'one,two'],
    ['x-grpc-authz-result', 'allowed'],
  ]);
  assert.deepEqual(r.removeHeaders, ['x-remove-me']);
  assert.deepEqual(r.responseHeaders, [['x-authz-response', 'yes']]);

  const seen = server.seen.at(-1)!.attributes;
  const http = seen.request.http;
  assert.equal(http.method, 'POST');
  assert.equal(http.host, 'httpbin.foo:8000');
  assert.equal(http.path, '/anything?a=1');
  assert.equal(http.id, 'req-1');
  assert.equal(http.size, 0);
  assert.equal(http.headers[':authority'], 'httpbin.foo:8000');
  assert.equal(http.headers[':path'], '/anything?a=1');
  assert.equal(http.headers[':method'], 'POST');
  assert.equal(http.headers['x-multi'], 'a,b');
  assert.equal(http.headers.connection, undefined, 'hop-by-hop headers are not sent');
  assert.equal(http.body, undefined, 'no body unless includeRequestBodyInCheck');
  const from = seen.source?.address?.socket_address;
  assert.deepEqual([from?.address, from?.port_value], ['127.0.0.1', 40000]);
  assert.equal(seen.source?.principal, 'spiffe://cluster.local/ns/default/sa/client');
  assert.equal(seen.destination?.address?.socket_address?.port_value, 8080);
  assert.ok(Math.abs(seen.request.time!.seconds - Date.now() / 1000) < 60);
});

test('deny: the denied_response gives status, body and headers; without one it is 403', async () => {
  const r = await checkExternalGrpc(provider(server.port), check({ 'x-grpc-authz': 'deny' }));
  assert.equal(r.allowed, false);
  assert.equal(r.outcome, 'denied');
  assert.equal(r.status, 401);
  assert.equal(r.body, GRPC_DENY_BODY);
  assert.deepEqual(r.responseHeaders, [
    ['www-authenticate', 'Bearer realm="grpc-authz"'],
    ['x-denied-by', 'grpc-authz'],
  ]);
  assert.match(r.reason, /PERMISSION_DENIED \(not this one\), HTTP 401/);
  const plain = await checkExternalGrpc(provider(server.port), check({}));
  assert.deepEqual([plain.allowed, plain.status, plain.body], [false, 403, '']);
});

test('a provider that cannot be reached or does not answer in time: failOpen, else statusOnError', async () => {
  const dead = await deadPort();
  const closed = await checkExternalGrpc(provider(dead, { statusOnError: 503 }), check({}));
  assert.deepEqual([closed.allowed, closed.outcome, closed.status], [false, 'error', 503]);
  assert.match(closed.reason, /could not be reached \(UNAVAILABLE/);
  const open = await checkExternalGrpc(provider(dead, { failOpen: true }), check({}));
  assert.deepEqual([open.allowed, open.outcome], [true, 'error']);
  const slow = await checkExternalGrpc(
    provider(server.port, { timeoutMs: 300 }),
    check({ 'x-grpc-authz': 'slow' }),
  );
  assert.deepEqual([slow.allowed, slow.status], [false, 403]);
  assert.match(slow.reason, /did not answer within 300 ms/);
});

test('includeRequestBodyInCheck: the body as text, or as bytes with packAsBytes, and whether it was cut', async () => {
  const body = { maxRequestBytes: 8, allowPartialMessage: true, packAsBytes: false };
  await checkExternalGrpc(
    provider(server.port, { includeRequestBody: body }),
    check({ 'x-grpc-authz': 'allow' }, { body: { data: Buffer.from('hello wo'), partial: true } }),
  );
  let http = server.seen.at(-1)!.attributes.request.http;
  assert.equal(http.body, 'hello wo');
  assert.equal(http.headers['x-envoy-auth-partial-body'], 'true');
  await checkExternalGrpc(
    provider(server.port, { includeRequestBody: { ...body, packAsBytes: true } }),
    check({ 'x-grpc-authz': 'allow' }, { body: { data: Buffer.from([0, 1, 2]), partial: false } }),
  );
  http = server.seen.at(-1)!.attributes.request.http;
  assert.deepEqual([...http.raw_body!], [0, 1, 2]);
  assert.equal(http.headers['x-envoy-auth-partial-body'], 'false');
});

test("a client's own x-envoy-auth-partial-body never reaches the authorizer", async () => {
  await checkExternalGrpc(
    provider(server.port),
    check({ 'x-grpc-authz': 'allow', 'x-envoy-auth-partial-body': 'false' }),
  );
  assert.equal(server.seen.at(-1)!.attributes.request.http.headers['x-envoy-auth-partial-body'], undefined);
});
