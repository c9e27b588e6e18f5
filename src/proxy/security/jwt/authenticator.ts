// RequestAuthentication at a workload's inbound, with the semantics Istio gets from Envoy's jwt_authn filter
// (Istio's convertToEnvoyJwtConfig: one provider per rule, each "provider OR allow_missing"):
//
// - No token at any configured location: the request passes with no principal (AuthorizationPolicy
//   decides). This answer is synchronous.
// - Every token found must be valid, else the request is refused with Envoy's message: 401, or 403 for
//   "Audiences in Jwt are not allowed". Checks, in Envoy's order: parse; the token's `iss` must be an
//   issuer that configured the location it was found at ("Jwt issuer is not configured"); the times, with
//   60 s of clock skew; the audiences (an empty list allows any); the key set; the signature.
// - On success: `principal` is "<iss>/<sub>" (Istio builds it only when both claims are present),
//   `outputPayloadToHeader` gets the payload segment of the token as sent (base64url, no padding: Istio
//   does not set pad_forward_payload_header), `outputClaimToHeaders` copies string, number and boolean
//   claims, and unless `forwardOriginalToken` the token is taken out of the request: the whole header it
//   came in, or the query parameter (Envoy's JwtParamLocation::removeJwt); a cookie stays (Envoy leaves
//   cookies). The output headers of every rule are always removed from the incoming request first
//   (Envoy's sanitizePayloadHeaders), so a client cannot forge them.
// - CORS preflights (OPTIONS with Origin and Access-Control-Request-Method) pass without any check, as
//   Istio sets bypass_cors_preflight (the output headers are still stripped).
// - Key sets: inline `jwks`, else `jwksUri`, else the issuer's OpenID discovery document (as istiod);
//   remote ones come from the shared JwksCache (jwks.ts). Call close() on the authenticator of a snapshot
//   that is replaced, after building the new one, so the cache keeps what the new one still uses.
import type { IncomingHttpHeaders } from 'node:http';
import type { JwtRule } from '../../../model/security.js';
import { claimHeaderValue } from './claims.js';
import {
  DEFAULT_REFETCH_COOLDOWN_MS,
  DEFAULT_REFRESH_INTERVAL_MS,
  DEFAULT_RETRY_ON_FAILURE_MS,
  KeyStore,
  sharedJwksCache,
  type JwksCache,
  type JwksEntry,
} from './jwks.js';
import { TokenExtractor, type ExtractedToken } from './locations.js';
import { JwtStatus, statusCodeFor, type JwtStatusMessage } from './status.js';
import { AudienceChecker, CLOCK_SKEW_SECONDS, checkTime, parseJwt, type ParsedJwt } from './token.js';

export type JwtResult =
  | {
      ok: true;
      /** "<iss>/<sub>" of the (first) verified token: Istio's request principal. */
      principal?: string;
      claims?: Record<string, unknown>;
      audiences?: string[];
      /** The azp claim. */
      presenter?: string;
      /** Headers to set (replacing any value) on the request sent upstream; names are lower case. */
      setHeaders: Array<[string, string]>;
      /** Headers to delete from the request sent upstream (never one of setHeaders); lower case. */
      removeHeaders: string[];
      /** Query parameters to delete from the request sent upstream (see removeQueryParams). */
      removeParams?: string[];
    }
  | { ok: false; status: 401 | 403; message: string };

export interface JwtAuthenticatorOptions {
  /** Where remote key sets live; defaults to the process-wide cache so snapshots share fetched keys. */
  cache?: JwksCache;
  /** Background refresh of remote key sets (Istio: 20 min). */
  refreshIntervalMs?: number;
  /** First retry after a failed refresh, doubling while failures continue (Istio: 1 min, up to 60). */
  retryOnFailureMs?: number;
  /** At most one on-demand fetch per URI per this long (unknown kid, or no key set yet). */
  refetchCooldownMs?: number;
  /** Envoy's clock_skew_seconds (60 by default, which Istio keeps). */
  clockSkewSeconds?: number;
  /** The clock (ms since the epoch), for tests. */
  now?: () => number;
}

interface CompiledRule {
  rule: JwtRule;
  audiences: AudienceChecker;
  /** Inline key set (undefined when `jwks` is absent or unusable). */
  inline?: KeyStore;
  remote?: JwksEntry;
  outputs: string[];
}

interface VerifiedToken {
  jwt: ParsedJwt;
  rule: CompiledRule;
  keys: KeyStore;
}

type TokenOutcome =
  { ok: true; jwt: ParsedJwt; rule: CompiledRule } | { ok: false; message: JwtStatusMessage };

/** istiod's openIDDiscoveryCfgURLSuffix, appended to the issuer as it is. */
const OPENID_CONFIGURATION = '/.well-known/openid-configuration';

/** Envoy's default jwt_cache_size. */
const JWT_CACHE_SIZE = 100;

function failure(message: JwtStatusMessage): JwtResult {
  return { ok: false, status: statusCodeFor(message), message };
}

const HEADER_VALUE_OK = /^[\t\x20-\x7e\x80-\xff]*$/;

export class JwtAuthenticator {
  private readonly byIssuer = new Map<string, CompiledRule>();
  private readonly extractor: TokenExtractor;
  /** Every rule's output headers, lower case: stripped from every incoming request. */
  private readonly sanitize: string[];
  private readonly cache: JwksCache;
  private readonly skew: number;
  private readonly now: () => number;
  private readonly entries: JwksEntry[] = [];
  /**
   * Tokens whose signature verified, least recently used first, with the key set that verified them; a
   * hit skips parsing and the signature but re-checks the times and audiences. Istio does not turn on
   * Envoy's JWT cache, so a key that leaves the set must stop verifying at once: a hit counts only while
   * its issuer still has that same key set.
   */
  private readonly verifiedCache = new Map<string, VerifiedToken>();
  private closed = false;

  constructor(
    readonly rules: readonly JwtRule[],
    options: JwtAuthenticatorOptions = {},
  ) {
    this.cache = options.cache ?? sharedJwksCache;
    this.skew = options.clockSkewSeconds ?? CLOCK_SKEW_SECONDS;
    this.now = options.now ?? Date.now;
    this.extractor = new TokenExtractor(rules);
    const sanitize = new Set<string>();
    for (const rule of rules) {
      const outputs: string[] = [];
      if (rule.outputPayloadToHeader) outputs.push(rule.outputPayloadToHeader.toLowerCase());
      for (const c of rule.outputClaimToHeaders) outputs.push(c.header.toLowerCase());
      outputs.forEach((h) => sanitize.add(h));
      // Envoy's findByIssuer takes the first provider with the issuer (Istio sorts rules by issuer).
      if (this.byIssuer.has(rule.issuer)) continue;
      const compiled: CompiledRule = { rule, audiences: new AudienceChecker(rule.audiences), outputs };
      if (rule.jwks) {
        // Istio: when both are given, jwks wins and jwksUri is ignored.
        try {
          compiled.inline = KeyStore.parse(rule.jwks);
        } catch {
          // left undefined: tokens of this issuer fail with "Jwks doesn't have any valid public key"
        }
      } else {
        // Without jwks or jwksUri, istiod finds the key set through OpenID discovery of the issuer.
        const discovery = !rule.jwksUri;
        const uri = rule.jwksUri || `${rule.issuer}${OPENID_CONFIGURATION}`;
        compiled.remote = this.cache.acquire(uri, {
          discovery,
          timeoutMs: rule.timeoutMs,
          refreshIntervalMs: options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS,
          retryOnFailureMs: options.retryOnFailureMs ?? DEFAULT_RETRY_ON_FAILURE_MS,
          refetchCooldownMs: options.refetchCooldownMs ?? DEFAULT_REFETCH_COOLDOWN_MS,
        });
        this.entries.push(compiled.remote);
      }
      this.byIssuer.set(rule.issuer, compiled);
    }
    this.sanitize = [...sanitize];
  }

  /** Whether any rule applies (no rules: every request passes untouched). */
  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** Resolves once every remote key set has been fetched or its fetch under way has failed. */
  async ready(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.settled()));
  }

  /** Gives the remote key sets back to the cache (kept a while for the next snapshot with the same URI). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.entries) this.cache.release(e);
  }

  /**
   * Authenticates a request. `query` is the query string (with or without "?"); `method` lets CORS
   * preflights through (for HTTP/2 it is also read from ":method").
   */
  authenticate(headers: IncomingHttpHeaders, query: string, method?: string): Promise<JwtResult> | JwtResult {
    if (this.rules.length === 0) return { ok: true, setHeaders: [], removeHeaders: [] };
    const m = method ?? (headers[':method'] as string | undefined);
    if (m === 'OPTIONS' && headers.origin && headers['access-control-request-method']) {
      return { ok: true, setHeaders: [], removeHeaders: this.sanitize.slice() };
    }
    const tokens = this.extractor.extract(headers, query);
    if (tokens.length === 0) return { ok: true, setHeaders: [], removeHeaders: this.sanitize.slice() };
    return this.verifyAll(tokens);
  }

  private async verifyAll(tokens: ExtractedToken[]): Promise<JwtResult> {
    const seen = new Map<string, Promise<TokenOutcome> | TokenOutcome>();
    const verified: Array<{ jwt: ParsedJwt; rule: CompiledRule; at: ExtractedToken }> = [];
    for (const at of tokens) {
      let hit = this.verifiedCache.get(at.token);
      if (hit && hit.keys !== (hit.rule.remote ? hit.rule.remote.keys : hit.rule.inline)) {
        this.verifiedCache.delete(at.token);
        hit = undefined;
      }
      let jwt: ParsedJwt;
      if (hit) jwt = hit.jwt;
      else {
        const parsed = parseJwt(at.token);
        if (!parsed.ok) return failure(parsed.message);
        jwt = parsed.jwt;
      }
      // The issuer must be one that named this location (Envoy's isIssuerAllowed, checked right after
      // parsing); a token of an issuer no rule names fails here too.
      if (!at.location.issuers.has(jwt.iss)) return failure(JwtStatus.JwtUnknownIssuer);
      let pending = seen.get(at.token);
      if (!pending) {
        pending = hit ? this.recheck(hit) : this.verifyToken(jwt);
        seen.set(at.token, pending);
      }
      const outcome = await pending;
      if (!outcome.ok) return failure(outcome.message);
      verified.push({ jwt: outcome.jwt, rule: outcome.rule, at });
    }
    return this.success(verified);
  }

  /** The claims checks, which depend on the time and the rule; the signature is known to be good. */
  private checkClaims(jwt: ParsedJwt, rule: CompiledRule): JwtStatusMessage | undefined {
    const timeError = checkTime(jwt, Math.floor(this.now() / 1000), this.skew);
    if (timeError) return timeError;
    if (!rule.audiences.allows(jwt.audiences)) return JwtStatus.JwtAudienceNotAllowed;
    return undefined;
  }

  /** A token from the verified cache: like a hit in Envoy's JWT cache, only times and audiences. */
  private recheck(hit: VerifiedToken): TokenOutcome {
    const error = this.checkClaims(hit.jwt, hit.rule);
    if (error) {
      this.verifiedCache.delete(hit.jwt.raw);
      return { ok: false, message: error };
    }
    // Most recently used last.
    this.verifiedCache.delete(hit.jwt.raw);
    this.verifiedCache.set(hit.jwt.raw, hit);
    return { ok: true, jwt: hit.jwt, rule: hit.rule };
  }

  /** Issuer's rule, times, audiences, key set, signature: Envoy's order after the location check. */
  private async verifyToken(jwt: ParsedJwt): Promise<TokenOutcome> {
    const rule = this.byIssuer.get(jwt.iss);
    if (!rule) return { ok: false, message: JwtStatus.JwtUnknownIssuer };
    const claimsError = this.checkClaims(jwt, rule);
    if (claimsError) return { ok: false, message: claimsError };

    let keys: KeyStore | undefined;
    if (rule.remote) {
      keys = await rule.remote.ensure();
      if (!keys) return { ok: false, message: JwtStatus.JwksFetchFail };
      if (!keys.hasKid(jwt.kid)) keys = (await rule.remote.refetchForKid()) ?? keys;
    } else {
      keys = rule.inline;
      if (!keys) return { ok: false, message: JwtStatus.JwksNoValidKeys };
    }
    const sigError = await keys.verify(jwt.raw, jwt.alg, jwt.kid);
    if (sigError) return { ok: false, message: sigError };
    if (this.verifiedCache.size >= JWT_CACHE_SIZE) {
      this.verifiedCache.delete(this.verifiedCache.keys().next().value as string);
    }
    this.verifiedCache.set(jwt.raw, { jwt, rule, keys });
    return { ok: true, jwt, rule };
  }

  private success(verified: Array<{ jwt: ParsedJwt; rule: CompiledRule; at: ExtractedToken }>): JwtResult {
    const set = new Map<string, string>();
    const remove = new Set<string>(this.sanitize);
    const removeParams = new Set<string>();
    for (const { jwt, rule, at } of verified) {
      const r = rule.rule;
      if (r.outputPayloadToHeader) {
        const name = r.outputPayloadToHeader.toLowerCase();
        if (!set.has(name)) set.set(name, jwt.payloadB64);
      }
      for (const { header, claim } of r.outputClaimToHeaders) {
        const name = header.toLowerCase();
        const value = claimHeaderValue(jwt.payload, claim);
        if (value !== undefined && !set.has(name) && HEADER_VALUE_OK.test(value)) set.set(name, value);
      }
      if (!r.forwardOriginalToken) {
        if (at.location.kind === 'header') remove.add(at.location.name);
        else if (at.location.kind === 'param') removeParams.add(at.location.name);
      }
    }
    for (const name of set.keys()) remove.delete(name);
    const first = verified[0]!.jwt;
    const presenter = first.payload.azp;
    return {
      ok: true,
      ...(first.iss && first.sub ? { principal: `${first.iss}/${first.sub}` } : {}),
      claims: first.payload,
      audiences: first.audiences,
      ...(typeof presenter === 'string' ? { presenter } : {}),
      setHeaders: [...set.entries()],
      removeHeaders: [...remove],
      removeParams: [...removeParams],
    };
  }
}
