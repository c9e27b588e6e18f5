// JSON Web Key Sets: a verified key store built from JWKS JSON (inline or fetched), and the cache of
// remotely fetched sets, shared by every authenticator of a process and keyed by jwksUri so that a new
// snapshot with the same URI keeps the keys (and the refresh schedule) the last one had.
//
// The refresh follows istiod's JwksResolver (which is what resolves jwksUri for sidecars by default):
// refetch every 20 minutes (PILOT_JWT_PUB_KEY_REFRESH_INTERVAL); a failed fetch keeps the last good key set
// and retries after 1 minute, doubling while it keeps failing up to 60 minutes; a success returns to the
// normal interval. A fetch fails on a network error, a timeout, a non-2xx status, or a body that is not a
// JWKS with at least one key. While a URI has never been fetched successfully, tokens for it fail with
// Envoy's "Jwks remote fetch is failed". A token whose `kid` is not in the set triggers a refetch, at most
// one per cooldown, so a key rotation is picked up before the next scheduled refresh.
import { createRequire } from 'node:module';
import type * as Jose from 'jose';
import type { CryptoKey, FlattenedJWSInput, JSONWebKeySet, JWK, JWSHeaderParameters } from 'jose';
import { JwtStatus, type JwtStatusMessage } from './status.js';

// jose and undici's fetch load on first use, so a proxy without a RequestAuthentication carries neither
// (several MB of resident memory per proxy). Both load synchronously: require() of an ES module is
// supported from Node 20.19, and jose has no top-level await.
const load = createRequire(import.meta.url);
let joseLib: typeof Jose | undefined;
const jose = (): typeof Jose => (joseLib ??= load('jose') as typeof Jose);
const undiciFetch: FetchLike = (...args) => (load('undici') as { fetch: FetchLike }).fetch(...args);

export const DEFAULT_REFRESH_INTERVAL_MS = 20 * 60_000;
export const DEFAULT_RETRY_ON_FAILURE_MS = 60_000;
export const MAX_RETRY_ON_FAILURE_MS = 60 * 60_000;
export const DEFAULT_REFETCH_COOLDOWN_MS = 30_000;
export const DEFAULT_FETCH_TIMEOUT_MS = 5_000;
/** How long an entry nobody holds is kept, so a snapshot swap that releases first still reuses it. */
export const DEFAULT_IDLE_GRACE_MS = 60_000;

type LocalSet = ReturnType<typeof Jose.createLocalJWKSet>;

/** A key set ready to verify signatures with. */
export class KeyStore {
  readonly kids: ReadonlySet<string>;
  private readonly local: LocalSet;
  /** The keys without a kid: Envoy tries them for any token, jose only for tokens without a kid. */
  private readonly kidless: LocalSet | undefined;

  private constructor(readonly json: JSONWebKeySet) {
    this.local = jose().createLocalJWKSet(json);
    this.kids = new Set(json.keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string'));
    const kidless = json.keys.filter((k) => k.kid === undefined);
    if (kidless.length > 0 && kidless.length < json.keys.length)
      this.kidless = jose().createLocalJWKSet({ keys: kidless });
  }

  /** Parses JWKS JSON; throws when it is not a JWKS with at least one key. */
  static parse(text: string | unknown): KeyStore {
    const json = (typeof text === 'string' ? JSON.parse(text) : text) as JSONWebKeySet;
    if (typeof json !== 'object' || json === null || !Array.isArray(json.keys)) {
      throw new Error('not a JWKS: no [keys] array');
    }
    if (json.keys.length === 0) throw new Error('JWKS has no keys');
    return new KeyStore(json);
  }

  /** Whether a token's kid names a key here (a token without kid is tried against every key). */
  hasKid(kid: string | undefined): boolean {
    return kid === undefined || this.kids.has(kid);
  }

  /**
   * Verifies a compact JWS signature the way jwt_verify_lib's verifyJwtWithoutTimeChecking picks keys: a
   * key is tried unless both it and the token have a kid and they differ, or the key names another alg.
   * Undefined when a key verifies it, else Envoy's message — "Jwks doesn't have key to match kid or alg
   * from Jwt" when no key fits, "Jwt verification fails" when the keys that fit do not verify it.
   */
  async verify(token: string, alg: string, kid: string | undefined): Promise<JwtStatusMessage | undefined> {
    if (alg.startsWith('HS')) return this.verifyHmac(token, alg, kid);
    let outcome = await tryKeySet(token, this.local);
    if (outcome !== 'ok' && kid !== undefined && this.kidless) {
      const kidless = this.kidless;
      const second = await tryKeySet(token, (header, jws) => kidless({ ...header, kid: undefined }, jws));
      if (second === 'ok' || outcome === 'no-key') outcome = second;
    }
    if (outcome === 'ok') return undefined;
    return outcome === 'no-key' ? JwtStatus.JwksKidAlgMismatch : JwtStatus.JwtVerificationFail;
  }

  // jose's local JWK sets refuse symmetric keys; Envoy accepts "oct" keys for HS256/384/512, chosen like
  // any other: same kid when both have one, same alg when the key names one.
  private async verifyHmac(
    token: string,
    alg: string,
    kid: string | undefined,
  ): Promise<JwtStatusMessage | undefined> {
    const candidates = this.json.keys.filter(
      (k: JWK) =>
        k.kty === 'oct' &&
        (kid === undefined || k.kid === undefined || k.kid === kid) &&
        (k.alg === undefined || k.alg === alg),
    );
    if (candidates.length === 0) return JwtStatus.JwksKidAlgMismatch;
    for (const jwk of candidates) {
      try {
        const key = await jose().importJWK({ ...jwk, alg }, alg);
        await jose().compactVerify(token, key);
        return undefined;
      } catch {
        // try the next one
      }
    }
    return JwtStatus.JwtVerificationFail;
  }
}

async function tryKeySet(
  token: string,
  keys: (header?: JWSHeaderParameters, jws?: FlattenedJWSInput) => Promise<CryptoKey>,
): Promise<'ok' | 'no-key' | 'bad'> {
  try {
    await jose().compactVerify(token, keys);
    return 'ok';
  } catch (e) {
    if (e instanceof jose().errors.JWKSMultipleMatchingKeys) {
      // Several keys fit (typically: no kid in the token); like Envoy, any one of them may verify it.
      for await (const key of e) {
        try {
          await jose().compactVerify(token, key);
          return 'ok';
        } catch {
          // try the next one
        }
      }
      return 'bad';
    }
    return e instanceof jose().errors.JWKSNoMatchingKey ? 'no-key' : 'bad';
  }
}

export interface JwksFetchOptions {
  /**
   * The URI is an OpenID discovery document (`<issuer>/.well-known/openid-configuration`), what istiod
   * resolves for a rule with neither jwks nor jwksUri; the key set is fetched from its jwks_uri each time.
   */
  discovery?: boolean;
  timeoutMs?: number;
  refreshIntervalMs?: number;
  retryOnFailureMs?: number;
  refetchCooldownMs?: number;
}

export type FetchLike = (
  url: string,
  init: { signal: AbortSignal; headers: Record<string, string> },
) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

export interface JwksCacheOptions {
  fetch?: FetchLike;
  now?: () => number;
  idleGraceMs?: number;
}

/** What is known about one jwksUri. */
export interface JwksStats {
  uri: string;
  /** Fetch attempts, and how many succeeded. */
  attempts: number;
  successes: number;
  /** When the current key set was fetched (ms since epoch), if ever. */
  fetchedAt?: number;
  lastError?: string;
  refs: number;
}

export class JwksEntry {
  keys: KeyStore | undefined;
  attempts = 0;
  successes = 0;
  fetchedAt: number | undefined;
  lastError: string | undefined;
  refs = 0;
  private inflight: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private evictTimer: NodeJS.Timeout | undefined;
  private lastOnDemandAt = -Infinity;
  private failedInARow = 0;
  private closed = false;
  options: Required<JwksFetchOptions>;

  constructor(
    readonly uri: string,
    options: JwksFetchOptions,
    private readonly cache: JwksCache,
  ) {
    this.options = withDefaults(options);
  }

  stats(): JwksStats {
    return {
      uri: this.uri,
      attempts: this.attempts,
      successes: this.successes,
      ...(this.fetchedAt !== undefined ? { fetchedAt: this.fetchedAt } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      refs: this.refs,
    };
  }

  /** Fetches now, sharing a fetch already under way. Resolves true when the key set was replaced. */
  refresh(): Promise<boolean> {
    this.inflight ??= this.doFetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Resolves when no fetch is under way. */
  async settled(): Promise<void> {
    while (this.inflight) await this.inflight;
  }

  /**
   * The key set, fetching on demand when there is none yet: waits for a fetch under way, or starts one
   * unless one was started on demand within the cooldown. Undefined when there still is none.
   */
  async ensure(): Promise<KeyStore | undefined> {
    if (this.keys) return this.keys;
    if (this.inflight) await this.inflight;
    else if (this.onDemandAllowed()) await this.refresh();
    return this.keys;
  }

  /**
   * A token names a kid the set lacks: refetch (at most once per cooldown, or join a fetch under way) and
   * return the key set to try, new or not.
   */
  async refetchForKid(): Promise<KeyStore | undefined> {
    if (this.inflight) await this.inflight;
    else if (this.onDemandAllowed()) await this.refresh();
    return this.keys;
  }

  private onDemandAllowed(): boolean {
    const now = this.cache.now();
    if (now - this.lastOnDemandAt < this.options.refetchCooldownMs) return false;
    this.lastOnDemandAt = now;
    return true;
  }

  private async doFetch(): Promise<boolean> {
    this.attempts++;
    let ok = false;
    try {
      let jwksUri = this.uri;
      if (this.options.discovery) {
        // The URI is an OpenID Provider's discovery document: its jwks_uri names the key set.
        const doc = JSON.parse(await this.get(this.uri)) as { jwks_uri?: unknown };
        if (typeof doc?.jwks_uri !== 'string') throw new Error('no jwks_uri in the OpenID configuration');
        jwksUri = doc.jwks_uri;
      }
      const keys = KeyStore.parse(await this.get(jwksUri));
      if (!this.closed) {
        this.keys = keys;
        this.fetchedAt = this.cache.now();
        this.lastError = undefined;
      }
      this.successes++;
      ok = true;
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
    }
    this.schedule(ok);
    return ok;
  }

  private async get(url: string): Promise<string> {
    const res = await this.cache.fetchImpl(url, {
      signal: AbortSignal.timeout(this.options.timeoutMs),
      headers: { accept: 'application/json' },
    });
    const body = await res.text();
    if (!res.ok) throw new Error(`status ${res.status}`);
    return body;
  }

  /** The next background refresh, istiod's way: normal interval, or 1 min doubling up to 60 min on failure. */
  private schedule(ok: boolean): void {
    if (this.closed) return;
    let delay: number;
    if (ok) {
      this.failedInARow = 0;
      delay = this.options.refreshIntervalMs;
    } else {
      this.failedInARow++;
      delay = Math.min(
        this.options.retryOnFailureMs * 2 ** (this.failedInARow - 1),
        Math.max(MAX_RETRY_ON_FAILURE_MS, this.options.retryOnFailureMs),
      );
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, delay);
    this.timer.unref();
  }

  /** @internal */
  hold(options: JwksFetchOptions): void {
    this.refs++;
    // A newer snapshot's settings win (same URI, possibly another timeout or interval).
    this.options = withDefaults(options);
    if (this.evictTimer) {
      clearTimeout(this.evictTimer);
      this.evictTimer = undefined;
    }
  }

  /** @internal */
  unhold(graceMs: number, evict: () => void): void {
    this.refs = Math.max(0, this.refs - 1);
    if (this.refs > 0 || this.evictTimer) return;
    if (graceMs <= 0) {
      evict();
      return;
    }
    this.evictTimer = setTimeout(evict, graceMs);
    this.evictTimer.unref();
  }

  /** @internal */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.evictTimer) clearTimeout(this.evictTimer);
    this.timer = this.evictTimer = undefined;
  }
}

function withDefaults(o: JwksFetchOptions): Required<JwksFetchOptions> {
  return {
    discovery: o.discovery ?? false,
    timeoutMs: o.timeoutMs && o.timeoutMs > 0 ? o.timeoutMs : DEFAULT_FETCH_TIMEOUT_MS,
    refreshIntervalMs: o.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS,
    retryOnFailureMs: o.retryOnFailureMs ?? DEFAULT_RETRY_ON_FAILURE_MS,
    refetchCooldownMs: o.refetchCooldownMs ?? DEFAULT_REFETCH_COOLDOWN_MS,
  };
}

/** Remote key sets by jwksUri. One per process is the norm (`sharedJwksCache`); tests make their own. */
export class JwksCache {
  private readonly entries = new Map<string, JwksEntry>();
  /** @internal */
  readonly fetchImpl: FetchLike;
  /** @internal */
  readonly now: () => number;
  private readonly idleGraceMs: number;

  constructor(options: JwksCacheOptions = {}) {
    this.fetchImpl = options.fetch ?? undiciFetch;
    this.now = options.now ?? Date.now;
    this.idleGraceMs = options.idleGraceMs ?? DEFAULT_IDLE_GRACE_MS;
  }

  /**
   * Holds the entry for a URI, creating it and starting its first fetch when new. Pair with release().
   */
  acquire(uri: string, options: JwksFetchOptions = {}): JwksEntry {
    let entry = this.entries.get(uri);
    const fresh = !entry;
    if (!entry) {
      entry = new JwksEntry(uri, options, this);
      this.entries.set(uri, entry);
    }
    entry.hold(options);
    if (fresh) void entry.refresh();
    return entry;
  }

  release(entry: JwksEntry): void {
    entry.unhold(this.idleGraceMs, () => {
      if (this.entries.get(entry.uri) === entry && entry.refs === 0) {
        this.entries.delete(entry.uri);
        entry.close();
      }
    });
  }

  get(uri: string): JwksEntry | undefined {
    return this.entries.get(uri);
  }

  stats(): JwksStats[] {
    return [...this.entries.values()].map((e) => e.stats());
  }

  /** Stops every timer and forgets every key set. */
  clear(): void {
    for (const e of this.entries.values()) e.close();
    this.entries.clear();
  }
}

export const sharedJwksCache = new JwksCache();
