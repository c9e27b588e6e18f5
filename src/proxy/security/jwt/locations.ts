// Where tokens are looked for, as Envoy's jwt_authn Extractor does it (extractor.cc): every rule adds its
// header (name + value prefix), query parameter and cookie locations, or when it names none, the defaults
// `Authorization: Bearer <token>` and the `access_token` query parameter. A location remembers which issuers
// named it: a token found there whose `iss` is not one of them fails with "Jwt issuer is not configured".
import type { IncomingHttpHeaders } from 'node:http';
import type { JwtRule } from '../../../model/security.js';

export const DEFAULT_HEADER = 'authorization';
export const DEFAULT_PREFIX = 'Bearer ';
export const DEFAULT_PARAM = 'access_token';

export type LocationKind = 'header' | 'param' | 'cookie';

export interface TokenLocation {
  kind: LocationKind;
  /** Header name (lower case), query parameter name or cookie name. */
  name: string;
  /** Header value prefix ("" for none). */
  prefix: string;
  issuers: ReadonlySet<string>;
}

export interface ExtractedToken {
  token: string;
  location: TokenLocation;
}

// RFC 4648 §5 base64url plus the dot: where Envoy starts the token after the prefix.
const JWT_CHAR = /[A-Za-z0-9_.-]/;

export class TokenExtractor {
  readonly headers: TokenLocation[];
  readonly params: TokenLocation[];
  readonly cookies: TokenLocation[];

  constructor(rules: readonly JwtRule[]) {
    const headers = new Map<string, { loc: TokenLocation; issuers: Set<string> }>();
    const params = new Map<string, { loc: TokenLocation; issuers: Set<string> }>();
    const cookies = new Map<string, { loc: TokenLocation; issuers: Set<string> }>();
    const add = (
      map: typeof headers,
      kind: LocationKind,
      name: string,
      prefix: string,
      key: string,
      issuer: string,
    ): void => {
      let e = map.get(key);
      if (!e) {
        const issuers = new Set<string>();
        e = { loc: { kind, name, prefix, issuers }, issuers };
        map.set(key, e);
      }
      e.issuers.add(issuer);
    };
    for (const rule of rules) {
      for (const h of rule.fromHeaders) {
        const name = h.name.toLowerCase();
        add(headers, 'header', name, h.prefix, name + h.prefix, rule.issuer);
      }
      for (const p of rule.fromParams) add(params, 'param', p, '', p, rule.issuer);
      for (const c of rule.fromCookies) add(cookies, 'cookie', c, '', c, rule.issuer);
      if (rule.fromHeaders.length === 0 && rule.fromParams.length === 0 && rule.fromCookies.length === 0) {
        add(headers, 'header', DEFAULT_HEADER, DEFAULT_PREFIX, DEFAULT_HEADER + DEFAULT_PREFIX, rule.issuer);
        add(params, 'param', DEFAULT_PARAM, '', DEFAULT_PARAM, rule.issuer);
      }
    }
    // Envoy keeps each kind in a sorted map and looks at headers, then parameters, then cookies.
    const sorted = (m: typeof headers): TokenLocation[] =>
      [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e.loc);
    this.headers = sorted(headers);
    this.params = sorted(params);
    this.cookies = sorted(cookies);
  }

  /** Every token the request carries at a configured location, in Envoy's order. */
  extract(headers: IncomingHttpHeaders, query: string): ExtractedToken[] {
    let out: ExtractedToken[] | undefined;
    for (const loc of this.headers) {
      const raw = headers[loc.name];
      if (raw === undefined) continue;
      for (const value of Array.isArray(raw) ? raw : [raw]) {
        let token = value;
        if (loc.prefix) {
          // Envoy looks for the prefix anywhere in the value (case-sensitive); without it the value is
          // not a token for this location. The token starts at the first base64url character after it.
          const at = value.indexOf(loc.prefix);
          if (at < 0) continue;
          let i = at + loc.prefix.length;
          while (i < value.length && !JWT_CHAR.test(value[i]!)) i++;
          token = i < value.length ? value.slice(i) : value;
        }
        (out ??= []).push({ token, location: loc });
      }
    }
    if (this.params.length && query) {
      for (const loc of this.params) {
        const v = firstQueryValue(query, loc.name);
        if (v !== undefined) (out ??= []).push({ token: v, location: loc });
      }
    }
    if (this.cookies.length) {
      const cookie = headers.cookie;
      if (cookie) {
        for (const loc of this.cookies) {
          const v = cookieValue(cookie, loc.name);
          if (v !== undefined) (out ??= []).push({ token: v, location: loc });
        }
      }
    }
    return out ?? NONE;
  }
}

const NONE: ExtractedToken[] = [];

function decodeComponent(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The first value of a query parameter (percent-decoded), as Envoy's QueryParamsMulti::getFirstValue. */
export function firstQueryValue(query: string, name: string): string | undefined {
  const q = query.startsWith('?') ? query.slice(1) : query;
  if (!q) return undefined;
  for (const pair of q.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (key === name) return decodeComponent(eq < 0 ? '' : pair.slice(eq + 1));
  }
  return undefined;
}

/** The query string without every occurrence of a parameter (Envoy's removeJwt for a parameter location). */
export function removeQueryParams(query: string, names: readonly string[]): string {
  const q = query.startsWith('?') ? query.slice(1) : query;
  if (!q || names.length === 0) return q;
  return q
    .split('&')
    .filter((pair) => {
      if (!pair) return false;
      const eq = pair.indexOf('=');
      return !names.includes(decodeComponent(eq < 0 ? pair : pair.slice(0, eq)));
    })
    .join('&');
}

/** A cookie's value from Cookie header(s) (Envoy's Http::Utility::parseCookies: first match, quotes dropped). */
export function cookieValue(cookieHeader: string | string[], name: string): string | undefined {
  const all = Array.isArray(cookieHeader) ? cookieHeader.join('; ') : cookieHeader;
  for (const part of all.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    return v;
  }
  return undefined;
}
