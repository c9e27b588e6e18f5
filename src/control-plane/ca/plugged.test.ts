// A plugged-in CA (Istio's cacerts): the user's intermediate signs, leaves carry it, peers verify up to the
// user's root; bad material is refused with an error that names the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority } from './authority.js';
import { checkPluggedCa, loadPluggedCa, splitPem } from './material.js';
import { generateKeyAndCsr } from '../../proxy/identity/csr.js';
import { verifyChain } from '../../lib/spiffe.js';
import { handshake, issue, makeRoot, workload } from './test-helpers.js';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/default/sa/reviews`;
const OTHER = `spiffe://${TD}/ns/default/sa/productpage`;
const DAY = 24 * 3600e3;

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-plugged-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Istio's Makefile layout: root-cert.pem, and per cluster ca-cert.pem, ca-key.pem, cert-chain.pem (ca-cert + root). */
async function cacerts(kind: { root?: 'P-256' | 'P-384' | 'RSA'; mid?: 'P-256' | 'P-384' | 'RSA' } = {}) {
  const root = await makeRoot('CN=Example Root CA, O=Example', kind.root ?? 'P-256');
  const mid = await issue(root, 'CN=Intermediate CA, O=Example, L=cluster1', { kind: kind.mid ?? 'P-256' });
  return {
    root,
    mid,
    files: {
      caCertPem: mid.pem,
      caKeyPem: mid.keyPem,
      rootCertPem: root.pem,
      certChainPem: mid.pem + '\n' + root.pem,
    },
  };
}

async function pluggedCa(dir: string, files: Parameters<typeof checkPluggedCa>[0], ttl?: number) {
  const ca = await CertificateAuthority.loadOrCreate(dir, {
    trustDomain: TD,
    plugged: await checkPluggedCa(files),
    ...(ttl ? { certTtlMs: ttl } : {}),
  });
  return ca;
}

test('a plugged-in intermediate signs; the chain verifies with node:crypto up to the user root', async (t) => {
  const dir = await tempDir(t);
  const { root, mid, files } = await cacerts();
  const ca = await pluggedCa(dir, files);
  t.after(() => ca.close());
  assert.equal(ca.mode, 'plugged');
  assert.deepEqual(
    ca.trustBundle().map((p) => new X509Certificate(p).fingerprint256),
    [new X509Certificate(root.pem).fingerprint256],
  );

  const { csrPem } = await generateKeyAndCsr(ID);
  const { certChainPem, trustBundle } = await ca.signCsr(csrPem, ID);
  assert.equal(certChainPem.length, 2, 'leaf + intermediate (the root is not sent)');
  const [leafPem, midPem] = certChainPem as [string, string];
  const leaf = new X509Certificate(leafPem);
  const sentMid = new X509Certificate(midPem);
  const userRoot = new X509Certificate(trustBundle[0]!);
  assert.equal(sentMid.fingerprint256, new X509Certificate(mid.pem).fingerprint256);
  assert.ok(leaf.checkIssued(sentMid) && leaf.verify(sentMid.publicKey), 'leaf signed by the intermediate');
  assert.ok(
    sentMid.checkIssued(userRoot) && sentMid.verify(userRoot.publicKey),
    'intermediate signed by the root',
  );
  assert.equal(verifyChain(leafPem, root.pem, [midPem]), true);
  assert.equal(verifyChain(leafPem, root.pem), false, 'not without the intermediate');
  assert.equal(ca.verifyPeer(leafPem), true, 'the discovery server accepts it');

  // Two proxies with leaves from the plugged-in CA complete mutual TLS with the user root as the only anchor.
  assert.equal(await handshake(await workload(ca, ID), await workload(ca, OTHER)), true);

  // The state dir is an Istio cacerts folder; the trust bundle file is what proxies are pointed at.
  assert.equal(await readFile(join(dir, 'ca-cert.pem'), 'utf8'), splitPem(mid.pem)[0]);
  assert.equal(await readFile(join(dir, 'root-cert.pem'), 'utf8'), splitPem(root.pem)[0]);
  assert.equal(await readFile(join(dir, 'cert-chain.pem'), 'utf8'), splitPem(mid.pem)[0]);
});

test('RSA and P-384 CAs work too; a leaf never outlives the intermediate', async (t) => {
  const dir = await tempDir(t);
  const root = await makeRoot('CN=RSA Root', 'P-384');
  const mid = await issue(root, 'CN=RSA Intermediate', {
    kind: 'RSA',
    notAfter: new Date(Date.now() + 3600e3),
  });
  const ca = await pluggedCa(
    dir,
    { caCertPem: mid.pem, caKeyPem: mid.keyPem, rootCertPem: root.pem },
    2 * DAY,
  );
  t.after(() => ca.close());
  const { csrPem } = await generateKeyAndCsr(ID);
  const { certChainPem, notAfter } = await ca.signCsr(csrPem, ID);
  assert.ok(notAfter.getTime() <= mid.cert.notAfter.getTime(), 'capped at the intermediate expiry');
  assert.equal(verifyChain(certChainPem[0]!, root.pem, certChainPem.slice(1)), true);
  assert.equal(await handshake(await workload(ca, ID), await workload(ca, OTHER)), true);
});

test('a key that does not match the certificate is refused', async () => {
  const { files } = await cacerts();
  const other = await makeRoot('CN=Someone else');
  await assert.rejects(checkPluggedCa({ ...files, caKeyPem: other.keyPem }), {
    code: 'WEFT_ERR_CA_KEY_MISMATCH',
    message: /ca-key.pem is not the key of ca-cert.pem/,
  });
});

test('a certificate that is not a CA, expired, or does not chain to the root is refused', async () => {
  const { root, mid, files } = await cacerts();
  const leaf = await issue(mid, 'CN=just a server', { ca: false });
  await assert.rejects(checkPluggedCa({ ...files, caCertPem: leaf.pem, caKeyPem: leaf.keyPem }), {
    code: 'WEFT_ERR_CA_CERT_INVALID',
    message: /not a CA certificate/,
  });
  const expired = await issue(root, 'CN=Old Intermediate', {
    notBefore: new Date(Date.now() - 30 * DAY),
    notAfter: new Date(Date.now() - DAY),
  });
  await assert.rejects(checkPluggedCa({ ...files, caCertPem: expired.pem, caKeyPem: expired.keyPem }), {
    code: 'WEFT_ERR_CA_CERT_EXPIRED',
    message: /expired on/,
  });
  const stranger = await makeRoot('CN=Unrelated Root');
  await assert.rejects(checkPluggedCa({ ...files, rootCertPem: stranger.pem, certChainPem: undefined }), {
    code: 'WEFT_ERR_CA_CERT_INVALID',
    message: /does not chain to root-cert.pem/,
  });
  await assert.rejects(checkPluggedCa({ caCertPem: mid.pem, caKeyPem: mid.keyPem }), {
    code: 'WEFT_ERR_CA_CERT_INVALID',
    message: /no root was given/,
  });
  await assert.rejects(checkPluggedCa({ ...files, caKeyPem: 'not a key' }), {
    code: 'WEFT_ERR_CA_CERT_INVALID',
  });
});

test('files are read from the flags; a missing one is named', async (t) => {
  const dir = await tempDir(t);
  const { mid, root } = await cacerts();
  await writeFile(join(dir, 'ca-cert.pem'), mid.pem);
  await writeFile(join(dir, 'ca-key.pem'), mid.keyPem);
  await writeFile(join(dir, 'root-cert.pem'), root.pem);
  const ok = await loadPluggedCa({
    caCert: join(dir, 'ca-cert.pem'),
    caKey: join(dir, 'ca-key.pem'),
    rootCert: join(dir, 'root-cert.pem'),
  });
  assert.equal(ok.chainPem.length, 1, 'without cert-chain.pem the chain is the intermediate');
  await assert.rejects(loadPluggedCa({ caCert: join(dir, 'ca-cert.pem'), caKey: join(dir, 'nope.pem') }), {
    code: 'WEFT_ERR_FILE_NOT_FOUND',
    message: /--ca-key .*nope.pem: no such file/,
  });
});

test('the plugged-in CA persists; switching from the self-signed root keeps the old root for one TTL', async (t) => {
  const dir = await tempDir(t);
  let now = Date.now();
  const clock = () => now;
  const selfSigned = await CertificateAuthority.loadOrCreate(dir, {
    trustDomain: TD,
    now: clock,
    certTtlMs: 3600e3,
  });
  const oldRoot = selfSigned.rootCertPem;
  const oldPeer = await workload(selfSigned, OTHER);
  selfSigned.close();

  const { root, files } = await cacerts();
  const ca = await CertificateAuthority.loadOrCreate(dir, {
    trustDomain: TD,
    now: clock,
    certTtlMs: 3600e3,
    plugged: await checkPluggedCa(files),
  });
  t.after(() => ca.close());
  const info = ca.info();
  assert.equal(info.roots.length, 2);
  assert.equal(info.roots[0]!.signing, true);
  assert.equal(info.roots[1]!.pem, oldRoot);
  assert.equal(Date.parse(info.roots[1]!.removeAt!), now + 3600e3, 'the old root stays one workload TTL');
  // Leaves from the old root keep verifying at renewed proxies and at the discovery server until they expire.
  const renewed = await workload(ca, ID);
  assert.equal(renewed.trustBundle.length, 2);
  assert.equal(verifyChain(oldPeer.current.certChain[0]!, renewed.trustBundle[1]!), true);
  assert.equal(ca.verifyPeer(oldPeer.current.certChain[0]!), true);

  // Restart without flags: still the plugged-in CA.
  ca.close();
  const again = await CertificateAuthority.loadOrCreate(dir, { trustDomain: TD, now: clock });
  t.after(() => again.close());
  assert.equal(again.mode, 'plugged');
  assert.equal(again.rootCertPem, splitPem(root.pem)[0]);
  assert.equal(again.trustBundle().length, 2);
  now += 3600e3 + 1000;
  assert.deepEqual(again.trustBundle(), [splitPem(root.pem)[0]], 'the old root is gone after its TTL');
  await assert.rejects(again.rotateRoot({ overlapMs: DAY }), { code: 'WEFT_ERR_CA_ROTATION_REFUSED' });
});
