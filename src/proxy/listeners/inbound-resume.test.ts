// The inbound mTLS listener and TLS session resumption: a client resuming a session whose certificate has
// expired since is refused, and the log says so; a client whose certificate is valid resumes and is
// answered. 3 s client certificates from a real mesh CA.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CertificateAuthority } from '../../control-plane/ca/authority.js';
import { workload } from '../../control-plane/ca/test-helpers.js';
import { createInboundServer } from './inbound.js';

const TTL_MS = 3_000;
let dir: string;
let ca: CertificateAuthority;
let port = 0;
const logged: string[] = [];
let server: ReturnType<typeof createInboundServer>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-inbound-resume-'));
  ca = await CertificateAuthority.loadOrCreate(dir, { trustDomain: 'cluster.local', certTtlMs: TTL_MS });
  const identity = await workload(ca, 'spiffe://cluster.local/ns/default/sa/server');
  // No config yet: an HTTP request is answered 503, which is all this test needs to tell "answered".
  server = createInboundServer({
    identity,
    state: () => undefined,
    appHost: '127.0.0.1',
    appPort: (p) => p,
    log: (line) => logged.push(line),
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

/** One request over a new connection: 'answered', or how it ended; and whether it resumed. */
function attempt(ctx: tls.SecureContext, session?: Buffer) {
  return new Promise<{ outcome: string; resumed: boolean; session: Buffer | undefined }>((resolve) => {
    let next: Buffer | undefined;
    let resumed = false;
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      secureContext: ctx,
      ALPNProtocols: ['http/1.1'],
      checkServerIdentity: () => undefined,
      ...(session ? { session } : {}),
    });
    const done = (outcome: string) => {
      s.destroy();
      resolve({ outcome, resumed, session: next });
    };
    s.on('session', (b: Buffer) => (next = b));
    s.on('secureConnect', () => {
      resumed = s.isSessionReused();
      s.write('GET / HTTP/1.1\r\nHost: echo:8080\r\n\r\n');
    });
    // The answer, then a moment for the session tickets that follow it.
    s.on('data', () => setTimeout(() => done('answered'), 50));
    s.on('error', (e) => done(e.message));
    s.on('close', () => done('closed'));
  });
}

test('a valid client resumes its session; once its certificate has expired, the resumed session is refused', async () => {
  const client = await workload(ca, 'spiffe://cluster.local/ns/default/sa/client');
  const first = await attempt(client.clientContext);
  assert.equal(first.outcome, 'answered');
  assert.equal(first.resumed, false);
  assert.ok(first.session, 'a session ticket');
  const again = await attempt(client.clientContext, first.session);
  assert.deepEqual([again.outcome, again.resumed], ['answered', true]);
  const notAfter = Date.parse(new X509Certificate(client.current.certChain[0]!).validTo);
  await sleep(Math.max(0, notAfter - Date.now()) + 1100);
  const late = await attempt(client.clientContext, again.session ?? first.session);
  assert.equal(late.resumed, true, 'the server took the session: the expiry check is what refuses it');
  assert.notEqual(late.outcome, 'answered');
  assert.ok(
    logged.some((l) =>
      /inbound mTLS connection from 127\.0\.0\.1:\d+ refused: CERT_HAS_EXPIRED \(resumed session\)/.test(l),
    ),
    logged.join('\n'),
  );
});
