// End to end: certificates from the CA must work in a real node:tls mutual-TLS handshake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority } from './authority.js';
import { generateKeyAndCsr } from '../../proxy/identity/csr.js';
import { certSpiffeId } from '../../lib/spiffe.js';

const TD = 'cluster.local';
const SERVER_ID = `spiffe://${TD}/ns/weft-system/sa/control-plane`;
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/productpage`;

async function newCa(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'weft-mtls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return CertificateAuthority.loadOrCreate(dir, { trustDomain: TD });
}

async function clientCert(ca: CertificateAuthority) {
  const { keyPem, csrPem } = await generateKeyAndCsr(CLIENT_ID);
  const { certChainPem } = await ca.signCsr(csrPem, CLIENT_ID);
  return { key: keyPem, cert: certChainPem.join('') };
}

/** An mTLS server that answers each authorized connection with the client's SPIFFE ID. */
async function startServer(t: { after: (fn: () => Promise<void>) => void }, ca: CertificateAuthority) {
  const serving = await ca.issueServing(['localhost'], ['127.0.0.1'], SERVER_ID);
  let accepted = 0;
  const server = tls.createServer(
    {
      requestCert: true,
      rejectUnauthorized: true,
      ca: ca.rootCertPem,
      key: serving.keyPem,
      cert: serving.certPem,
    },
    (socket) => {
      accepted++;
      socket.end(certSpiffeId(socket.getPeerCertificate()) ?? 'none');
    },
  );
  const rejected = new Promise<Error>((resolve) => server.once('tlsClientError', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, rejected, accepted: () => accepted };
}

/** Connects and resolves with what the server sent before the connection closed (errors just end the exchange:
 * with TLS 1.3 the client finishes its side of the handshake before the server rejects its certificate). */
function exchange(port: number, opts: tls.ConnectionOptions): Promise<{ body: string; serverId?: string }> {
  return new Promise((resolve) => {
    let serverId: string | undefined;
    let body = '';
    const socket = tls.connect({ host: '127.0.0.1', port, ...opts }, () => {
      serverId = certSpiffeId(socket.getPeerCertificate());
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (body += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ body, serverId }));
  });
}

test('mTLS handshake with CA-issued certs succeeds and both sides see SPIFFE IDs', async (t) => {
  const ca = await newCa(t);
  const server = await startServer(t, ca);
  const { body, serverId } = await exchange(server.port, { ca: ca.rootCertPem, ...(await clientCert(ca)) });
  assert.equal(body, CLIENT_ID);
  assert.equal(serverId, SERVER_ID);
  assert.equal(server.accepted(), 1);
});

test('a client certificate from another CA is rejected by the handshake', async (t) => {
  const ca = await newCa(t);
  const other = await newCa(t);
  const server = await startServer(t, ca);
  const { body } = await exchange(server.port, { ca: ca.rootCertPem, ...(await clientCert(other)) });
  assert.ok(await server.rejected);
  assert.equal(body, '');
  assert.equal(server.accepted(), 0);
});

test('a client without a certificate is rejected', async (t) => {
  const ca = await newCa(t);
  const server = await startServer(t, ca);
  const { body } = await exchange(server.port, { ca: ca.rootCertPem });
  assert.ok(await server.rejected);
  assert.equal(body, '');
  assert.equal(server.accepted(), 0);
});

test('the client rejects a server certificate from another CA', async (t) => {
  const ca = await newCa(t);
  const other = await newCa(t);
  const server = await startServer(t, other);
  const { body, serverId } = await exchange(server.port, {
    ca: ca.rootCertPem,
    ...(await clientCert(other)),
  });
  assert.equal(body, '');
  assert.equal(serverId, undefined, 'secureConnect never fired');
});
