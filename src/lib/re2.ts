// Istio and Gateway API regexes are RE2 and match the whole string (Envoy's safe_regex). JavaScript has
// no inline flag groups in Node 20, so a leading `(?i)` (the one RE2 feature users commonly write)
// becomes the `i` flag. Used by the loader (to validate) and the proxy (to compile once per snapshot).

const MAX_LENGTH = 1024; // Istio's limit, a stand-in for Envoy's RE2 program size limit

/** The JavaScript source and flags for an RE2 pattern. Throws with a readable message. */
export function translateRe2(re: string): { body: string; flags: string } {
  if (re === '') throw new Error('regex must not be empty');
  if (re.length > MAX_LENGTH)
    throw new Error(`regex is too long (${re.length} characters, max ${MAX_LENGTH})`);
  let body = re;
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    body = body.slice(lead[0].length);
    for (const f of lead[1] as string) {
      if (f === 'U') throw new Error('the RE2 flag U (ungreedy) is not supported');
      if (!flags.includes(f)) flags += f;
    }
  }
  try {
    new RegExp(body, flags); // alone first: `a)|(b` is invalid, but valid once wrapped in ^(?:...)$
  } catch (e) {
    // Drop JavaScript's "Invalid regular expression: /.../: " prefix; we quote the user's text instead.
    const msg = (e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    throw new Error(`${msg} in ${JSON.stringify(re)}`);
  }
  return { body, flags };
}

/** Compile an RE2 regex as a full-string matcher. */
export function compileFullMatch(re: string, extraFlags = ''): RegExp {
  const { body, flags } = translateRe2(re);
  return new RegExp(`^(?:${body})$`, [...new Set(flags + extraFlags)].join(''));
}

/** Compile an RE2 regex for substitution (every match in the string, not anchored). */
export function compileSubstitution(re: string): RegExp {
  const { body, flags } = translateRe2(re);
  return new RegExp(body, `${flags}g`);
}
