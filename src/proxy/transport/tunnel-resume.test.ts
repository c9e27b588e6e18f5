// connectTcp between two mesh identities over real mTLS: a target kept between tunnels resumes the peer's
// TLS session (no second identity check needed: only that peer holds the session's key), the peer still
// sees an authorized client with its SPIFFE ID, and a peer that cannot resume (another process) gets a
// full handshake whose identity is checked again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../../control-plane/ca/authority.js';
import { workload } from '../../control-plane/ca/test-helpers.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import { certSpiffeId } from '../../lib/spiffe.js';
import { connectTcp } from './tunnel.js';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER = 'spiffe://cluster.local/ns/default/sa/server';
let dir: string;
let client: WorkloadIdentity;
let server: WorkloadIdentity;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-resume-'));
  const ca = await CertificateAuthority.loadOrCreate(dir, { trustDomain: 'cluster.local' });
  client = await workload(ca, CLIENT);
  server = await workload(ca, SERVER);
});

after(() => rm(dir, { recursive: true, force: true }));

/** A peer proxy's TCP listener: mTLS required, ALPN weft-tcp; answers each tunnel with what it saw. */
async function peer(): Promise<tls.Server> {
  const srv = tls.createServer(
    { ...server.serverOptions(), requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['weft-tcp'] },
    (s) => {
      const id = certSpiffeId(s.getPeerX509Certificate()!) ?? '-';
      // Kept open a moment, as a tunnel is: the client reads the session tickets that follow the handshake.
      s.write(`${s.authorized} ${s.isSessionReused()} ${id}\n`);
      s.on('data', () => s.end());
    },
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}

/** One tunnel: the peer's line, whether this side resumed, and whether the identity check ran. */
async function tunnel(target: Parameters<typeof connectTcp>[0], checks: string[]) {
  const s = connectTcp(target, 'weft-tcp');
  const line = await new Promise<string>((resolve, reject) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.endsWith('\n')) resolve(got.trim());
    });
    s.on('error', reject);
  });
  const resumed = s.isSessionReused();
  s.end('bye');
  await new Promise((r) => s.on('close', r));
  return { line, resumed, checks: checks.length };
}

test('a target kept between tunnels resumes the TLS session; the peer still sees the client identity', async () => {
  const srv = await peer();
  try {
    const checks: string[] = [];
    const target: Parameters<typeof connectTcp>[0] = {
      host: '127.0.0.1',
      port: (srv.address() as AddressInfo).port,
      tls: {
        secureContext: client.clientContext,
        checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => {
          checks.push(certSpiffeId(cert) ?? '-');
          return certSpiffeId(cert) === SERVER ? undefined : new Error('wrong peer');
        },
      },
    };
    assert.deepEqual(await tunnel(target, checks), {
      line: `true false ${CLIENT}`,
      resumed: false,
      checks: 1,
    });
    assert.ok(target.tunnelSession, 'a session kept for the next tunnel');
    assert.deepEqual(await tunnel(target, checks), { line: `true true ${CLIENT}`, resumed: true, checks: 1 });
    assert.deepEqual(await tunnel(target, checks), { line: `true true ${CLIENT}`, resumed: true, checks: 1 });
    assert.deepEqual(checks, [SERVER]);
  } finally {
    srv.close();
  }
});

test('another peer at the address cannot resume: a full handshake, and its identity is checked', async () => {
  const first = await peer();
  const port = (first.address() as AddressInfo).port;
  const checks: string[] = [];
  const target = {
    host: '127.0.0.1',
    port,
    tls: {
      secureContext: client.clientContext,
      checkServerIdentity: (_h: string, cert: tls.PeerCertificate) =>
        void checks.push(certSpiffeId(cert) ?? '-'),
    },
  };
  await tunnel(target, checks);
  await new Promise((r) => first.close(r));
  // Another server on the same port (a restarted proxy): other session keys.
  const again = tls.createServer(
    { ...server.serverOptions(), requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['weft-tcp'] },
    (s) => {
      s.write(`${s.authorized} ${s.isSessionReused()} -\n`);
      s.on('data', () => s.end());
    },
  );
  await new Promise<void>((r) => again.listen(port, '127.0.0.1', r));
  try {
    const t = await tunnel(target, checks);
    assert.equal(t.resumed, false);
    assert.equal(t.line, 'true false -');
    assert.deepEqual(checks, [SERVER, SERVER]);
  } finally {
    again.close();
  }
});
