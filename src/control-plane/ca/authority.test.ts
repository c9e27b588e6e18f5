import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { x509 } from '../../lib/x509.js';
import { CertificateAuthority } from './authority.js';
import { generateKeyAndCsr } from '../../proxy/identity/csr.js';
import { certSpiffeId, verifyChain } from '../../lib/spiffe.js';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/default/sa/reviews`;

async function tempCa(t: { after: (fn: () => Promise<void>) => void }, ttl?: number) {
  const dir = await mkdtemp(join(tmpdir(), 'weft-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { dir, ca: await CertificateAuthority.loadOrCreate(dir, { trustDomain: TD, certTtlMs: ttl }) };
}

async function issueLeaf(ca: CertificateAuthority, id = ID, ttlMs?: number) {
  const { csrPem } = await generateKeyAndCsr(id);
  const { certChainPem, notAfter } = await ca.signCsr(csrPem, id, ttlMs);
  assert.equal(certChainPem.length, 1);
  return { pem: certChainPem[0] ?? '', notAfter };
}

test('the root persists across loadOrCreate, with a 0600 key', async (t) => {
  const { dir, ca } = await tempCa(t);
  const again = await CertificateAuthority.loadOrCreate(dir, { trustDomain: TD });
  assert.equal(again.rootCertPem, ca.rootCertPem);
  assert.equal(await readFile(join(dir, 'ca-cert.pem'), 'utf8'), ca.rootCertPem);
  assert.equal((await stat(join(dir, 'ca-key.pem'))).mode & 0o777, 0o600);
  const root = new X509Certificate(ca.rootCertPem);
  assert.equal(root.ca, true);
  assert.ok(Date.parse(root.validTo) - Date.now() > 9.9 * 365 * 24 * 3600e3, 'about ten years');
  // A leaf from the reloaded CA chains to the original root.
  assert.equal(verifyChain((await issueLeaf(again)).pem, ca.rootCertPem), true);
});

test('signCsr assigns the requested SPIFFE ID, ignoring names in the CSR', async (t) => {
  const { ca } = await tempCa(t);
  const { csrPem } = await generateKeyAndCsr(`spiffe://${TD}/ns/kube-system/sa/admin`);
  const before = Date.now();
  const { certChainPem, notAfter } = await ca.signCsr(csrPem, ID);
  const leaf = new X509Certificate(certChainPem[0] ?? '');
  assert.equal(leaf.subjectAltName, `URI:${ID}`);
  assert.equal(certSpiffeId(leaf), ID);
  assert.equal(certSpiffeId(certChainPem[0] ?? ''), ID);
  assert.equal(leaf.ca, false);
  assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // node reports EKU here
  assert.equal(leaf.serialNumber.replace(/^0+/, '').length >= 30, true, '16-byte random serial');
  // Default TTL 24h, backdated a minute for clock skew (certificate times have 1 s resolution).
  assert.ok(Math.abs(notAfter.getTime() - before - 24 * 3600e3) < 5000);
  assert.ok(Math.abs(Date.parse(leaf.validFrom) - (before - 60e3)) < 5000);
  assert.equal(ca.signedCount, 1);
});

test('signCsr rejects a tampered or unparsable CSR', async (t) => {
  const { ca } = await tempCa(t);
  const { csrPem } = await generateKeyAndCsr(ID);
  const der = Buffer.from(x509.PemConverter.decodeFirst(csrPem));
  const at = der.indexOf('reviews');
  der[at] = 'R'.charCodeAt(0); // still parses, but the signature no longer covers it
  const tampered = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
  await assert.rejects(ca.signCsr(tampered, ID), { code: 'WEFT_ERR_CA_CSR_INVALID' });
  await assert.rejects(
    ca.signCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', ID),
    {
      code: 'WEFT_ERR_CA_CSR_INVALID',
    },
  );
  assert.equal(ca.signedCount, 0);
});

test('signCsr rejects non-P-256 keys and IDs outside the trust domain', async (t) => {
  const { ca } = await tempCa(t);
  const alg = { name: 'ECDSA', namedCurve: 'P-384' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const p384 = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
  });
  await assert.rejects(ca.signCsr(p384.toString('pem'), ID), { code: 'WEFT_ERR_CA_CSR_INVALID' });
  const { csrPem } = await generateKeyAndCsr(ID);
  await assert.rejects(ca.signCsr(csrPem, 'spiffe://other.domain/ns/a/sa/b'), {
    code: 'WEFT_ERR_CA_IDENTITY_MISMATCH',
  });
});

test('verifyChain: issued leaf, foreign CA, expiry', async (t) => {
  const { ca } = await tempCa(t);
  const { ca: other } = await tempCa(t);
  const { pem, notAfter } = await issueLeaf(ca, ID, 3600e3);
  assert.equal(verifyChain(pem, ca.rootCertPem), true);
  assert.equal(
    verifyChain(Buffer.from(x509.PemConverter.decodeFirst(pem)), ca.rootCertPem),
    true,
    'DER input',
  );
  assert.equal(verifyChain((await issueLeaf(other)).pem, ca.rootCertPem), false, 'signed by another CA');
  assert.equal(verifyChain(pem, ca.rootCertPem, [], new Date(notAfter.getTime() + 1000)), false, 'expired');
  assert.equal(verifyChain(pem, ca.rootCertPem, [], new Date(Date.now() - 3600e3)), false, 'not yet valid');
});

test('verifyChain follows one intermediate', async () => {
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const sig = { name: 'ECDSA', hash: 'SHA-256' };
  const gen = async () =>
    (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const [rootKeys, midKeys, leafKeys] = [await gen(), await gen(), await gen()];
  const caExt = (ca: boolean) => [
    new x509.BasicConstraintsExtension(ca, undefined, true),
    new x509.KeyUsagesExtension(
      ca ? x509.KeyUsageFlags.keyCertSign : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
  ];
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=root',
    keys: rootKeys,
    signingAlgorithm: sig,
    extensions: caExt(true),
  });
  const mid = await x509.X509CertificateGenerator.create({
    subject: 'CN=mid',
    issuer: root.subject,
    publicKey: midKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: sig,
    extensions: caExt(true),
  });
  // Same name and key as mid, but CA:false: it must not be accepted as an issuer.
  const notCa = await x509.X509CertificateGenerator.create({
    subject: 'CN=mid',
    issuer: root.subject,
    publicKey: midKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: sig,
    extensions: caExt(false),
  });
  const leaf = await x509.X509CertificateGenerator.create({
    subject: 'CN=leaf',
    issuer: mid.subject,
    publicKey: leafKeys.publicKey,
    signingKey: midKeys.privateKey,
    signingAlgorithm: sig,
    extensions: caExt(false),
  });
  const pem = (c: x509.X509Certificate) => c.toString('pem');
  assert.equal(verifyChain(pem(leaf), pem(root), [pem(mid)]), true);
  assert.equal(verifyChain(pem(leaf), pem(root)), false, 'intermediate missing');
  assert.equal(verifyChain(pem(leaf), pem(root), [pem(notCa)]), false, 'a non-CA cert cannot issue');
});

test('issueServing gives DNS, IP and SPIFFE SANs with a matching key', async (t) => {
  const { ca } = await tempCa(t);
  const cpId = `spiffe://${TD}/ns/weft-system/sa/control-plane`;
  const { certPem, keyPem } = await ca.issueServing(['localhost'], ['127.0.0.1'], cpId);
  const cert = new X509Certificate(certPem);
  assert.equal(cert.subjectAltName, `DNS:localhost, IP Address:127.0.0.1, URI:${cpId}`);
  assert.equal(cert.checkPrivateKey(createPrivateKey(keyPem)), true);
  assert.equal(verifyChain(certPem, ca.rootCertPem), true);
});
