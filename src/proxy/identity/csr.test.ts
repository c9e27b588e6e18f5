import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, webcrypto } from 'node:crypto';
import { x509 } from '../../lib/x509.js';
import { generateKeyAndCsr, renewDelayMs } from './csr.js';
import { generateKeyAndCsrIsolated } from './csr-process.js';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

test('generateKeyAndCsr: a PKCS#8 P-256 key and a self-signed CSR naming the SPIFFE ID', async () => {
  const { keyPem, csrPem } = await generateKeyAndCsr(ID);
  assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(createPrivateKey(keyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  assert.equal(await csr.verify(), true);
  // Pkcs10CertificateRequest.getExtension takes an OID, unlike X509Certificate's.
  const san = csr.getExtension('2.5.29.17') as x509.SubjectAlternativeNameExtension | null;
  assert.deepEqual(san?.names.toJSON(), [{ type: 'url', value: ID }]);
  const again = await generateKeyAndCsr(ID);
  assert.notEqual(again.keyPem, keyPem, 'a fresh key every time');
});

test('the proxy makes its key and CSR in a child process, with the same result', async () => {
  const { keyPem, csrPem } = await generateKeyAndCsrIsolated(ID);
  assert.equal(createPrivateKey(keyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  assert.equal(await csr.verify(), true);
  const san = csr.getExtension('2.5.29.17') as x509.SubjectAlternativeNameExtension | null;
  assert.deepEqual(san?.names.toJSON(), [{ type: 'url', value: ID }]);
  await assert.rejects(generateKeyAndCsrIsolated(''), /cannot make a key and CSR: usage/);
});

async function certValid(notBefore: Date, notAfter: Date): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=t',
    keys,
    notBefore,
    notAfter,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return cert.toString('pem');
}

test('renewDelayMs is half the lifetime after notBefore, at least 1s', async () => {
  const notBefore = Date.UTC(2030, 0, 1);
  const pem = await certValid(new Date(notBefore), new Date(notBefore + 24 * 3600e3));
  assert.equal(renewDelayMs(pem, notBefore), 12 * 3600e3);
  assert.equal(renewDelayMs(pem, notBefore + 2 * 3600e3), 10 * 3600e3);
  assert.equal(renewDelayMs(pem, notBefore + 12 * 3600e3), 1000, 'due now');
  assert.equal(renewDelayMs(pem, notBefore + 48 * 3600e3), 1000, 'already expired');
});
