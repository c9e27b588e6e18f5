// Matcher primitives for the authorization engine, each compiled once from policy text: Istio's string
// patterns (exact, "abc*", "*abc", "*"), IP addresses and CIDR ranges (IPv4 as numbers, IPv6 as bigints,
// IPv4-mapped IPv6 folded to IPv4), and Envoy URI templates for {*} / {**} paths.

/** A parsed address: IPv4 as a 32-bit number, IPv6 as a 128-bit bigint. */
export type Ip = { v6: false; n: number } | { v6: true; n: bigint };

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_RE = /^[0-9a-fA-F]{1,4}$/;

function parseV4(s: string): number | undefined {
  const m = V4_RE.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // inet_pton (what Envoy uses) refuses leading zeros: "010" is not 10 and not octal 8.
    if (part.length > 1 && part[0] === '0') return undefined;
    const b = Number(part);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

function parseV6(s: string): bigint | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (HEX_RE.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 may only end the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  let n = 0n;
  for (const g of all) n = (n << 16n) | BigInt(g);
  return n;
}

/**
 * Parses an address as written in policies or reported by sockets ("10.0.0.1", "::1", "[::1]",
 * "fe80::1%eth0", "::ffff:10.0.0.1"). IPv4-mapped IPv6 becomes the IPv4 address: a dual-stack socket
 * reports IPv4 peers that way, and the policy means the IPv4 address.
 */
export function parseIp(raw: string | undefined): Ip | undefined {
  if (!raw) return undefined;
  let s = raw;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const v4 = parseV4(s);
  if (v4 !== undefined) return { v6: false, n: v4 };
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const v6 = parseV6(s);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { v6: false, n: Number(v6 & 0xffffffffn) };
  return { v6: true, n: v6 };
}

export interface Cidr {
  v6: boolean;
  prefix: number;
  base: number | bigint;
  mask: number | bigint;
}

function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function v6Mask(prefix: number): bigint {
  return prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n);
}

/**
 * Parses "1.2.3.4", "1.2.0.0/16", "2001:db8::/32" (a bare address is a /32 or /128, as Istio's
 * AddrStrToCidrRange does). The base is masked, as Envoy does. An IPv4-mapped IPv6 range of /96 or longer
 * becomes the IPv4 range it covers. Returns an error message for anything else.
 */
export function parseCidr(raw: string): Cidr | string {
  const s = raw.trim();
  const slash = s.indexOf('/');
  const addrText = slash >= 0 ? s.slice(0, slash) : s;
  const lenText = slash >= 0 ? s.slice(slash + 1) : undefined;
  // parseIp folds mapped addresses to IPv4; a range needs to know what was written.
  let ip: Ip | undefined;
  const v4 = parseV4(addrText);
  if (v4 !== undefined) ip = { v6: false, n: v4 };
  else {
    const v6 = parseV6(addrText);
    if (v6 !== undefined) ip = { v6: true, n: v6 };
  }
  if (!ip) return `invalid IP address ${JSON.stringify(raw)}`;
  const max = ip.v6 ? 128 : 32;
  let prefix = max;
  if (lenText !== undefined) {
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) return `invalid CIDR ${JSON.stringify(raw)}`;
    prefix = Number(lenText);
  }
  if (ip.v6 && prefix >= 96 && (ip.n as bigint) >> 32n === 0xffffn) {
    ip = { v6: false, n: Number((ip.n as bigint) & 0xffffffffn) };
    prefix -= 96;
  }
  if (ip.v6) {
    const mask = v6Mask(prefix);
    return { v6: true, prefix, base: ip.n & mask, mask };
  }
  const mask = v4Mask(prefix);
  return { v6: false, prefix, base: (ip.n & mask) >>> 0, mask };
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  if (c.v6 !== ip.v6) return false;
  if (ip.v6) return (ip.n & (c.mask as bigint)) === c.base;
  return (ip.n & (c.mask as number)) >>> 0 === c.base;
}

/**
 * Istio's string match (pilot/pkg/security/authz/matcher/string.go StringMatcherWithPrefix): "*" is any
 * non-empty value (regex ".+"), "*abc" a suffix, "abc*" a prefix, anything else exact. `ignoreCase`
 * lower-cases the pattern; the caller lower-cases the value.
 */
export function compileStringPattern(pattern: string, ignoreCase = false): (v: string) => boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  if (p === '*') return (v) => v.length > 0;
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => v.endsWith(suffix);
  }
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => v.startsWith(prefix);
  }
  return (v) => v === p;
}

/**
 * A list of Istio string patterns as one test: exact values in a Set, prefixes and suffixes in arrays,
 * "*" as a flag. True when any pattern matches.
 */
export function compileStringList(patterns: readonly string[], ignoreCase = false): (v: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  let any = false;
  for (const raw of patterns) {
    const p = ignoreCase ? raw.toLowerCase() : raw;
    if (p === '*') any = true;
    else if (p.startsWith('*')) suffixes.push(p.slice(1));
    else if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return (v) => {
    if (any && v.length > 0) return true;
    if (exact.has(v)) return true;
    for (const p of prefixes) if (v.startsWith(p)) return true;
    for (const s of suffixes) if (v.endsWith(s)) return true;
    return false;
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** A glob where every "*" is ".*" (Istio's namespace matcher), anchored, compiled once. */
export function compileGlob(pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map(escapeRegExp).join('.*') + '$');
}

export const MATCH_ONE_TEMPLATE = '{*}';
export const MATCH_ANY_TEMPLATE = '{**}';

export function containsPathTemplate(path: string): boolean {
  return path.includes(MATCH_ONE_TEMPLATE) || path.includes(MATCH_ANY_TEMPLATE);
}

// RFC 3986 pchar less "*" (Envoy's uri_template kLiteral, with "=" as Istio's IsValidLiteral allows).
const LITERAL_CHARS = "a-zA-Z0-9\\-._~%!$&'()+,;:@=";
const LITERAL_RE = new RegExp(`^[${LITERAL_CHARS}]+$`);
const PATH_GLOB = `[${LITERAL_CHARS}]+`;
const TEXT_GLOB = `[${LITERAL_CHARS}/]*`;

/**
 * Compiles an Istio path template to the regex Envoy's uri_template matcher uses: "{*}" is one segment
 * (one or more pchars), "{**}" is any text including "/" (zero or more), literal segments match themselves,
 * and the whole path must match. Validates as Istio's CheckValidPathTemplate does ({**} is the last
 * operator, no "{", "}" or "*" beyond an operator, segments are pchar literals). Returns an error message
 * for an invalid template.
 */
export function compilePathTemplate(template: string): RegExp | string {
  if (!template.startsWith('/')) return `path template ${JSON.stringify(template)} must start with "/"`;
  const body = template.slice(1);
  const segments = body.split('/');
  let sawAny = false;
  const parts: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === MATCH_ONE_TEMPLATE || seg === MATCH_ANY_TEMPLATE) {
      if (sawAny) return `path template ${JSON.stringify(template)}: {**} must be the last operator`;
      if (seg === MATCH_ANY_TEMPLATE) sawAny = true;
      parts.push(seg === MATCH_ONE_TEMPLATE ? PATH_GLOB : TEXT_GLOB);
      continue;
    }
    // A single trailing "/" is allowed (Envoy marks it with an empty literal).
    if (seg === '' && i === segments.length - 1 && i > 0) {
      parts.push('');
      continue;
    }
    if (/[{}*]/.test(seg)) {
      return `path template ${JSON.stringify(template)}: "{", "}" or "*" outside a {*} or {**} operator`;
    }
    if (!LITERAL_RE.test(seg)) {
      return `path template ${JSON.stringify(template)}: segment ${JSON.stringify(seg)} is not a valid literal`;
    }
    parts.push(escapeRegExp(seg));
  }
  return new RegExp('^/' + parts.join('/') + '$');
}
