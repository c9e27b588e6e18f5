// Parsing a compact JWT the way Envoy's jwt_verify_lib does (Jwt::parseFromString), with its checks in its
// order and its messages, and the time check (Jwt::verifyTimeConstraint) with its 60 s default skew.
// The signature is checked later, with jose, once the issuer, times and audiences have passed.
import { JwtStatus, type JwtStatusMessage } from './status.js';

/** Envoy's implemented algorithms (jwt.cc isImplemented); any other "alg", "none" included, is refused. */
const IMPLEMENTED_ALGS = new Set([
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
]);

/** jwt_verify_lib's kClockSkewInSecond: Envoy's default when a provider sets no clock_skew_seconds. */
export const CLOCK_SKEW_SECONDS = 60;

export interface ParsedJwt {
  /** The whole token as extracted. */
  raw: string;
  /** The payload segment exactly as it appears in the token (base64url, unpadded as sent). */
  payloadB64: string;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  alg: string;
  kid?: string;
  /** "" when absent. */
  iss: string;
  /** "" when absent. */
  sub: string;
  /** The aud claim as a list ([] when absent). */
  audiences: string[];
  /** Seconds since the epoch; 0 when absent. */
  iat: number;
  nbf: number;
  exp: number;
}

export type ParseResult = { ok: true; jwt: ParsedJwt } | { ok: false; message: JwtStatusMessage };

const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Decodes base64url as absl::WebSafeBase64Unescape accepts it (padding optional); undefined if invalid. */
function decodeBase64Url(segment: string): Buffer | undefined {
  if (!B64URL.test(segment)) return undefined;
  const bare = segment.replace(/=+$/, '');
  if (bare.length % 4 === 1) return undefined;
  if (segment.length !== bare.length && segment.length % 4 !== 0) return undefined;
  return Buffer.from(bare, 'base64url');
}

function decodeJsonObject(segment: string): Record<string, unknown> | 'base64' | 'json' {
  const bytes = decodeBase64Url(segment);
  if (!bytes) return 'base64';
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'json';
  }
  // Envoy parses into a protobuf Struct: anything but a JSON object is a parse error.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'json';
  return value as Record<string, unknown>;
}

type TimeField = { value: number } | { error: 'type' | 'range' };

/** StructUtils::GetUInt64: a number (truncated), refused when negative or past 2^64. Absent = 0. */
function timeClaim(payload: Record<string, unknown>, name: string): TimeField {
  const v = payload[name];
  if (v === undefined) return { value: 0 };
  if (typeof v !== 'number') return { error: 'type' };
  if (v < 0 || v >= 18446744073709551616) return { error: 'range' };
  return { value: Math.trunc(v) };
}

export function parseJwt(raw: string): ParseResult {
  const fail = (message: JwtStatusMessage): ParseResult => ({ ok: false, message });
  const parts = raw.split('.');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return fail(JwtStatus.JwtBadFormat);
  const [h, p, s] = parts as [string, string, string];

  const header = decodeJsonObject(h);
  if (header === 'base64') return fail(JwtStatus.JwtHeaderParseErrorBadBase64);
  if (header === 'json') return fail(JwtStatus.JwtHeaderParseErrorBadJson);
  const alg = header.alg;
  if (typeof alg !== 'string') return fail(JwtStatus.JwtHeaderBadAlg);
  if (!IMPLEMENTED_ALGS.has(alg)) return fail(JwtStatus.JwtHeaderNotImplementedAlg);
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return fail(JwtStatus.JwtHeaderBadKid);

  const payload = decodeJsonObject(p);
  if (payload === 'base64') return fail(JwtStatus.JwtPayloadParseErrorBadBase64);
  if (payload === 'json') return fail(JwtStatus.JwtPayloadParseErrorBadJson);
  const { iss, sub, jti, aud } = payload;
  if (iss !== undefined && typeof iss !== 'string') return fail(JwtStatus.JwtPayloadParseErrorIssNotString);
  if (sub !== undefined && typeof sub !== 'string') return fail(JwtStatus.JwtPayloadParseErrorSubNotString);
  const iat = timeClaim(payload, 'iat');
  if ('error' in iat)
    return fail(
      iat.error === 'type'
        ? JwtStatus.JwtPayloadParseErrorIatNotInteger
        : JwtStatus.JwtPayloadParseErrorIatOutOfRange,
    );
  const nbf = timeClaim(payload, 'nbf');
  if ('error' in nbf)
    return fail(
      nbf.error === 'type'
        ? JwtStatus.JwtPayloadParseErrorNbfNotInteger
        : JwtStatus.JwtPayloadParseErrorNbfOutOfRange,
    );
  const exp = timeClaim(payload, 'exp');
  if ('error' in exp)
    return fail(
      exp.error === 'type'
        ? JwtStatus.JwtPayloadParseErrorExpNotInteger
        : JwtStatus.JwtPayloadParseErrorExpOutOfRange,
    );
  if (jti !== undefined && typeof jti !== 'string') return fail(JwtStatus.JwtPayloadParseErrorJtiNotString);
  let audiences: string[];
  if (aud === undefined) audiences = [];
  else if (typeof aud === 'string') audiences = [aud];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) audiences = aud as string[];
  else return fail(JwtStatus.JwtPayloadParseErrorAudNotString);

  if (!decodeBase64Url(s)) return fail(JwtStatus.JwtSignatureParseErrorBadBase64);

  return {
    ok: true,
    jwt: {
      raw,
      payloadB64: p,
      header,
      payload,
      alg,
      ...(kid !== undefined ? { kid } : {}),
      iss: iss ?? '',
      sub: sub ?? '',
      audiences,
      iat: iat.value,
      nbf: nbf.value,
      exp: exp.value,
    },
  };
}

/**
 * Jwt::verifyTimeConstraint: not yet valid when now + skew < nbf, expired when exp is set and
 * now > exp + skew (both in whole seconds).
 */
export function checkTime(
  jwt: ParsedJwt,
  nowSeconds: number,
  skew = CLOCK_SKEW_SECONDS,
): JwtStatusMessage | undefined {
  if (nowSeconds + skew < jwt.nbf) return JwtStatus.JwtNotYetValid;
  if (jwt.exp && nowSeconds > jwt.exp + skew) return JwtStatus.JwtExpired;
  return undefined;
}

/**
 * jwt_verify_lib's CheckAudience: an empty configured list allows any token (Istio leaves the provider's
 * audiences empty when the rule has none); otherwise one of the token's audiences must match one of the
 * configured ones after both drop an "http://" or "https://" scheme and one trailing slash.
 */
export class AudienceChecker {
  private readonly allowed: Set<string>;

  constructor(audiences: readonly string[]) {
    this.allowed = new Set(audiences.map(normalizeAudience));
  }

  get empty(): boolean {
    return this.allowed.size === 0;
  }

  allows(tokenAudiences: readonly string[]): boolean {
    if (this.allowed.size === 0) return true;
    for (const a of tokenAudiences) if (this.allowed.has(normalizeAudience(a))) return true;
    return false;
  }
}

export function normalizeAudience(aud: string): string {
  let a = aud;
  if (a.startsWith('http://')) a = a.slice(7);
  else if (a.startsWith('https://')) a = a.slice(8);
  if (a.endsWith('/')) a = a.slice(0, -1);
  return a;
}
