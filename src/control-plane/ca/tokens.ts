// Bootstrap tokens: the control plane hands one to each proxy it launches, and the proxy trades it once for
// its first certificate. Later rotations authenticate with the current mTLS certificate, so tokens are single use.
import { createHash, randomBytes } from 'node:crypto';

export interface TokenBinding {
  namespace: string;
  serviceAccount: string;
  workload: string;
  instance: string;
}

interface Entry {
  binding: TokenBinding;
  expiresAt: number;
}

export class BootstrapTokens {
  // Keyed by SHA-256 of the token, so a dump of this map (or a heap snapshot) yields no usable tokens.
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 10 * 60 * 1000;
    this.#now = opts.now ?? Date.now;
  }

  /** 32 random bytes, base64url. Stored only as a SHA-256 hash. */
  issue(binding: TokenBinding): string {
    this.#sweep();
    const token = randomBytes(32).toString('base64url');
    this.#entries.set(hash(token), { binding: { ...binding }, expiresAt: this.#now() + this.#ttlMs });
    return token;
  }

  /** Single use: the first redeem returns the binding and deletes the token; unknown/expired/used => undefined. */
  redeem(token: string): TokenBinding | undefined {
    if (typeof token !== 'string' || token.length === 0) return undefined;
    const key = hash(token);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    return this.#now() < entry.expiresAt ? { ...entry.binding } : undefined;
  }

  // Drop expired tokens that were never redeemed so the map cannot grow without bound.
  #sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) if (now >= entry.expiresAt) this.#entries.delete(key);
  }
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');
