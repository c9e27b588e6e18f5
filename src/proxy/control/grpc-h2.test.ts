// The proxy's node:http2 gRPC client against the real thing: a @grpc/grpc-js server over TLS, as the
// control plane runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../control-plane/ca/authority.js';
import { DISCOVERY_SERVICE } from '../../model/discovery.js';
import { GrpcChannel, GrpcStatus, type GrpcError } from './grpc-h2.js';

type Msg = Record<string, unknown>;
const NAME = 'weft-control-plane';

async function startServer(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'weft-grpc-h2-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate(dir, { trustDomain: 'cluster.local' });
  const serving = await ca.issueServing([NAME], [], 'spiffe://cluster.local/ns/weft-system/sa/cp');
  const server = new grpc.Server();
  server.addService(DISCOVERY_SERVICE, {
    certificate: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      if (call.request.token === 'bad')
        return cb(Object.assign(new Error('token is not yours'), { code: grpc.status.PERMISSION_DENIED }));
      cb(null, { echo: call.request.csr });
    },
    // Echoes each message; ends the call (status OK) on {end: true}, fails it on {fail: true}.
    stream: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => {
        if (m.end) call.end();
        else if (m.fail) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'no' });
        else call.write({ got: m, big: 'x'.repeat(100_000) }); // spans several DATA frames
      });
    },
  });
  const creds = grpc.ServerCredentials.createSsl(null, [
    {
      private_key: Buffer.from(serving.keyPem),
      cert_chain: Buffer.from([serving.certPem, ...serving.chainPem].join('\n')),
    },
  ]);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))),
  );
  t.after(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  return { address: `127.0.0.1:${port}`, tls: { ca: ca.trustBundlePem, servername: NAME } };
}

test('unary calls: the answer, and a status as a GrpcError with its code', async (t) => {
  const s = await startServer(t);
  const ch = new GrpcChannel(s.address, s.tls);
  t.after(() => ch.close());
  const path = DISCOVERY_SERVICE.certificate.path;
  assert.deepEqual(await ch.unary<Msg, Msg>(path, NAME, { csr: 'pem' }), { echo: 'pem' });
  const err = (await ch.unary(path, NAME, { token: 'bad' }).catch((e: unknown) => e)) as GrpcError;
  assert.equal(err.code, GrpcStatus.PERMISSION_DENIED);
  assert.equal(err.message, '7 PERMISSION_DENIED: token is not yours');
});

test('a stream carries messages both ways, then ends or fails with the status', async (t) => {
  const s = await startServer(t);
  const ch = new GrpcChannel(s.address, s.tls);
  t.after(() => ch.close());
  for (const last of [{ end: true }, { fail: true }]) {
    const call = ch.call<Msg, Msg>(DISCOVERY_SERVICE.stream.path, NAME);
    const got: Msg[] = [];
    const done = new Promise<string>((resolve) => {
      call.on('message', (m) => {
        got.push(m.got as Msg);
        if (got.length === 2) call.write(last);
      });
      call.on('end', () => resolve('end'));
      call.on('error', (e) => resolve(`error ${e.code}`));
    });
    call.write({ n: 1 });
    call.write({ n: 2 });
    assert.equal(await done, last.end ? 'end' : `error ${GrpcStatus.UNAVAILABLE}`);
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
  }
});

test('an unreachable server or a certificate for another name fails the call with UNAVAILABLE', async (t) => {
  const s = await startServer(t);
  for (const [address, tls] of [
    ['127.0.0.1:1', s.tls],
    [s.address, { ...s.tls, servername: 'someone-else' }],
  ] as const) {
    const ch = new GrpcChannel(address, tls);
    const err = (await ch
      .unary(DISCOVERY_SERVICE.certificate.path, NAME, {})
      .catch((e: unknown) => e)) as GrpcError;
    ch.close();
    assert.equal(err.code, GrpcStatus.UNAVAILABLE, err.message);
  }
});
