// Certificates and keys as the CA handles them: splitting PEM bundles, fingerprints, importing a signing
// key of any supported type, and checking a plugged-in CA (Istio's cacerts: ca-cert.pem, ca-key.pem,
// root-cert.pem, cert-chain.pem) before it signs anything, with an error that says what is wrong.
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { x509 } from '../../lib/x509.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { verifyChain } from '../../lib/spiffe.js';

type CryptoKey = webcrypto.CryptoKey;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM text, each normalised to end with one newline. */
export function splitPem(text: string): string[] {
  return (text.match(PEM_CERT) ?? []).map((p) => p.trim() + '\n');
}

/** SHA-256 fingerprint as openssl prints it (AA:BB:…). */
export function fingerprint(pem: string): string {
  return new NodeX509(pem).fingerprint256;
}

export function samePem(a: string, b: string): boolean {
  try {
    return new NodeX509(a).raw.equals(new NodeX509(b).raw);
  } catch {
    return false;
  }
}

export function isSelfSigned(pem: string): boolean {
  const c = new NodeX509(pem);
  return c.checkIssued(c) && c.verify(c.publicKey);
}

/** basicConstraints CA:TRUE and, when keyUsage is present, keyCertSign. */
export function isCaCert(pem: string): boolean {
  if (!new NodeX509(pem).ca) return false;
  const ku = new x509.X509Certificate(pem).getExtension(x509.KeyUsagesExtension);
  return !ku || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

export function keyMatchesCert(keyPem: string, certPem: string): boolean {
  const certKey = new NodeX509(certPem).publicKey.export({ type: 'spki', format: 'der' });
  const ownKey = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  return certKey.equals(ownKey);
}

export interface SigningKey {
  key: CryptoKey;
  algorithm: webcrypto.Algorithm | webcrypto.EcdsaParams;
}

const EC_HASH: Record<string, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };
const NODE_CURVE: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** A WebCrypto signing key from PEM (PKCS#8, SEC1 or PKCS#1): ECDSA P-256/384/521 or RSA. */
export async function importSigningKey(keyPem: string): Promise<SigningKey> {
  const k = createPrivateKey(keyPem);
  const pkcs8 = k.export({ type: 'pkcs8', format: 'der' });
  if (k.asymmetricKeyType === 'ec') {
    const namedCurve = NODE_CURVE[k.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!namedCurve) throw new Error(`unsupported EC curve ${k.asymmetricKeyDetails?.namedCurve}`);
    const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve }, false, [
      'sign',
    ]);
    return { key, algorithm: { name: 'ECDSA', hash: EC_HASH[namedCurve]! } };
  }
  if (k.asymmetricKeyType === 'rsa') {
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, alg, false, ['sign']);
    return { key, algorithm: alg };
  }
  throw new Error(`unsupported key type ${k.asymmetricKeyType} (use ECDSA or RSA)`);
}

/** The key as PKCS#8 PEM, whatever PEM form it came in. */
export function pkcs8Pem(keyPem: string): string {
  return createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A plugged-in CA after checking: the signing certificate and key, the certificates that go after a leaf
 * (ca-cert first, then any intermediates up to, not including, the root) and the roots to trust. */
export interface PluggedCa {
  certPem: string;
  keyPem: string;
  chainPem: string[];
  rootsPem: string[];
}

export interface PluggedCaFiles {
  caCert: string;
  caKey: string;
  rootCert?: string;
  certChain?: string;
}

const HINT =
  "give the CA as Istio's cacerts: --ca-cert (the signing CA certificate), --ca-key (its key), --root-cert (the root to trust) and --cert-chain (ca-cert then any intermediates)";

/** Read the files named by --ca-cert, --ca-key, --root-cert and --cert-chain, then check them. */
export async function loadPluggedCa(files: PluggedCaFiles, now = Date.now()): Promise<PluggedCa> {
  const read = async (flag: string, path: string | undefined): Promise<string | undefined> => {
    if (path === undefined) return undefined;
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      throw new WeftError(
        ErrorCodes.FILE_NOT_FOUND,
        `${flag} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
        HINT,
      );
    }
  };
  return checkPluggedCa(
    {
      caCertPem: (await read('--ca-cert', files.caCert))!,
      caKeyPem: (await read('--ca-key', files.caKey))!,
      rootCertPem: await read('--root-cert', files.rootCert),
      certChainPem: await read('--cert-chain', files.certChain),
      names: {
        caCert: files.caCert,
        caKey: files.caKey,
        rootCert: files.rootCert ?? 'root-cert.pem',
        certChain: files.certChain ?? 'cert-chain.pem',
      },
    },
    now,
  );
}

function checkValidity(pem: string, name: string, now: number): void {
  const c = new NodeX509(pem);
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  if (now > to)
    throw new WeftError(
      ErrorCodes.CA_CERT_EXPIRED,
      `${name} (${c.subject.replace(/\n/g, ', ')}) expired on ${new Date(to).toISOString()}`,
      'issue a new certificate from your root and plug it in',
    );
  if (now < from)
    throw new WeftError(
      ErrorCodes.CA_CERT_EXPIRED,
      `${name} (${c.subject.replace(/\n/g, ', ')}) is not valid before ${new Date(from).toISOString()}`,
      'check the clock of this machine, or issue a certificate that is valid now',
    );
}

function onlyCert(text: string, name: string): string {
  const certs = splitPem(text);
  if (certs.length === 0)
    throw new WeftError(ErrorCodes.CA_CERT_INVALID, `${name} holds no PEM certificate`, HINT);
  try {
    for (const c of certs) new NodeX509(c);
  } catch (e) {
    throw new WeftError(ErrorCodes.CA_CERT_INVALID, `${name} does not parse: ${(e as Error).message}`, HINT);
  }
  return certs[0]!;
}

/** Check a plugged-in CA: the key is the certificate's, the certificate is a CA that is valid now, and it
 * chains (through cert-chain) to a root in root-cert. Throws a WeftError naming the file at fault. */
export async function checkPluggedCa(
  m: {
    caCertPem: string;
    caKeyPem: string;
    rootCertPem?: string | undefined;
    certChainPem?: string | undefined;
    names?: { caCert: string; caKey: string; rootCert: string; certChain: string };
  },
  now = Date.now(),
): Promise<PluggedCa> {
  const names = m.names ?? {
    caCert: 'ca-cert.pem',
    caKey: 'ca-key.pem',
    rootCert: 'root-cert.pem',
    certChain: 'cert-chain.pem',
  };
  const certPem = onlyCert(m.caCertPem, names.caCert);
  let keyPem: string;
  try {
    keyPem = pkcs8Pem(m.caKeyPem);
  } catch (e) {
    throw new WeftError(
      ErrorCodes.CA_CERT_INVALID,
      `${names.caKey} is not a readable private key: ${(e as Error).message}`,
      'give an unencrypted PEM key (PKCS#8, EC or RSA)',
    );
  }
  if (!keyMatchesCert(keyPem, certPem))
    throw new WeftError(
      ErrorCodes.CA_KEY_MISMATCH,
      `${names.caKey} is not the key of ${names.caCert} (their public keys differ)`,
      'give the key that was generated with this CA certificate',
    );
  try {
    await importSigningKey(keyPem);
  } catch (e) {
    throw new WeftError(ErrorCodes.CA_CERT_INVALID, `${names.caKey}: ${(e as Error).message}`, HINT);
  }
  if (!isCaCert(certPem))
    throw new WeftError(
      ErrorCodes.CA_CERT_INVALID,
      `${names.caCert} is not a CA certificate (it needs basicConstraints CA:TRUE and keyUsage keyCertSign)`,
      'plug in an intermediate CA certificate issued by your root, not a leaf certificate',
    );
  checkValidity(certPem, names.caCert, now);

  const selfSigned = isSelfSigned(certPem);
  // The chain after a leaf: ca-cert first, then intermediates; roots (self-signed) are not sent.
  let chainPem: string[] = [];
  if (m.certChainPem !== undefined && m.certChainPem.trim() !== '') {
    onlyCert(m.certChainPem, names.certChain);
    chainPem = splitPem(m.certChainPem).filter((c) => !isSelfSigned(c));
  }
  if (!selfSigned && !chainPem.some((c) => samePem(c, certPem))) chainPem.unshift(certPem);
  if (selfSigned) chainPem = chainPem.filter((c) => !samePem(c, certPem));
  chainPem.forEach((c, i) => {
    if (i > 0 && !isCaCert(c))
      throw new WeftError(
        ErrorCodes.CA_CERT_INVALID,
        `certificate ${i + 1} of ${names.certChain} is not a CA certificate`,
        HINT,
      );
    checkValidity(c, i === 0 ? names.caCert : `certificate ${i + 1} of ${names.certChain}`, now);
  });

  let rootsPem: string[];
  if (m.rootCertPem !== undefined) {
    onlyCert(m.rootCertPem, names.rootCert);
    rootsPem = splitPem(m.rootCertPem);
  } else if (selfSigned) {
    rootsPem = [certPem];
  } else {
    const last = m.certChainPem ? splitPem(m.certChainPem).filter((c) => isSelfSigned(c)) : [];
    if (last.length === 0)
      throw new WeftError(
        ErrorCodes.CA_CERT_INVALID,
        `${names.caCert} is an intermediate CA and no root was given`,
        'pass --root-cert with the root certificate that issued it',
      );
    rootsPem = last;
  }
  rootsPem.forEach((r, i) => {
    const name = rootsPem.length > 1 ? `certificate ${i + 1} of ${names.rootCert}` : names.rootCert;
    if (!isCaCert(r))
      throw new WeftError(ErrorCodes.CA_CERT_INVALID, `${name} is not a CA certificate`, HINT);
    checkValidity(r, name, now);
  });
  const at = new Date(now);
  const [first, ...intermediates] = chainPem;
  const reaches = (root: string) =>
    first === undefined ? samePem(root, certPem) : verifyChain(first, root, intermediates, at);
  if (!rootsPem.some(reaches))
    throw new WeftError(
      ErrorCodes.CA_CERT_INVALID,
      `${names.caCert} does not chain to ${rootsPem.length > 1 ? 'any root in ' : ''}${names.rootCert}` +
        (m.certChainPem ? ` through ${names.certChain}` : ''),
      'give the root that issued the CA certificate, and every intermediate between them in --cert-chain',
    );
  return { certPem, keyPem, chainPem, rootsPem };
}
