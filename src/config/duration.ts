// Durations as Istio accepts them in YAML: Go's time.ParseDuration syntax ("1h30m", "1.5s", "100ms"),
// which also covers the protobuf JSON form ("0.250s"). Weft works in milliseconds throughout.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign, as Go accepts
  μs: 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Parse a duration such as "1.5s", "100ms", "2m" or "1h30m" into milliseconds. Throws on bad input. */
export function parseDuration(s: string): number {
  if (typeof s !== 'string') throw new Error(`invalid duration: expected a string such as "1.5s"`);
  let text = s.trim();
  let sign = 1;
  if (text.startsWith('-') || text.startsWith('+')) {
    if (text.startsWith('-')) sign = -1;
    text = text.slice(1);
  }
  if (text === '0') return 0; // Go allows a bare zero without a unit
  if (text === '') throw new Error(`invalid duration "${s}": expected a number and a unit such as "1.5s"`);
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (!m) {
      const rest = text.slice(at);
      const hint = /^\d+(\.\d*)?$/.test(rest) ? 'missing unit' : 'unknown unit or syntax';
      throw new Error(`invalid duration "${s}": ${hint} (use ns, us, ms, s, m or h, e.g. "1.5s")`);
    }
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  // Round away float noise such as 0.1s + 0.2s, keeping sub-millisecond values representable.
  return sign * (Math.round(total * 1e6) / 1e6);
}

/** Like parseDuration, but returns undefined instead of throwing. */
export function tryParseDuration(s: string): number | undefined {
  try {
    return parseDuration(s);
  } catch {
    return undefined;
  }
}

/** Format milliseconds the way users write them: "1.5s", "250ms", "2m", "1h". */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (Math.abs(ms) >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}
