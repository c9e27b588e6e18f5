// Shared by the CA's unit tests (not used at run time): CA certificates made with @peculiar/x509 as a user's
// own PKI would make them, workload material from a CA, and a real mutual-TLS handshake between two proxies'
// identities.
import { webcrypto } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { x509 } from '../../lib/x509.js';
import { generateKeyAndCsr } from '../../proxy/identity/csr.js';
import { WorkloadIdentity } from '../../proxy/identity/certificates.js';
import type { CertificateAuthority } from './authority.js';

type Keys = webcrypto.CryptoKeyPair;
const DAY = 24 * 3600e3;

export type KeyKind = 'P-256' | 'P-384' | 'RSA';

export async function genKeys(kind: KeyKind = 'P-256'): Promise<{ keys: Keys; sig: webcrypto.Algorithm }> {
  if (kind === 'RSA') {
    const alg = {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    };
    return { keys: (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as Keys, sig: alg };
  }
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: kind }, true, [
    'sign',
    'verify',
  ])) as Keys;
  return {
    keys,
    sig: { name: 'ECDSA', hash: kind === 'P-384' ? 'SHA-384' : 'SHA-256' } as webcrypto.Algorithm,
  };
}

export interface TestCert {
  cert: x509.X509Certificate;
  pem: string;
  keyPem: string;
  keys: Keys;
  sig: webcrypto.Algorithm;
}

async function keyPem(keys: Keys): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
}

/** A self-signed root CA, as `openssl req -x509` or Istio's Makefile.selfsigned.mk would make it. */
export async function makeRoot(
  name = 'CN=Example Root CA, O=Example',
  kind: KeyKind = 'P-256',
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCert> {
  const { keys, sig } = await genKeys(kind);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    signingAlgorithm: sig,
    notBefore: validity.notBefore ?? new Date(Date.now() - DAY),
    notAfter: validity.notAfter ?? new Date(Date.now() + 3650 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, pem: cert.toString('pem'), keyPem: await keyPem(keys), keys, sig };
}

/** A certificate issued by `issuer`: an intermediate CA (ca: true) or a plain leaf. */
export async function issue(
  issuer: TestCert,
  name: string,
  opts: { ca?: boolean; kind?: KeyKind; notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCert> {
  const { keys, sig } = await genKeys(opts.kind ?? 'P-256');
  const ca = opts.ca ?? true;
  const cert = await x509.X509CertificateGenerator.create({
    subject: name,
    issuer: issuer.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: issuer.sig,
    notBefore: opts.notBefore ?? new Date(Date.now() - DAY),
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(ca, ca ? 0 : undefined, true),
      new x509.KeyUsagesExtension(
        ca
          ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
          : x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
    ],
  });
  return { cert, pem: cert.toString('pem'), keyPem: await keyPem(keys), keys, sig };
}

/** What a proxy holds after a Certificate call: key, chain and the trust bundle, as WorkloadIdentity. */
export async function workload(ca: CertificateAuthority, spiffeId: string): Promise<WorkloadIdentity> {
  const { keyPem, csrPem } = await generateKeyAndCsr(spiffeId);
  const signed = await ca.signCsr(csrPem, spiffeId);
  const id = new WorkloadIdentity();
  id.set({ keyPem, certChain: signed.certChainPem, rootPem: signed.trustBundle.join('') });
  return id;
}

/** A real mutual-TLS exchange: `server` requires a client certificate from its bundle, `client` verifies the
 * server's chain against its bundle. True when the server's reply arrived (both sides accepted). */
export async function handshake(server: WorkloadIdentity, client: WorkloadIdentity): Promise<boolean> {
  const srv = tls.createServer(
    { ...server.serverOptions(), requestCert: true, rejectUnauthorized: true },
    (socket) => socket.end('ok'),
  );
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<boolean>((resolve) => {
      let body = '';
      const socket = tls.connect({
        host: '127.0.0.1',
        port: (srv.address() as AddressInfo).port,
        secureContext: client.clientContext,
        // Leaves carry only a SPIFFE URI; the listeners check it themselves, not a host name.
        checkServerIdentity: () => undefined,
      });
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (body += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(body === 'ok'));
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}
