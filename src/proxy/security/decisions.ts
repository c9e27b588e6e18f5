// Counters of security decisions, for /metrics: every deny is counted, with the policy and action that
// decided, and JWT outcomes. One set per proxy process; label sets are few (one per policy).

const authz = new Map<string, { decision: string; action: string; policy: string; n: number }>();
const jwt = new Map<string, number>();

export function countAuthz(decision: 'allow' | 'deny' | 'audit', action: string, policy: string): void {
  const key = `${decision}\u0000${action}\u0000${policy}`;
  const c = authz.get(key);
  if (c) c.n++;
  else authz.set(key, { decision, action, policy, n: 1 });
}

export function countJwt(result: 'success' | 'failure'): void {
  jwt.set(result, (jwt.get(result) ?? 0) + 1);
}

export function authzCounts(): ReadonlyArray<{
  decision: string;
  action: string;
  policy: string;
  n: number;
}> {
  return [...authz.values()];
}

export function jwtCounts(): ReadonlyMap<string, number> {
  return jwt;
}
