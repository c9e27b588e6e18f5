// Workload certificate lifetime, and root rotation with an overlap (an injected clock, no sleeping): both roots
// trusted during the overlap, new leaves from the new root verifiable by peers that trust either root, the old
// root gone after the overlap, and all of it surviving a reload of the state directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority, MAX_WORKLOAD_CERT_TTL_MS } from './authority.js';
import { splitPem } from './material.js';
import { generateKeyAndCsr, renewDelayMs } from '../../proxy/identity/csr.js';
import { verifyChain } from '../../lib/spiffe.js';
import { handshake, workload } from './test-helpers.js';

const TD = 'cluster.local';
const A = `spiffe://${TD}/ns/default/sa/reviews`;
const B = `spiffe://${TD}/ns/default/sa/productpage`;
const H = 3600e3;
const DAY = 24 * H;

type T = { after: (fn: () => unknown) => void };

async function setup(t: T, ttl = H) {
  const dir = await mkdtemp(join(tmpdir(), 'weft-rotate-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const clock = { now: Date.now() };
  const open = async () => {
    const ca = await CertificateAuthority.loadOrCreate(dir, {
      trustDomain: TD,
      certTtlMs: ttl,
      now: () => clock.now,
    });
    t.after(() => ca.close());
    return ca;
  };
  return { dir, clock, open, ca: await open() };
}

async function leaf(ca: CertificateAuthority, id = A, ttlMs?: number) {
  const { csrPem } = await generateKeyAndCsr(id);
  return ca.signCsr(csrPem, id, ttlMs);
}

const lifetime = (pem: string) => {
  const c = new X509Certificate(pem);
  return Date.parse(c.validTo) - Date.parse(c.validFrom);
};

test('the workload certificate lifetime is honoured, an explicit one capped at 90 days, too long refused', async (t) => {
  const { ca, clock } = await setup(t, 2 * H);
  const { certChainPem, notAfter } = await leaf(ca);
  // Backdated by a tenth of the lifetime at most (a minute here); certificate times have 1 s resolution.
  assert.ok(Math.abs(notAfter.getTime() - clock.now - 2 * H) <= 1000);
  assert.ok(Math.abs(lifetime(certChainPem[0]!) - 2 * H - 60e3) <= 1000);
  const long = await leaf(ca, A, 200 * DAY);
  assert.ok(Math.abs(long.notAfter.getTime() - clock.now - MAX_WORKLOAD_CERT_TTL_MS) <= 1000, 'capped');
  const short = await leaf(ca, A, 10e3);
  assert.ok(Math.abs(lifetime(short.certChainPem[0]!) - 11e3) <= 1000, '10 s, backdated by 1 s');

  const dir = await mkdtemp(join(tmpdir(), 'weft-ttl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(CertificateAuthority.loadOrCreate(dir, { trustDomain: TD, certTtlMs: 91 * DAY }), {
    code: 'WEFT_ERR_CA_TTL_INVALID',
    message: /above the maximum of 90 days/,
  });
  await assert.rejects(CertificateAuthority.loadOrCreate(dir, { trustDomain: TD, certTtlMs: 0 }), {
    code: 'WEFT_ERR_CA_TTL_INVALID',
  });
});

test('rotation: both roots trusted during the overlap; a new leaf verifies with the bundle and with the old root alone', async (t) => {
  const { ca, clock } = await setup(t);
  const oldRoot = ca.rootCertPem;
  const oldLeaf = await leaf(ca, B);
  const longOldLeaf = await leaf(ca, B, 10 * H); // outlives the overlap (an explicit, longer lifetime)
  const oldPeer = await workload(ca, B); // a proxy that has not renewed since: old leaf, old root only

  await assert.rejects(ca.rotateRoot({ overlapMs: H / 2 }), {
    code: 'WEFT_ERR_CA_ROTATION_REFUSED',
    message: /shorter than the workload certificate lifetime/,
  });
  const changes: string[] = [];
  ca.on('change', () => changes.push('change'));
  const info = await ca.rotateRoot({ overlapMs: 2 * H });
  assert.deepEqual(changes, ['change']);
  const newRoot = ca.rootCertPem;
  assert.notEqual(newRoot, oldRoot);
  assert.deepEqual(ca.trustBundle(), [newRoot, oldRoot]);
  assert.equal(info.roots.length, 2);
  assert.equal(info.roots[0]!.signing, true);
  assert.equal(Date.parse(info.roots[1]!.removeAt!), clock.now + 2 * H);
  assert.notEqual(info.roots[0]!.fingerprint, info.roots[1]!.fingerprint);

  const fresh = await leaf(ca);
  const [leafPem, cross] = fresh.certChainPem as [string, string];
  assert.equal(fresh.certChainPem.length, 2, 'leaf + the new root cross-signed by the old one');
  assert.deepEqual(fresh.trustBundle, [newRoot, oldRoot]);
  const leafCert = new X509Certificate(leafPem);
  assert.ok(leafCert.verify(new X509Certificate(newRoot).publicKey), 'signed by the new root');
  assert.equal(verifyChain(leafPem, newRoot), true);
  assert.equal(verifyChain(leafPem, oldRoot), false, 'not directly by the old one');
  assert.equal(verifyChain(leafPem, oldRoot, [cross]), true, 'but through the cross-signed root');
  assert.equal(verifyChain(oldLeaf.certChainPem[0]!, oldRoot), true, 'old leaves still verify');
  assert.equal(ca.verifyPeer(leafPem), true);
  assert.equal(ca.verifyPeer(oldLeaf.certChainPem[0]!), true);

  // Real TLS, both directions, between every mix of old and new: no pair fails during the overlap.
  const renewed = await workload(ca, A);
  assert.equal(renewed.trustBundle.length, 2);
  assert.equal(await handshake(renewed, oldPeer), true, 'new-root server, old-root-only client');
  assert.equal(await handshake(oldPeer, renewed), true, 'old-root server, new-root client');
  assert.equal(await handshake(renewed, await workload(ca, B)), true, 'both renewed');

  // A leaf issued late in the overlap renews (half life) just after the old root leaves the bundle.
  clock.now += 100 * 60e3;
  const late = await leaf(ca);
  const removeAt = Date.parse(info.roots[1]!.removeAt!);
  const renewAt = clock.now + renewDelayMs(late.certChainPem[0]!, clock.now);
  assert.ok(
    renewAt >= removeAt - 1000 && renewAt <= removeAt + 8 * 60e3,
    `renews at ${renewAt - removeAt} ms`,
  );
  assert.ok(lifetime(late.certChainPem[0]!) < H, 'shortened for that');

  // After the overlap: the old root is out of the bundle, leaves no longer carry the cross-signed root.
  clock.now = removeAt + 1000;
  assert.deepEqual(ca.trustBundle(), [newRoot]);
  const after = await leaf(ca);
  assert.equal(after.certChainPem.length, 1);
  assert.deepEqual(after.trustBundle, [newRoot]);
  assert.ok(Math.abs(after.notAfter.getTime() - clock.now - H) <= 1000, 'the full lifetime again');
  // A leaf of the old root that is still within its validity is no longer accepted.
  assert.equal(ca.verifyPeer(longOldLeaf.certChainPem[0]!), false);
  assert.equal(verifyChain(longOldLeaf.certChainPem[0]!, oldRoot, [], new Date(clock.now)), true);
});

test('rotation state survives a reload; the overlap ends on the stored schedule and is pruned from disk', async (t) => {
  const { ca, clock, open, dir } = await setup(t);
  const oldRoot = ca.rootCertPem;
  await ca.rotateRoot({ overlapMs: 3 * H });
  const newRoot = ca.rootCertPem;
  const files = async () => splitPem(await readFile(join(dir, 'root-cert.pem'), 'utf8'));
  assert.deepEqual(await files(), [newRoot, oldRoot], 'root-cert.pem is the bundle');
  assert.equal(await readFile(join(dir, 'ca-cert.pem'), 'utf8'), newRoot, 'ca-cert.pem is the signing root');
  ca.close();

  clock.now += H;
  const again = await open();
  assert.equal(again.rootCertPem, newRoot);
  assert.deepEqual(again.trustBundle(), [newRoot, oldRoot]);
  const chain = (await leaf(again)).certChainPem;
  assert.equal(chain.length, 2);
  assert.equal(
    verifyChain(chain[0]!, oldRoot, [chain[1]!], new Date(clock.now)),
    true,
    'the cross-signed root was kept',
  );
  const serving = await again.issueServing(
    ['localhost'],
    ['127.0.0.1'],
    `spiffe://${TD}/ns/weft-system/sa/cp`,
    DAY,
  );
  assert.equal(
    verifyChain(serving.certPem, oldRoot, serving.chainPem, new Date(clock.now)),
    true,
    'serving cert for old proxies',
  );

  clock.now += 2 * H + 1000;
  assert.deepEqual(again.trustBundle(), [newRoot]);
  assert.deepEqual(await files(), [newRoot, oldRoot], 'not yet pruned from disk');
  assert.equal(await again.prune(), true);
  assert.deepEqual(await files(), [newRoot]);
  assert.equal(await again.prune(), false);
  again.close();
  const third = await open();
  assert.deepEqual(third.trustBundle(), [newRoot]);
  assert.equal(third.info().roots.length, 1);
  // The control plane's certificate keeps the cross-signed root: proxies started with the old root file
  // still reach discovery after the overlap.
  const serving2 = await third.issueServing(['localhost'], [], `spiffe://${TD}/ns/weft-system/sa/cp`, DAY);
  assert.equal(serving2.chainPem.length, 1);
});

test('two rotations in a row: a peer trusting only the first root still verifies leaves of the third', async (t) => {
  const { ca } = await setup(t);
  const first = ca.rootCertPem;
  await ca.rotateRoot({ overlapMs: 2 * H });
  await ca.rotateRoot({ overlapMs: 2 * H });
  assert.equal(ca.trustBundle().length, 3);
  const { certChainPem } = await leaf(ca);
  assert.equal(certChainPem.length, 3, 'leaf, third root by second, second root by first');
  assert.equal(verifyChain(certChainPem[0]!, first, certChainPem.slice(1)), true);
});

test('a state directory from before ca.json (root key and cert only) is migrated', async (t) => {
  const { ca, dir, open } = await setup(t);
  const root = ca.rootCertPem;
  ca.close();
  await rm(join(dir, 'ca.json'));
  await rm(join(dir, 'root-cert.pem'));
  const again = await open();
  assert.equal(again.rootCertPem, root);
  assert.equal(again.mode, 'self-signed');
  assert.deepEqual(splitPem(await readFile(join(dir, 'root-cert.pem'), 'utf8')), [root]);
  assert.ok(JSON.parse(await readFile(join(dir, 'ca.json'), 'utf8')));
});
