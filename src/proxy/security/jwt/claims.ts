// Reading claims out of a verified payload: nested lookups for AuthorizationPolicy's
// request.auth.claims[a][b], and the header value Envoy's claim_to_headers writes.

/**
 * The claim at a path of nested object keys (request.auth.claims[a][b] → ["a", "b"]), or undefined when a
 * step is missing or not an object. An empty path returns the claims themselves.
 */
export function claimsAt(claims: Record<string, unknown> | undefined, path: readonly string[]): unknown {
  let cur: unknown = claims;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * A claim's values as strings, the way Istio's authorization reads request.auth.claims: a string is one
 * value, a list contributes its string members; anything else has none.
 */
export function claimStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/**
 * The value Envoy's claim_to_headers writes for a claim name (nested with "." as jwt_verify_lib's
 * StructUtils::GetValue splits it): strings as they are, booleans as "true"/"false", numbers as an integer
 * when whole and non-negative below 2^64, otherwise as C++ std::to_string(double) does ("%f"). Objects,
 * lists and null give no header, and neither does an empty string.
 */
export function claimHeaderValue(payload: Record<string, unknown>, claimName: string): string | undefined {
  const v = claimsAt(payload, claimName.split('.'));
  let out: string | undefined;
  if (typeof v === 'string') out = v;
  else if (typeof v === 'boolean') out = v ? 'true' : 'false';
  else if (typeof v === 'number' && Number.isFinite(v)) {
    if (!Number.isInteger(v))
      out = v.toFixed(6); // |v| < 2^53 here, where toFixed is plain "%f"
    else if (v >= 0 && v < 18446744073709551616) out = BigInt(v).toString();
    else out = `${BigInt(v)}.000000`;
  }
  return out === '' ? undefined : out;
}
