// Rate limits for log lines that every connection or request could repeat (a peer with an untrusted
// certificate, a TLS origination that cannot succeed): the first of each kind is written, the rest of
// that kind within the period are not.

/** `true` the first time a key is seen in each `periodMs`; at most `maxKeys` keys are remembered. */
export function oncePer(periodMs: number, maxKeys = 1000): (key: string) => boolean {
  const until = new Map<string, number>();
  return (key) => {
    const now = Date.now();
    if ((until.get(key) ?? 0) > now) return false;
    if (until.size >= maxKeys) until.clear();
    until.set(key, now + periodMs);
    return true;
  };
}
