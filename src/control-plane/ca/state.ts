// What the CA keeps in <state>/ca/. ca.json (mode 0600) is the one source of truth, written atomically, so a
// rotation (new key, new root, old root scheduled out of the bundle) is all or nothing. The PEM files beside
// it use Istio's cacerts names and are rewritten from it after every change, for people and tools:
//   ca-cert.pem   the signing CA certificate (the Weft root itself, or your intermediate)
//   ca-key.pem    its key (0600)
//   cert-chain.pem  the certificates sent after each leaf (plugged-in CA only)
//   root-cert.pem   the trust bundle: every root proxies trust right now
// A state directory from before ca.json (only ca-key.pem and ca-cert.pem) is read and migrated.
import { randomBytes, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { checkPluggedCa, isSelfSigned, keyMatchesCert, splitPem } from './material.js';

export interface RootEntry {
  pem: string;
  /** This root's certificate signed by the root it replaced (same subject and key): peers that still
   * trust only the old root verify new leaves through it. */
  crossPem?: string;
  /** Intermediates between leaves and this root (plugged-in CA), to verify peers' leaves. */
  intermediatesPem?: string[];
  addedAt: string;
  /** When the root leaves the bundle (end of a rotation overlap); absent: trusted until replaced. */
  removeAt?: string;
}

export interface CaState {
  version: 1;
  mode: 'self-signed' | 'plugged';
  signer: { certPem: string; keyPem: string; chainPem: string[] };
  roots: RootEntry[];
  rotatedAt?: string;
}

export const FILES = {
  state: 'ca.json',
  key: 'ca-key.pem',
  cert: 'ca-cert.pem',
  chain: 'cert-chain.pem',
  roots: 'root-cert.pem',
} as const;

/** The stored state, migrating a pre-ca.json directory; undefined when there is no CA yet. */
export async function readState(dir: string): Promise<CaState | undefined> {
  const statePath = join(dir, FILES.state);
  const text = await readIfExists(statePath);
  if (text !== undefined) {
    let state: CaState;
    try {
      state = JSON.parse(text) as CaState;
      if (state.version !== 1 || !state.signer?.certPem || !Array.isArray(state.roots))
        throw new Error('unknown layout');
    } catch (e) {
      throw new WeftError(
        ErrorCodes.CA_CERT_INVALID,
        `${statePath} is not a Weft CA state file: ${(e as Error).message}`,
        'restore it from a backup, or remove the ca/ folder to start a new CA (every proxy then needs a restart)',
      );
    }
    if (!keyMatchesCert(state.signer.keyPem, state.signer.certPem))
      throw new WeftError(
        ErrorCodes.CA_KEY_MISMATCH,
        `${statePath}: the signing key does not match the signing certificate`,
        'restore the state from a backup, or remove the ca/ folder to start a new CA',
      );
    return state;
  }
  // Before ca.json: a root key and certificate. The cert was written last, so a lone key means an
  // interrupted first start whose root was never handed out, and minting a fresh pair is safe.
  const keyPath = join(dir, FILES.key);
  const certPath = join(dir, FILES.cert);
  const [keyPem, certText] = await Promise.all([readIfExists(keyPath), readIfExists(certPath)]);
  if (keyPem === undefined || certText === undefined) return undefined;
  const certPem = splitPem(certText)[0] ?? certText;
  // A key that does not match the cert would issue leaves nobody can verify: fail loudly instead.
  if (!keyMatchesCert(keyPem, certPem))
    throw new WeftError(
      ErrorCodes.CA_KEY_MISMATCH,
      `${keyPath} does not match ${certPath}`,
      'restore the pair, or remove both to mint a new root',
    );
  const addedAt = new Date(new NodeX509(certPem).validFrom).toISOString();
  if (isSelfSigned(certPem))
    return {
      version: 1,
      mode: 'self-signed',
      signer: { certPem, keyPem, chainPem: [] },
      roots: [{ pem: certPem, addedAt }],
    };
  // Istio's cacerts files dropped into the folder by hand: an intermediate with its root and chain.
  const plugged = await checkPluggedCa({
    caCertPem: certPem,
    caKeyPem: keyPem,
    rootCertPem: await readIfExists(join(dir, FILES.roots)),
    certChainPem: await readIfExists(join(dir, FILES.chain)),
    names: {
      caCert: certPath,
      caKey: keyPath,
      rootCert: join(dir, FILES.roots),
      certChain: join(dir, FILES.chain),
    },
  });
  return {
    version: 1,
    mode: 'plugged',
    signer: { certPem: plugged.certPem, keyPem: plugged.keyPem, chainPem: plugged.chainPem },
    roots: plugged.rootsPem.map((pem) => ({ pem, addedAt, intermediatesPem: plugged.chainPem })),
  };
}

/** ca.json first (the truth), then the derived PEM files, each only when its content changed. */
export async function writeState(dir: string, state: CaState, bundle: string[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(join(dir, FILES.state), JSON.stringify(state, null, 2) + '\n', 0o600);
  await writeIfChanged(join(dir, FILES.key), state.signer.keyPem, 0o600);
  await writeIfChanged(join(dir, FILES.cert), state.signer.certPem, 0o644);
  await writeIfChanged(join(dir, FILES.roots), bundle.join(''), 0o644);
  const chainPath = join(dir, FILES.chain);
  if (state.mode === 'plugged' && state.signer.chainPem.length > 0)
    await writeIfChanged(chainPath, state.signer.chainPem.join(''), 0o644);
  else await rm(chainPath, { force: true });
}

async function writeIfChanged(path: string, data: string, mode: number): Promise<void> {
  if ((await readIfExists(path)) === data) return;
  await writeAtomic(path, data, mode);
}

export async function readIfExists(path: string): Promise<string | undefined> {
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
