// Request path normalization, run on every inbound request BEFORE AuthorizationPolicy is evaluated.
// The normalized path is both what policy matches and what the app receives, so no encoding trick
// can show policy one path and the app another. Semantics follow Istio's
// meshConfig.pathNormalization, which maps onto Envoy's HTTP connection manager options:
//
//   NONE                      normalize_path=false: the path is forwarded as received.
//   BASE (Istio's default)    normalize_path=true: RFC 3986 normalization as Envoy does it (Envoy's
//                             copy of Chromium's path canonicalizer): percent-decode unreserved
//                             characters only, `\` -> `/`, resolve `.` and `..` segments, never above
//                             root. Escaped slashes (%2F, %5C) stay escaped
//                             (path_with_escaped_slashes_action=KEEP_UNCHANGED).
//   MERGE_SLASHES             BASE, then merge_slashes=true (`//a///b` -> `/a/b`).
//   DECODE_AND_MERGE_SLASHES  path_with_escaped_slashes_action=UNESCAPE_AND_FORWARD: %2F/%5C are
//                             decoded to `/` and `\` first, then BASE, then slashes are merged.
//
// In every mode the fragment is dropped (Istio strips it, GHSA-hqxw-mm44-gc4r), the query is split
// off and returned raw (policy `paths` never include it), and a request with an encoded NUL (%00) is
// rejected (Istio: "always rejected with HTTP code 400").
//
// Where Weft is stricter than Envoy's default (Chromium-derived) canonicalizer, on purpose:
//   - remaining percent-encodings get uppercase hex (`%2f` -> `%2F`, RFC 3986 6.2.2.1). Envoy's
//     canonicalizer keeps the case as received (so does its newer header validator while
//     `uhv_preserve_url_encoded_case` is on, a default it says will flip). Uppercasing means a policy
//     on `/a%2Fb` cannot be dodged with `/a%2fb`;
//   - an invalid percent-encoding (`%zz`, a truncated `%4`) is rejected instead of passed through, as
//     Envoy's header validator does unless `uhv_allow_malformed_url_encoding` is set. NONE still
//     passes them through: it forwards the path as received;
//   - raw non-ASCII characters in the path are rejected rather than percent-encoded; raw control
//     characters and whitespace are rejected in the path and the query (Envoy leaves those to its
//     HTTP parser, which rejects them).
// Raw `"<>^`{|}` are percent-encoded as Envoy's canonicalizer does, so `/a"b` and `/a%22b` are one path.
//
// Case is preserved: paths are case-sensitive (`/Admin` is not `/admin`). Matching paths
// case-insensitively is a policy concern, not a normalization one.

import type { PathNormalizationMode } from '../../model/security.js';

export type { PathNormalizationMode };

export type NormalizedPath = { ok: true; path: string; query: string } | { ok: false; reason: string };

// Character classes for the scan (ASCII only; >= 0x80 is handled separately).
const C_PLAIN = 0;
const C_BAD = 1; // control characters, space, DEL: never valid in a request-target
const C_PERCENT = 2;
const C_BACKSLASH = 3;
const C_SLASH = 4;
const C_DOT = 5;
const C_QUERY = 6;
const C_HASH = 7;
const C_UNSAFE = 8; // printable but not allowed raw in a path: percent-encoded by normalization

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const HASH = 0x23;

const CLASS = new Uint8Array(128);
for (let c = 0; c <= 0x20; c++) CLASS[c] = C_BAD;
CLASS[0x7f] = C_BAD;
CLASS[PERCENT] = C_PERCENT;
CLASS[BACKSLASH] = C_BACKSLASH;
CLASS[SLASH] = C_SLASH;
CLASS[0x2e] = C_DOT;
CLASS[0x3f] = C_QUERY;
CLASS[HASH] = C_HASH;
for (const ch of '"<>^`{|}') CLASS[ch.charCodeAt(0)] = C_UNSAFE;

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". Only these are ever decoded (plus slashes in DECODE mode). */
const UNRESERVED = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) UNRESERVED[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) UNRESERVED[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) UNRESERVED[c] = 1;
for (const ch of '-._~') UNRESERVED[ch.charCodeAt(0)] = 1;

/** Hex digit value, -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/** `%XX` with uppercase hex, for every octet. */
const ESCAPED: string[] = [];
for (let v = 0; v < 256; v++) ESCAPED.push('%' + v.toString(16).toUpperCase().padStart(2, '0'));

const hexByte = (c: number): string => '0x' + c.toString(16).toUpperCase().padStart(2, '0');

type Rejected = Extract<NormalizedPath, { ok: false }>;

const fail = (reason: string): Rejected => ({ ok: false, reason });

export function normalizePath(target: string, mode: PathNormalizationMode): NormalizedPath {
  const len = target.length;
  if (len === 0) return fail('request path is empty; it must start with "/"');
  if (target.charCodeAt(0) !== SLASH) {
    if (target === '*') {
      return fail('request target "*" is not a path (the asterisk form is only for server-wide OPTIONS)');
    }
    return fail('request path must start with "/" (origin form: a path with an optional "?query")');
  }

  const normalize = mode !== 'NONE';
  const merge = mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES';

  // One cheap scan: validate characters, find where the path ends, and note whether anything in the
  // path needs rewriting. A path that needs nothing is returned as a slice of the target.
  let pathEnd = len;
  let queryStart = -1;
  let queryEnd = len;
  let slow = false;
  for (let i = 1; i < len; i++) {
    const c = target.charCodeAt(i);
    if (c >= 0x80) {
      return fail(
        `request path contains a non-ASCII character at offset ${i}; ` +
          'non-ASCII characters must be sent percent-encoded as UTF-8 (for example "\u00e9" as %C3%A9)',
      );
    }
    const k = CLASS[c];
    if (k === C_PLAIN) continue;
    if (k === C_BAD) return fail(badCharReason('path', c, i));
    if (k === C_QUERY || k === C_HASH) {
      pathEnd = i;
      if (k === C_QUERY) {
        queryStart = i + 1;
        for (let j = queryStart; j < len; j++) {
          const q = target.charCodeAt(j);
          if (q === HASH) {
            queryEnd = j;
            break;
          }
          if (q <= 0x20 || q === 0x7f) return fail(badCharReason('query', q, j));
        }
      }
      // Anything after '#' is a fragment: dropped, never seen by policy or the app.
      break;
    }
    if (k === C_PERCENT) {
      // Istio rejects an encoded NUL in every mode, NONE included.
      if (target.charCodeAt(i + 1) === 0x30 && target.charCodeAt(i + 2) === 0x30) {
        return fail(`request path contains an encoded NUL byte (%00) at offset ${i}`);
      }
      slow = true;
    } else if (k === C_DOT) {
      if (target.charCodeAt(i - 1) === SLASH) slow = true; // maybe a "." or ".." segment
    } else if (k === C_SLASH) {
      if (merge && target.charCodeAt(i - 1) === SLASH) slow = true;
    } else {
      slow = true; // backslash, or a character to percent-encode
    }
  }

  const query = queryStart < 0 ? '' : target.slice(queryStart, queryEnd);
  if (!normalize || !slow) {
    return { ok: true, path: pathEnd === len ? target : target.slice(0, pathEnd), query };
  }
  const path = normalizeSlow(target, pathEnd, mode === 'DECODE_AND_MERGE_SLASHES', merge);
  return typeof path === 'string' ? { ok: true, path, query } : path;
}

function badCharReason(part: 'path' | 'query', c: number, offset: number): string {
  const what = c === 0x20 ? 'a space' : c === 0x09 ? 'a tab' : `a control character (byte ${hexByte(c)})`;
  return `request ${part} contains ${what} at offset ${offset}; it must be percent-encoded (as ${ESCAPED[c]})`;
}

/**
 * The full normalization of `target[0, end)`, which the scan has already checked: it starts with "/",
 * and holds only printable ASCII other than "?" and "#".
 */
function normalizeSlow(
  target: string,
  end: number,
  decodeSlashes: boolean,
  merge: boolean,
): string | Rejected {
  // Pass 1: percent-encodings and single characters. Runs of untouched characters are copied as slices.
  let s = '';
  let run = 0;
  for (let i = 1; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === PERCENT) {
      if (i + 2 >= end) {
        return fail(
          `request path has a truncated percent-encoding at offset ${i}; "%" must be followed by two hexadecimal digits`,
        );
      }
      const hi = HEX[target.charCodeAt(i + 1)] ?? -1;
      const lo = HEX[target.charCodeAt(i + 2)] ?? -1;
      if (hi < 0 || lo < 0) {
        return fail(
          `request path has an invalid percent-encoding at offset ${i}; "%" must be followed by two hexadecimal digits`,
        );
      }
      const v = hi * 16 + lo;
      if (v === 0) return fail(`request path contains an encoded NUL byte (%00) at offset ${i}`);
      s += target.slice(run, i);
      if (v < 128 && UNRESERVED[v] === 1) s += String.fromCharCode(v);
      else if (decodeSlashes && (v === SLASH || v === BACKSLASH)) s += '/';
      else s += ESCAPED[v];
      i += 2;
      run = i + 1;
    } else if (c === BACKSLASH) {
      s += target.slice(run, i) + '/';
      run = i + 1;
    } else if (CLASS[c] === C_UNSAFE) {
      s += target.slice(run, i) + ESCAPED[c];
      run = i + 1;
    }
  }
  // The first rewrite copied target[0, i), so s always starts with the leading "/".
  s = run === 0 ? target.slice(0, end) : s + target.slice(run, end);

  const dots = s.includes('/.');
  if (!dots && !(merge && s.includes('//'))) return s;

  // Pass 2: remove "." and ".." segments (RFC 3986 5.2.4; ".." at the root stays at the root, as in
  // Envoy). A dot segment at the end leaves a trailing slash: "/a/b/.." -> "/a/".
  // Pass 3 (merge modes): drop the empty segments left by "//", keeping a trailing slash. Merging comes
  // after dot removal, as in Envoy: "/a//../b" -> "/a/b".
  const segments = s.split('/');
  const last = segments.length - 1;
  const out: string[] = [];
  for (let k = 1; k <= last; k++) {
    const seg = segments[k] as string;
    if (dots && (seg === '.' || seg === '..')) {
      if (seg === '..') out.pop();
      if (k === last) out.push('');
    } else {
      out.push(seg);
    }
  }
  if (merge) {
    let w = 0;
    for (let r = 0; r < out.length; r++) {
      if (out[r] !== '' || r === out.length - 1) out[w++] = out[r] as string;
    }
    out.length = w;
  }
  return '/' + out.join('/');
}
