// The mesh's certificate authority: one self-signed ECDSA root on disk that signs short-lived X509-SVIDs
// for proxies (from their CSRs) and the control plane's own serving certificate.
import { createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { x509 } from '../../lib/x509.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { parseSpiffeId } from '../../lib/spiffe.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export interface CaOptions {
  trustDomain: string;
  certTtlMs?: number;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
const ROOT_LIFETIME_MS = 10 * 365 * DAY_MS;
const CLOCK_SKEW_MS = 60 * 1000;
const KEY_FILE = 'ca-key.pem';
const CERT_FILE = 'ca-cert.pem';

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly rootCertPem: string;
  readonly #rootKey: CryptoKey;
  readonly #root: x509.X509Certificate;
  readonly #ttlMs: number;
  #signed = 0;

  private constructor(opts: CaOptions, rootKey: CryptoKey, rootCertPem: string) {
    this.trustDomain = opts.trustDomain;
    this.rootCertPem = rootCertPem;
    this.#rootKey = rootKey;
    this.#root = new x509.X509Certificate(rootCertPem);
    this.#ttlMs = checkTtl(opts.certTtlMs ?? DAY_MS);
  }

  /** Loads root key+cert from dir (ca-key.pem mode 0600, ca-cert.pem), creating them (ECDSA P-256, 10-year, CA:true, keyCertSign) when absent. Atomic writes (write tmp + rename). Same root after restart. */
  static async loadOrCreate(dir: string, opts: CaOptions): Promise<CertificateAuthority> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const keyPath = join(dir, KEY_FILE);
    const certPath = join(dir, CERT_FILE);
    const [keyPem, certPem] = await Promise.all([readIfExists(keyPath), readIfExists(certPath)]);
    if (keyPem !== undefined && certPem !== undefined) {
      // A key that does not match the cert would issue leaves nobody can verify: fail loudly instead.
      const certKey = new NodeX509(certPem).publicKey.export({ type: 'spki', format: 'der' });
      const ownKey = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
      if (!certKey.equals(ownKey)) {
        throw new Error(
          `${keyPath} does not match ${certPath}; restore the pair or remove both to mint a new root`,
        );
      }
      const key = await webcrypto.subtle.importKey('pkcs8', pemDer(keyPem), EC, false, ['sign']);
      return new CertificateAuthority(opts, key, certPem);
    }
    // Neither or only one file: the cert is written last, so a lone key means an interrupted first start
    // whose root was never handed out, and minting a fresh pair is safe.
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=Weft Root CA, O=${opts.trustDomain}`,
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(now + ROOT_LIFETIME_MS),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const newKeyPem = await exportKeyPem(keys.privateKey);
    await writeAtomic(keyPath, newKeyPem, 0o600);
    await writeAtomic(certPath, root.toString('pem'), 0o644);
    return new CertificateAuthority(opts, keys.privateKey, root.toString('pem'));
  }

  /** Count of certificates signed (for metrics). */
  get signedCount(): number {
    return this.#signed;
  }

  /** Verify the CSR's own signature (proof the requester holds the key), ignore every name it asks for, and issue
   * a leaf whose only identity is `spiffeId` — the caller has already authenticated who the requester is. */
  async signCsr(
    csrPem: string,
    spiffeId: string,
    ttlMs?: number,
  ): Promise<{ certChainPem: string[]; notAfter: Date }> {
    let csr: x509.Pkcs10CertificateRequest;
    let ok: boolean;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
      ok = await csr.verify();
    } catch (e) {
      throw csrInvalid(`the CSR does not parse: ${(e as Error).message}`);
    }
    if (!ok) throw csrInvalid('the CSR signature does not verify');
    if (curveOf(csr) !== 'prime256v1') throw csrInvalid('the CSR key must be ECDSA P-256');
    const { cert, notAfter } = await this.#issue(csr.publicKey, [{ type: 'url', value: spiffeId }], ttlMs);
    return { certChainPem: [cert.toString('pem')], notAfter };
  }

  /** A server certificate + fresh key for the control plane's own TLS listener: DNS and IP SANs plus the given SPIFFE URI. */
  async issueServing(
    dnsNames: string[],
    ips: string[],
    spiffeId: string,
    ttlMs?: number,
  ): Promise<{ certPem: string; keyPem: string; notAfter: Date }> {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const names: x509.JsonGeneralName[] = [
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...ips.map((value) => ({ type: 'ip' as const, value })),
      { type: 'url', value: spiffeId },
    ];
    const { cert, notAfter } = await this.#issue(keys.publicKey, names, ttlMs);
    return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey), notAfter };
  }

  async #issue(
    publicKey: x509.PublicKeyType,
    names: x509.JsonGeneralName[],
    ttlMs: number | undefined,
  ): Promise<{ cert: x509.X509Certificate; notAfter: Date }> {
    const uri = names.find((n) => n.type === 'url')?.value ?? '';
    const id = parseSpiffeId(uri);
    if (!id || id.trustDomain !== this.trustDomain) {
      throw new WeftError(
        ErrorCodes.CA_IDENTITY_MISMATCH,
        `refusing to sign "${uri}": not a SPIFFE ID in trust domain ${this.trustDomain}`,
      );
    }
    const now = Date.now();
    // A leaf must not outlive the root that vouches for it.
    const ttl = checkTtl(ttlMs ?? this.#ttlMs);
    const notAfter = new Date(Math.min(now + ttl, this.#root.notAfter.getTime()));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      // Empty subject as in Istio: identity lives only in the SAN, which RFC 5280 then requires to be critical.
      subject: '',
      issuer: this.#root.subjectName,
      // Backdated for clock skew, but never by more than a tenth of a short lifetime (renewal is at half life).
      notBefore: new Date(now - Math.min(CLOCK_SKEW_MS, ttl / 10)),
      notAfter,
      publicKey,
      signingKey: this.#rootKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension(names, true),
        await x509.AuthorityKeyIdentifierExtension.create(this.#root),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ],
    });
    this.#signed++;
    return { cert, notAfter };
  }
}

function csrInvalid(message: string): WeftError {
  return new WeftError(ErrorCodes.CA_CSR_INVALID, message, 'generate a fresh key and CSR and request again');
}

function curveOf(csr: x509.Pkcs10CertificateRequest): string | undefined {
  try {
    const spki = Buffer.from(csr.publicKey.rawData);
    return createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve;
  } catch {
    return undefined; // a key type node cannot even load
  }
}

function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new RangeError(`certificate TTL must be positive, got ${ttlMs}`);
  return ttlMs;
}

// 16 random bytes; the generator strips leading zeros and keeps the INTEGER positive.
/**
 * 16 random bytes, with the top bit clear (RFC 5280 serials are positive integers) and the next one set, so
 * the DER encoding is exactly 16 bytes with no sign or leading-zero byte, whatever the random draw.
 */
const randomSerial = (): string => {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
};

const pemDer = (pem: string): ArrayBuffer => x509.PemConverter.decodeFirst(pem);

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

// Write a temp file with its final mode, fsync, then rename: readers see the old file or the whole new one.
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
}
