// One TLS server runtime with several certificates (files and inline PEM): the SNI and the client's
// signature algorithms choose, a replaced file is picked up for new handshakes, and optional client
// validation with and without letting unverified certificates in.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp } from 'node:fs/promises';
import tls from 'node:tls';
import type { GatewayTlsServer } from '../../model/snapshot.js';
import { createLogger } from '../../lib/logger.js';
import { WorkloadIdentity } from '../identity/certificates.js';
import { TlsServerRuntime } from './gateway-tls.js';
import { testCa, testLeaf, type TestCert } from './gateway-testing.js';

const ca = await testCa('Server CA');
const clientCa = await testCa('Client CA');
const strangerCa = await testCa('Stranger CA');
const ec = await testLeaf(ca, { cn: 'ec', dns: ['m.example.com'] });
const rsa = await testLeaf(ca, { cn: 'rsa', dns: ['m.example.com'], rsa: true });
const rsa2 = await testLeaf(ca, { cn: 'rsa-v2', dns: ['m.example.com'], rsa: true });
const alt = await testLeaf(ca, { cn: 'alt', dns: ['*.alt.example.com'] });
const client = await testLeaf(clientCa, { cn: 'client', client: true });
const stranger = await testLeaf(strangerCa, { cn: 'stranger', client: true });
const dir = await mkdtemp(join(tmpdir(), 'weft-gw-tls-'));
const identity = new WorkloadIdentity();
const log = createLogger('test', { level: 'error', write: () => {} });
const closers: Array<() => void> = [];
after(() => closers.forEach((c) => c()));

/** A runtime behind a real port: each accepted, checked connection is answered "hello" and closed. */
async function serve(config: GatewayTlsServer): Promise<number> {
  const r = await TlsServerRuntime.create('k', 'l', config, {
    identity,
    log,
    secure: (_r, socket) => socket.end('hello'),
  });
  assert.equal(r.broken, undefined);
  const srv = net.createServer({ pauseOnConnect: true }, (s) => r.accept(s));
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  closers.push(() => (r.close(), srv.close()));
  return (srv.address() as net.AddressInfo).port;
}

/** The server certificate's CN and what the server said, or the error. */
function hello(port: number, sni: string, o: tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: sni, ca: ca.certPem, ...o });
    let data = '';
    let cn = '';
    s.on('secureConnect', () => (cn = String(s.getPeerCertificate().subject.CN)));
    s.setEncoding('utf8');
    s.on('data', (c: string) => (data += c));
    s.on('end', () => resolve(`${cn} ${data}`));
    s.on('error', (e) => resolve(`error ${e.message}`));
  });
}

const file = async (name: string, text: string) => {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
};

test('several certificates: SNI by DNS name, then ECDSA or RSA by the client; a replaced file is served next', async () => {
  const port = await serve({
    name: 'multi',
    sniHosts: [],
    mode: 'SIMPLE',
    certificate: { file: await file('ec.crt', ec.certPem) },
    privateKey: { file: await file('ec.key', ec.keyPem) },
    moreCertificates: [
      {
        certificate: { file: await file('rsa.crt', rsa.certPem) },
        privateKey: { file: await file('rsa.key', rsa.keyPem) },
      },
      { certificate: { pem: alt.certPem }, privateKey: { pem: alt.keyPem } },
    ],
    minVersion: 'TLSv1.2',
  });
  const RSA_ONLY = { sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' };
  assert.equal(await hello(port, 'm.example.com', { sigalgs: 'ecdsa_secp256r1_sha256' }), 'ec hello');
  assert.equal(await hello(port, 'm.example.com', RSA_ONLY), 'rsa hello');
  assert.equal(await hello(port, 'x.alt.example.com'), 'alt hello');
  // No name matches: the first certificate of each key type.
  assert.equal(
    await hello(port, 'unknown.test', { ca: ca.certPem, checkServerIdentity: () => undefined }),
    'ec hello',
  );

  // The RSA key then the certificate, each by a rename: new RSA handshakes get v2, ECDSA ones are unchanged.
  await writeFile(join(dir, 'rsa.key.new'), rsa2.keyPem);
  await rename(join(dir, 'rsa.key.new'), join(dir, 'rsa.key'));
  await writeFile(join(dir, 'rsa.crt.new'), rsa2.certPem);
  await rename(join(dir, 'rsa.crt.new'), join(dir, 'rsa.crt'));
  const deadline = Date.now() + 10_000;
  let got = '';
  while (Date.now() < deadline && (got = await hello(port, 'm.example.com', RSA_ONLY)) !== 'rsa-v2 hello')
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(got, 'rsa-v2 hello');
  assert.equal(await hello(port, 'm.example.com', { sigalgs: 'ecdsa_secp256r1_sha256' }), 'ec hello');
});

test('optional client validation: allowUnverified lets a stranger certificate in, OPTIONAL_MUTUAL alone does not', async () => {
  const base = (extra: Partial<GatewayTlsServer>): GatewayTlsServer => ({
    name: 'opt',
    sniHosts: [],
    mode: 'OPTIONAL_MUTUAL',
    certificate: { pem: ec.certPem },
    privateKey: { pem: ec.keyPem },
    caCertificates: { pem: clientCa.certPem },
    ...extra,
  });
  const withCert = (c: TestCert) => ({ cert: c.certPem, key: c.keyPem });
  const lenient = await serve(base({ allowUnverified: true }));
  const optional = await serve(base({}));
  for (const port of [lenient, optional]) {
    assert.equal(await hello(port, 'm.example.com'), 'ec hello', 'no certificate');
    assert.equal(await hello(port, 'm.example.com', withCert(client)), 'ec hello', 'a valid one');
  }
  assert.equal(await hello(lenient, 'm.example.com', withCert(stranger)), 'ec hello');
  assert.notEqual(await hello(optional, 'm.example.com', withCert(stranger)), 'ec hello');
});
