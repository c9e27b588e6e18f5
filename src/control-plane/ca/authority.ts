// The mesh's certificate authority. It signs short-lived X509-SVIDs for proxies (from their CSRs) and the
// control plane's own serving certificate, with either
//   - a Weft-managed self-signed ECDSA P-256 root (the default), which `rotateRoot` replaces with an
//     overlap: both roots are in the trust bundle until the overlap ends, new leaves come from the new root,
//     and they carry the new root cross-signed by the old one, so a peer that still trusts only the old root
//     verifies them too; or
//   - a plugged-in CA (Istio's cacerts): your intermediate signs, leaves carry it (and any intermediates up
//     to your root), and the trust bundle is your root.
// State lives in <state>/ca/ (see state.ts) and survives restarts; the clock is injectable for tests.
import { EventEmitter } from 'node:events';
import { createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { x509 } from '../../lib/x509.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { parseSpiffeId, verifyChain } from '../../lib/spiffe.js';
import { fingerprint, importSigningKey, samePem, type PluggedCa, type SigningKey } from './material.js';
import { readState, writeState, type CaState, type RootEntry } from './state.js';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
const ROOT_LIFETIME_MS = 10 * 365 * DAY_MS;
const CLOCK_SKEW_MS = 60 * 1000;
/** Istio's DEFAULT_WORKLOAD_CERT_TTL and MAX_WORKLOAD_CERT_TTL. */
export const DEFAULT_WORKLOAD_CERT_TTL_MS = DAY_MS;
export const MAX_WORKLOAD_CERT_TTL_MS = 90 * DAY_MS;
/** Certificate times have one-second resolution; shorter lifetimes cannot be expressed. */
export const MIN_WORKLOAD_CERT_TTL_MS = 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CaOptions {
  trustDomain: string;
  /** Workload certificate lifetime (default 24h, at most 90 days). */
  certTtlMs?: number;
  /** A checked plugged-in CA (material.ts loadPluggedCa); absent: keep what <state>/ca holds, or mint a root. */
  plugged?: PluggedCa;
  /** The clock, for tests. */
  now?: () => number;
}

export interface RootInfo {
  subject: string;
  fingerprint: string; // SHA-256
  notBefore: string;
  notAfter: string;
  /** The root the current signing certificate chains to. */
  signing: boolean;
  /** When it leaves the trust bundle (end of a rotation overlap). */
  removeAt?: string;
  pem: string;
}

export interface CaInfo {
  mode: 'self-signed' | 'plugged';
  trustDomain: string;
  workloadCertTtlMs: number;
  maxWorkloadCertTtlMs: number;
  signer: { subject: string; issuer: string; fingerprint: string; notAfter: string };
  roots: RootInfo[];
  rotatedAt?: string;
}

/** What the CA currently signs with, derived from the state. */
interface Signer {
  cert: x509.X509Certificate;
  key: SigningKey;
  /** Authority key identifier for the leaves: the signer's own SKI when it has one. */
  aki: x509.AuthorityKeyIdentifierExtension;
  /** No leaf may outlive any certificate that vouches for it. */
  notAfter: number;
}

/** Ensures a workload certificate lifetime is usable: WeftError otherwise. */
export function checkWorkloadTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < MIN_WORKLOAD_CERT_TTL_MS)
    throw new WeftError(
      ErrorCodes.CA_TTL_INVALID,
      `the workload certificate lifetime must be at least 1s (got ${ttlMs} ms)`,
      'pass --workload-cert-ttl with a duration such as 24h or 30m',
    );
  if (ttlMs > MAX_WORKLOAD_CERT_TTL_MS)
    throw new WeftError(
      ErrorCodes.CA_TTL_INVALID,
      `the workload certificate lifetime ${formatMs(ttlMs)} is above the maximum of 90 days (2160h)`,
      'short-lived certificates are the point: pass --workload-cert-ttl 24h (the default) or less than 2160h',
    );
  return ttlMs;
}

export class CertificateAuthority extends EventEmitter {
  readonly trustDomain: string;
  readonly dir: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #state: CaState;
  #signer: Signer;
  #signed = 0;
  #lock: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  private constructor(dir: string, opts: CaOptions, ttlMs: number, state: CaState, signer: Signer) {
    super();
    this.dir = dir;
    this.trustDomain = opts.trustDomain;
    this.#ttlMs = ttlMs;
    this.#now = opts.now ?? Date.now;
    this.#state = state;
    this.#signer = signer;
    this.#schedulePrune();
  }

  /** Loads the CA from dir, applying a plugged-in CA when given (roots it replaces stay trusted for one
   * workload TTL), or mints a self-signed root (ECDSA P-256, 10 years) when dir holds none. */
  static async loadOrCreate(dir: string, opts: CaOptions): Promise<CertificateAuthority> {
    const ttlMs = checkWorkloadTtl(opts.certTtlMs ?? DEFAULT_WORKLOAD_CERT_TTL_MS);
    const now = (opts.now ?? Date.now)();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const stored = await readState(dir);
    let state: CaState;
    if (opts.plugged) state = withPlugged(stored, opts.plugged, now, ttlMs);
    else state = stored ?? (await selfSignedState(opts.trustDomain, now));
    state = { ...state, roots: state.roots.filter((r) => active(r, now)) };
    const signer = await buildSigner(state, now);
    await writeState(dir, state, bundleOf(state, now));
    return new CertificateAuthority(dir, opts, ttlMs, state, signer);
  }

  get mode(): 'self-signed' | 'plugged' {
    return this.#state.mode;
  }

  get workloadCertTtlMs(): number {
    return this.#ttlMs;
  }

  /** Count of certificates signed (for metrics). */
  get signedCount(): number {
    return this.#signed;
  }

  /** The root the signing certificate chains to (the first root of the bundle). */
  get rootCertPem(): string {
    const roots = this.#state.roots.filter((r) => active(r, this.#now()));
    return (this.#signingRoot(roots) ?? roots[0]!).pem;
  }

  /** The certificate that signs leaves now; it changes with a root rotation or a new plugged-in CA. */
  get signerCertPem(): string {
    return this.#state.signer.certPem;
  }

  /** Every root proxies must trust right now, the signing root first. */
  trustBundle(): string[] {
    return bundleOf(this.#state, this.#now());
  }

  /** The bundle as one PEM text (what TLS `ca` options and root-cert.pem hold). */
  get trustBundlePem(): string {
    return this.trustBundle().join('');
  }

  /** True when a peer's leaf (DER or PEM) chains to a root of the bundle, through the intermediates and
   * cross-signed roots this CA issues with, and is valid now. */
  verifyPeer(leaf: Buffer | string): boolean {
    const now = this.#now();
    const roots = this.#state.roots.filter((r) => active(r, now));
    const intermediates = [
      ...this.#state.signer.chainPem,
      ...roots.flatMap((r) => [...(r.crossPem ? [r.crossPem] : []), ...(r.intermediatesPem ?? [])]),
    ];
    const at = new Date(now);
    return roots.some((r) => verifyChain(leaf, r.pem, intermediates, at));
  }

  /** True when a leaf (DER or PEM) was signed by the current signing certificate: false for a leaf from a
   * root (or plugged-in CA) that has since been replaced, whose proxy should renew. */
  signedByCurrentSigner(leaf: Buffer | string): boolean {
    try {
      const cert = new NodeX509(leaf);
      const signer = new NodeX509(this.#state.signer.certPem);
      return cert.checkIssued(signer) && cert.verify(signer.publicKey);
    } catch {
      return false;
    }
  }

  info(): CaInfo {
    const now = this.#now();
    const signer = new NodeX509(this.#state.signer.certPem);
    const bundle = this.#state.roots.filter((r) => active(r, now));
    const signingRoot = this.#signingRoot(bundle);
    return {
      mode: this.#state.mode,
      trustDomain: this.trustDomain,
      workloadCertTtlMs: this.#ttlMs,
      maxWorkloadCertTtlMs: MAX_WORKLOAD_CERT_TTL_MS,
      signer: {
        subject: oneLine(signer.subject),
        issuer: oneLine(signer.issuer),
        fingerprint: signer.fingerprint256,
        notAfter: new Date(signer.validTo).toISOString(),
      },
      roots: bundle.map((r) => {
        const c = new NodeX509(r.pem);
        return {
          subject: oneLine(c.subject),
          fingerprint: fingerprint(r.pem),
          notBefore: new Date(c.validFrom).toISOString(),
          notAfter: new Date(c.validTo).toISOString(),
          signing: r === signingRoot,
          ...(r.removeAt ? { removeAt: r.removeAt } : {}),
          pem: r.pem,
        };
      }),
      ...(this.#state.rotatedAt ? { rotatedAt: this.#state.rotatedAt } : {}),
    };
  }

  /** Replace the self-signed root: a new root signs from now on, the old one stays in the trust bundle for
   * `overlapMs` (at least one workload TTL, so every leaf it signed expires or is renewed before it goes). */
  rotateRoot(opts: { overlapMs: number }): Promise<CaInfo> {
    return this.#exclusive(async () => {
      if (this.#state.mode === 'plugged')
        throw new WeftError(
          ErrorCodes.CA_ROTATION_REFUSED,
          'the mesh uses a plugged-in CA: its root is yours, so Weft cannot replace it',
          'put the new root beside the old one in --root-cert, restart the control plane with the new --ca-cert/--ca-key, then drop the old root (see docs/ca.md)',
        );
      const { overlapMs } = opts;
      if (!Number.isFinite(overlapMs) || overlapMs < this.#ttlMs)
        throw new WeftError(
          ErrorCodes.CA_ROTATION_REFUSED,
          `an overlap of ${formatMs(overlapMs)} is shorter than the workload certificate lifetime (${formatMs(this.#ttlMs)})`,
          `certificates from the old root live up to ${formatMs(this.#ttlMs)}: pass --overlap ${formatMs(this.#ttlMs)} or more`,
        );
      const now = this.#now();
      const old = this.#state;
      const oldRoot = new x509.X509Certificate(old.signer.certPem);
      const oldKey = this.#signer.key;
      const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
      const root = await mintRoot(
        keys,
        `CN=Weft Root CA ${randomBytes(4).toString('hex')}, O=${this.trustDomain}`,
        now,
      );
      // The new root's subject and key, vouched for by the old root: the bridge for peers that still
      // trust only the old one. It lives as long as both roots, since the control plane's serving chain
      // keeps it for proxies whose discovery trust was read from the old root file.
      const cross = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: root.subjectName,
        issuer: oldRoot.subjectName,
        notBefore: new Date(now - CLOCK_SKEW_MS),
        notAfter: new Date(Math.min(root.notAfter.getTime(), oldRoot.notAfter.getTime())),
        publicKey: keys.publicKey,
        signingKey: oldKey.key,
        signingAlgorithm: oldKey.algorithm,
        extensions: [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
          await akiFor(oldRoot),
        ],
      });
      const removeAt = new Date(now + overlapMs).toISOString();
      const state: CaState = {
        version: 1,
        mode: 'self-signed',
        signer: {
          certPem: root.toString('pem') + '\n',
          keyPem: await exportKeyPem(keys.privateKey),
          chainPem: [],
        },
        roots: [
          {
            pem: root.toString('pem') + '\n',
            crossPem: cross.toString('pem') + '\n',
            addedAt: new Date(now).toISOString(),
          },
          ...old.roots.filter((r) => active(r, now)).map((r) => (r.removeAt ? r : { ...r, removeAt })),
        ],
        rotatedAt: new Date(now).toISOString(),
      };
      const signer = await buildSigner(state, now);
      await writeState(this.dir, state, bundleOf(state, now));
      this.#state = state;
      this.#signer = signer;
      this.#schedulePrune();
      this.emit('rotated');
      this.emit('change');
      return this.info();
    });
  }

  /** Drop roots whose overlap has ended from the persisted state (the bundle already leaves them out). Runs
   * on a timer; tests with an injected clock call it directly. */
  prune(): Promise<boolean> {
    return this.#exclusive(async () => {
      const now = this.#now();
      const kept = this.#state.roots.filter((r) => active(r, now));
      if (kept.length === this.#state.roots.length) return false;
      const state = { ...this.#state, roots: kept };
      await writeState(this.dir, state, bundleOf(state, now));
      this.#state = state;
      this.#schedulePrune();
      this.emit('change');
      return true;
    });
  }

  /** Stop the pruning timer. */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Verify the CSR's own signature (proof the requester holds the key), ignore every name it asks for, and issue
   * a leaf whose only identity is `spiffeId` — the caller has already authenticated who the requester is.
   * The chain is leaf first, then the certificates a peer needs to reach a root of `trustBundle`. */
  async signCsr(
    csrPem: string,
    spiffeId: string,
    ttlMs?: number,
  ): Promise<{ certChainPem: string[]; notAfter: Date; trustBundle: string[] }> {
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
    // A lifetime asked for explicitly is capped at the maximum, as Istio's CA does with MAX_WORKLOAD_CERT_TTL.
    const ttl = ttlMs === undefined ? this.#ttlMs : Math.min(positive(ttlMs), MAX_WORKLOAD_CERT_TTL_MS);
    const now = this.#now();
    // Chain, bundle and signer are taken together, before any await: a rotation meanwhile cannot mix them.
    const chain = this.#leafChain(now);
    const trustBundle = bundleOf(this.#state, now);
    const { cert, notAfter } = await this.#issue(
      csr.publicKey,
      [{ type: 'url', value: spiffeId }],
      ttl,
      now,
      true,
    );
    return { certChainPem: [cert.toString('pem') + '\n', ...chain], notAfter, trustBundle };
  }

  /** A server certificate + fresh key for the control plane's own TLS listener: DNS and IP SANs plus the given
   * SPIFFE URI. `chainPem` goes after it; it also keeps the newest cross-signed root after an overlap, for
   * proxies whose discovery trust is still the root file they started with. */
  async issueServing(
    dnsNames: string[],
    ips: string[],
    spiffeId: string,
    ttlMs?: number,
  ): Promise<{ certPem: string; keyPem: string; notAfter: Date; chainPem: string[] }> {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const names: x509.JsonGeneralName[] = [
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...ips.map((value) => ({ type: 'ip' as const, value })),
      { type: 'url', value: spiffeId },
    ];
    const now = this.#now();
    const chainPem = this.#leafChain(now);
    const cross = this.#state.mode === 'self-signed' ? this.#state.roots[0]?.crossPem : undefined;
    if (cross && !chainPem.includes(cross)) chainPem.push(cross);
    const { cert, notAfter } = await this.#issue(
      keys.publicKey,
      names,
      positive(ttlMs ?? this.#ttlMs),
      now,
      false,
    );
    return {
      certPem: cert.toString('pem') + '\n',
      keyPem: await exportKeyPem(keys.privateKey),
      notAfter,
      chainPem,
    };
  }

  /** The root entry the signer chains to. */
  #signingRoot(roots: RootEntry[]): RootEntry | undefined {
    if (this.#state.mode === 'self-signed')
      return roots.find((r) => samePem(r.pem, this.#state.signer.certPem));
    const [first, ...rest] = this.#state.signer.chainPem;
    return roots.find((r) => first !== undefined && verifyChain(first, r.pem, rest, new Date(this.#now())));
  }

  /** Certificates after a leaf: the plugged-in chain, or the current root cross-signed by each older root
   * still in the bundle (newest first), so a peer trusting any root of the bundle can verify. */
  #leafChain(now: number): string[] {
    if (this.#state.mode === 'plugged') return [...this.#state.signer.chainPem];
    const roots = this.#state.roots.filter((r) => active(r, now));
    const chain: string[] = [];
    const seen = new Set<RootEntry>();
    let entry = roots.find((r) => samePem(r.pem, this.#state.signer.certPem));
    while (entry?.crossPem && !seen.has(entry)) {
      seen.add(entry);
      const cross = new NodeX509(entry.crossPem);
      const issuer = roots.find((r) => r !== entry && issuedBy(cross, r.pem));
      if (!issuer) break;
      chain.push(entry.crossPem);
      entry = issuer;
    }
    return chain;
  }

  async #issue(
    publicKey: x509.PublicKeyType,
    names: x509.JsonGeneralName[],
    ttl: number,
    now: number,
    workload: boolean,
  ): Promise<{ cert: x509.X509Certificate; notAfter: Date }> {
    const uri = names.find((n) => n.type === 'url')?.value ?? '';
    const id = parseSpiffeId(uri);
    if (!id || id.trustDomain !== this.trustDomain) {
      throw new WeftError(
        ErrorCodes.CA_IDENTITY_MISMATCH,
        `refusing to sign "${uri}": not a SPIFFE ID in trust domain ${this.trustDomain}`,
      );
    }
    const signer = this.#signer; // read before the first await (see signCsr)
    // Backdated for clock skew, but never by more than a tenth of a short lifetime (renewal is at half life).
    const notBefore = now - Math.min(CLOCK_SKEW_MS, ttl / 10);
    // A leaf must not outlive the CA certificates that vouch for it.
    let notAfter = Math.min(now + ttl, signer.notAfter);
    if (workload) {
      // While a root is on its way out of the bundle, a leaf's half life (when its proxy renews and picks
      // up the new bundle) falls just after it leaves, with jitter so proxies do not renew in lockstep.
      const leaving = this.#state.roots
        .map((r) => (r.removeAt ? Date.parse(r.removeAt) : Infinity))
        .filter((t) => t > now);
      const next = Math.min(...leaving);
      if (Number.isFinite(next)) {
        const renewAt = next + 1000 + Math.random() * Math.min(5 * 60 * 1000, ttl / 10);
        notAfter = Math.min(notAfter, 2 * renewAt - notBefore);
      }
    }
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      // Empty subject as in Istio: identity lives only in the SAN, which RFC 5280 then requires to be critical.
      subject: '',
      issuer: signer.cert.subjectName,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey,
      signingKey: signer.key.key,
      signingAlgorithm: signer.key.algorithm,
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
        signer.aki,
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ],
    });
    this.#signed++;
    return { cert, notAfter: cert.notAfter };
  }

  #schedulePrune(): void {
    this.close();
    const next = Math.min(...this.#state.roots.map((r) => (r.removeAt ? Date.parse(r.removeAt) : Infinity)));
    if (!Number.isFinite(next)) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - this.#now()) + 50);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.prune().then(
        (changed) => {
          if (!changed) this.#schedulePrune();
        },
        (e: unknown) => this.emit('error', e),
      );
    }, delay);
    this.#timer.unref();
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }
}

const active = (r: RootEntry, now: number): boolean => !r.removeAt || Date.parse(r.removeAt) > now;

/** The trust bundle: the signing root first, then the others still in their overlap. */
function bundleOf(state: CaState, now: number): string[] {
  return state.roots.filter((r) => active(r, now)).map((r) => r.pem);
}

/** State for a plugged-in CA. Unchanged material keeps the stored state; otherwise roots that leave the
 * bundle stay trusted for one workload TTL, so leaves they signed keep verifying until they expire. */
function withPlugged(prev: CaState | undefined, p: PluggedCa, now: number, ttlMs: number): CaState {
  const sameRoots =
    prev?.roots.length === p.rootsPem.length && prev.roots.every((r, i) => samePem(r.pem, p.rootsPem[i]!));
  if (
    prev?.mode === 'plugged' &&
    samePem(prev.signer.certPem, p.certPem) &&
    prev.signer.chainPem.length === p.chainPem.length &&
    prev.signer.chainPem.every((c, i) => samePem(c, p.chainPem[i]!)) &&
    sameRoots
  )
    return prev;
  const at = new Date(now).toISOString();
  const removeAt = new Date(now + ttlMs).toISOString();
  const roots: RootEntry[] = p.rootsPem.map((pem) => ({
    pem,
    addedAt: prev?.roots.find((r) => samePem(r.pem, pem))?.addedAt ?? at,
    intermediatesPem: p.chainPem,
  }));
  for (const r of prev?.roots ?? []) {
    if (!active(r, now) || roots.some((n) => samePem(n.pem, r.pem))) continue;
    roots.push({
      ...r,
      removeAt: r.removeAt ?? removeAt,
      intermediatesPem: [...(r.intermediatesPem ?? []), ...(prev?.signer.chainPem ?? [])],
    });
  }
  return {
    version: 1,
    mode: 'plugged',
    signer: { certPem: p.certPem, keyPem: p.keyPem, chainPem: p.chainPem },
    roots,
    ...(prev?.rotatedAt ? { rotatedAt: prev.rotatedAt } : {}),
  };
}

async function selfSignedState(trustDomain: string, now: number): Promise<CaState> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const root = await mintRoot(keys, `CN=Weft Root CA, O=${trustDomain}`, now);
  const pem = root.toString('pem') + '\n';
  return {
    version: 1,
    mode: 'self-signed',
    signer: { certPem: pem, keyPem: await exportKeyPem(keys.privateKey), chainPem: [] },
    roots: [{ pem, addedAt: new Date(now).toISOString() }],
  };
}

async function mintRoot(keys: CryptoKeyPair, name: string, now: number): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name,
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
}

async function buildSigner(state: CaState, now: number): Promise<Signer> {
  const cert = new x509.X509Certificate(state.signer.certPem);
  const vouching = [state.signer.certPem, ...state.signer.chainPem].map((p) =>
    Date.parse(new NodeX509(p).validTo),
  );
  const notAfter = Math.min(...vouching);
  if (notAfter <= now)
    throw new WeftError(
      ErrorCodes.CA_CERT_EXPIRED,
      `the signing CA certificate (${oneLine(new NodeX509(state.signer.certPem).subject)}) expired on ${new Date(notAfter).toISOString()}`,
      state.mode === 'plugged'
        ? 'plug in a new CA certificate with --ca-cert/--ca-key'
        : 'rotate the root (weft ca rotate-root) before it expires; to start over, remove the ca/ folder of the state directory',
    );
  return { cert, key: await importSigningKey(state.signer.keyPem), aki: await akiFor(cert), notAfter };
}

async function akiFor(issuer: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  // The issuer's own SKI when it has one (some CAs compute it differently), else the SHA-1 of its key.
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
    : x509.AuthorityKeyIdentifierExtension.create(issuer);
}

function issuedBy(cert: NodeX509, issuerPem: string): boolean {
  const issuer = new NodeX509(issuerPem);
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
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

function positive(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new WeftError(ErrorCodes.CA_TTL_INVALID, `certificate TTL must be positive, got ${ttlMs}`);
  return ttlMs;
}

const oneLine = (dn: string): string => dn.split('\n').join(', ');

/** 90 days, 24h, 1h30m, 45s: how durations read back to people. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms % DAY_MS === 0 && ms >= 2 * DAY_MS) return `${ms / DAY_MS} days`;
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [
    ['h', 3600e3],
    ['m', 60e3],
    ['s', 1e3],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}ms`);
  return parts.join('');
}

/**
 * 16 random bytes, with the top bit clear (RFC 5280 serials are positive integers) and the next one set, so
 * the DER encoding is exactly 16 bytes with no sign or leading-zero byte, whatever the random draw.
 */
const randomSerial = (): string => {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
};

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY') + '\n';
}
