// Locality-aware balancing as Istio configures Envoy from localityLbSetting (Istio's loadbalancer.go):
//  - failover: each endpoint gets a priority from its locality (same subzone 0, zone 1, region 2, other
//    regions 3; when a `failover` entry names the client's region, its `to` region stays 3 and the rest
//    become 4) and, with failoverPriority, first from how long a prefix of the listed labels it shares
//    with the client (priorities combine as label priority × 5 + locality priority, as in Istio).
//  - distribute: the first entry whose `from` matches the client gives endpoint localities weights;
//    localities that no `to` pattern matches get no traffic. Everything stays at one priority.
// Then Envoy's rules per request: priority P keeps min(1, 1.4 × healthy share of P) of the traffic, the rest
// spills to the next priority; within a priority, localities are picked by weight (the distribute weight,
// else the endpoint count) × the same availability (Envoy's overprovisioning factor 1.4).
import type { Endpoint, Locality, LocalityPolicy } from '../../../model/snapshot.js';

const OVERPROVISIONING = 1.4;

/** The calling proxy: its locality and labels (failoverPriority matches labels). */
export interface Client {
  locality?: Locality | undefined;
  labels: Record<string, string>;
}

/** Istio's LocalityMatch: `region/zone/subzone`, `*` for any; a missing zone or subzone matches all. */
export function localityMatch(l: Locality | undefined, pattern: string): boolean {
  const [region = '', zone = '', subzone = ''] = pattern.split('/');
  const is = (rule: string, v: string | undefined, optional: boolean) =>
    rule === '*' || (optional && rule === '') || (v ?? '') === rule;
  return is(region, l?.region, false) && is(zone, l?.zone, true) && is(subzone, l?.subzone, true);
}

/** Istio's LbPriority (missing parts compare as empty strings), then its region failover. */
function localityPriority(self: Locality, l: Locality, failover: LocalityPolicy['failover']): number {
  const eq = (k: keyof Locality) => (self[k] ?? '') === (l[k] ?? '');
  if (eq('region')) return eq('zone') ? (eq('subzone') ? 0 : 1) : 2;
  const f = failover.find((x) => x.from === (self.region ?? ''));
  return f && f.to !== (l.region ?? '') ? 4 : 3;
}

/** failoverPriority: 0 when every listed label matches, else count − index of the first mismatch. */
function labelPriority(self: Record<string, string>, ep: Record<string, string>, keys: string[]): number {
  for (let j = 0; j < keys.length; j++) {
    const [key = '', override] = keys[j]!.split('=', 2);
    if ((override ?? self[key]) !== ep[key]) return keys.length - j;
  }
  return 0;
}

const localityKey = (l: Locality | undefined) => `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.subzone ?? ''}`;

interface Group {
  endpoints: Set<Endpoint>;
  weight: number;
}
interface Level {
  members: Set<Endpoint>;
  /** Localities with weights (distribute); undefined = one pool. */
  groups: Group[] | undefined;
}

/** Which endpoints may serve a request, given the client; built once per endpoint set. */
export class LocalityPlan {
  private readonly levels: Level[];

  constructor(endpoints: readonly Endpoint[], client: Client, policy: LocalityPolicy) {
    const self = client.locality ?? {};
    const rule = policy.distribute?.find((d) => localityMatch(self, d.from));
    if (policy.distribute) {
      this.levels = rule
        ? [weighted(endpoints, rule.to)]
        : [{ members: new Set(endpoints), groups: undefined }];
      return;
    }
    const fp = policy.failoverPriority ?? [];
    // Istio applies failoverPriority only with client labels, and region failover with it only when
    // `failover` is also set.
    const useLabels = fp.length > 0 && Object.keys(client.labels).length > 0;
    const useLocality = fp.length === 0 || policy.failover.length > 0;
    const byPriority = new Map<number, Set<Endpoint>>();
    for (const ep of endpoints) {
      const p =
        (useLabels ? labelPriority(client.labels, ep.labels, fp) * 5 : 0) +
        (useLocality ? localityPriority(self, ep.locality ?? {}, policy.failover) : 0);
      const set = byPriority.get(p) ?? new Set<Endpoint>();
      set.add(ep);
      byPriority.set(p, set);
    }
    // Istio turns on Envoy's locality-weighted balancing here too, each locality weighing its endpoint
    // count: within a priority, a locality with endpoints down gets less than its share.
    this.levels = [...byPriority.keys()].sort((a, b) => a - b).map((p) => byLocality(byPriority.get(p)!));
  }

  /**
   * The endpoints to balance this request over: one priority (and one locality when weighted).
   * `available`: the endpoints that may take traffic now (ready, not ejected). `random` in [0, 1).
   */
  choose(available: readonly Endpoint[], random: () => number = Math.random): Endpoint[] {
    const up = new Set(available);
    const health = this.levels.map((l) => availability(l.members, up));
    const total = health.reduce((a, b) => a + b, 0);
    if (total === 0) return [];
    const norm = Math.min(1, total);
    const r = random();
    let left = 1;
    let acc = 0;
    let chosen = -1;
    for (let i = 0; i < this.levels.length; i++) {
      const load = Math.min(left, health[i]! / norm);
      left -= load;
      acc += load;
      if (health[i]! > 0) chosen = i;
      if (r < acc && health[i]! > 0) break;
    }
    const level = this.levels[chosen]!;
    if (!level.groups) return available.filter((e) => level.members.has(e));
    const weights = level.groups.map((g) => g.weight * availability(g.endpoints, up));
    const sum = weights.reduce((a, b) => a + b, 0);
    if (sum === 0) return [];
    let x = random() * sum;
    let g = level.groups.length - 1;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0 && weights[i]! > 0) {
        g = i;
        break;
      }
    }
    return available.filter((e) => level.groups![g]!.endpoints.has(e));
  }
}

function byLocality(members: Set<Endpoint>): Level {
  const groups = new Map<string, Group>();
  for (const ep of members) {
    const k = localityKey(ep.locality);
    const g = groups.get(k) ?? { endpoints: new Set<Endpoint>(), weight: 0 };
    g.endpoints.add(ep);
    g.weight++;
    groups.set(k, g);
  }
  return { members, groups: groups.size > 1 ? [...groups.values()] : undefined };
}

/** Envoy's availability of a host set: min(1, 1.4 × healthy / all). */
function availability(members: Set<Endpoint>, up: Set<Endpoint>): number {
  if (members.size === 0) return 0;
  let n = 0;
  for (const e of members) if (up.has(e)) n++;
  return Math.min(1, (OVERPROVISIONING * n) / members.size);
}

/**
 * Istio's applyLocalityWeights: a `to` pattern's weight is shared by the localities it matches (those an
 * earlier pattern did not take), in proportion to their endpoint counts, rounded up.
 */
function weighted(endpoints: readonly Endpoint[], to: Array<{ locality: string; weight: number }>): Level {
  const byLocality = new Map<string, Endpoint[]>();
  for (const ep of endpoints) {
    const k = localityKey(ep.locality);
    byLocality.set(k, [...(byLocality.get(k) ?? []), ep]);
  }
  const taken = new Set<string>();
  const groups: Group[] = [];
  for (const t of to) {
    const matched = [...byLocality].filter(
      ([k, eps]) => !taken.has(k) && localityMatch(eps[0]!.locality, t.locality),
    );
    const count = matched.reduce((s, [, eps]) => s + eps.length, 0);
    for (const [k, eps] of matched) {
      taken.add(k);
      groups.push({ endpoints: new Set(eps), weight: Math.ceil((eps.length * t.weight) / count) });
    }
  }
  const members = new Set(groups.flatMap((g) => [...g.endpoints]));
  return { members, groups };
}
