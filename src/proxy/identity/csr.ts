// The proxy side of identity: make a key that never leaves the process, ask the CA to certify it, and
// know when to ask again.
import { webcrypto } from 'node:crypto';
import { x509 } from '../../lib/x509.js';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** A fresh ECDSA P-256 key pair and a PKCS#10 CSR carrying the SPIFFE ID as URI SAN. keyPem is PKCS#8 PEM usable by node:tls. */
export async function generateKeyAndCsr(spiffeId: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  // The CA ignores the requested names and assigns the identity itself; the SAN is informative only.
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }])],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

export { renewDelayMs } from './renew.js';
