import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint, Locality, LocalityPolicy } from '../../../model/snapshot.js';
import { LocalityPlan, localityMatch } from './locality.js';

const ep = (instance: string, loc: string, labels: Record<string, string> = {}): Endpoint => {
  const [region, zone, subzone] = loc.split('/');
  const locality: Locality = {
    ...(region ? { region } : {}),
    ...(zone ? { zone } : {}),
    ...(subzone ? { subzone } : {}),
  };
  return { address: '127.0.0.1', port: 1, identity: '', instance, labels, healthy: true, locality };
};

const client = (loc: string, labels: Record<string, string> = {}) => {
  const [region, zone] = loc.split('/');
  return { locality: { region: region!, zone: zone! }, labels };
};

/** Share of picks per instance over a uniform sweep of the random number (deterministic). */
function shares(plan: LocalityPlan, available: Endpoint[], n = 10_000): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const x = (i + 0.5) / n;
    const eps = plan.choose(available, () => x);
    // Within the chosen set, count each member equally (the cluster's balancer spreads over them).
    for (const e of eps) counts.set(e.instance, (counts.get(e.instance) ?? 0) + 1 / eps.length / n);
  }
  return counts;
}

const near = (a: number | undefined, b: number, tol = 0.01) =>
  assert.ok(Math.abs((a ?? 0) - b) <= tol, `expected ~${b}, got ${a}`);

test('localityMatch: region, zone and subzone with "*" and missing parts', () => {
  const l = { region: 'us-west', zone: 'zone1', subzone: 'a' };
  assert.ok(localityMatch(l, 'us-west/zone1/*'));
  assert.ok(localityMatch(l, 'us-west/*'));
  assert.ok(localityMatch(l, 'us-west'));
  assert.ok(localityMatch(l, '*'));
  assert.ok(!localityMatch(l, 'us-west/zone2/*'));
  assert.ok(!localityMatch(l, 'us-east/*'));
  assert.ok(!localityMatch(undefined, 'us-west/*'));
});

test('failover: the client zone takes all traffic while it is healthy, then the region, then failover region', () => {
  const eps = [ep('z1', 'r1/z1'), ep('z2', 'r1/z2'), ep('r2', 'r2/z9'), ep('r3', 'r3/z9')];
  const policy: LocalityPolicy = { failover: [{ from: 'r1', to: 'r3' }] };
  const plan = new LocalityPlan(eps, client('r1/z1'), policy);
  assert.deepEqual([...shares(plan, eps).keys()], ['z1']);
  assert.deepEqual([...shares(plan, eps.slice(1)).keys()], ['z2']);
  // r3 is the failover region of r1: it comes before r2.
  assert.deepEqual([...shares(plan, [eps[2]!, eps[3]!]).keys()], ['r3']);
  assert.deepEqual([...shares(plan, [eps[2]!]).keys()], ['r2']);
  assert.deepEqual(
    plan.choose([], () => 0),
    [],
  );
});

test('failover: a partly healthy zone keeps 1.4 x its healthy share, the rest spills (Envoy overprovisioning)', () => {
  const eps = [ep('a', 'r1/z1'), ep('b', 'r1/z1'), ep('c', 'r1/z2')];
  const plan = new LocalityPlan(eps, client('r1/z1'), { failover: [] });
  const s = shares(plan, [eps[0]!, eps[2]!]); // b is down: z1 is 50 % healthy
  near(s.get('a'), 0.7);
  near(s.get('c'), 0.3);
});

test('failover: localities of one priority weigh their endpoint counts x availability', () => {
  // r2 and r3 are both "other regions" (priority 3) for a client in r1.
  const eps = [ep('r2a', 'r2/z1'), ep('r2b', 'r2/z1'), ep('r3a', 'r3/z1'), ep('r3b', 'r3/z1')];
  const plan = new LocalityPlan(eps, client('r1/z1'), { failover: [] });
  const s = shares(plan, [eps[0]!, eps[2]!, eps[3]!]); // r2b is down
  const r2 = 2 * Math.min(1, 1.4 / 2);
  near(s.get('r2a'), r2 / (r2 + 2));
  near((s.get('r3a') ?? 0) + (s.get('r3b') ?? 0), 2 / (r2 + 2));
});

test('failoverPriority: endpoints sharing a longer prefix of the labels come first; key=value overrides', () => {
  const labels = { network: 'n1', tier: 'gold' };
  const eps = [
    ep('both', 'r9/z9', { network: 'n1', tier: 'gold' }),
    ep('net', 'r9/z9', { network: 'n1', tier: 'silver' }),
    ep('none', 'r9/z9', { network: 'n2', tier: 'gold' }),
  ];
  const plan = new LocalityPlan(eps, client('r1/z1', labels), {
    failover: [],
    failoverPriority: ['network', 'tier'],
  });
  assert.deepEqual([...shares(plan, eps).keys()], ['both']);
  assert.deepEqual([...shares(plan, eps.slice(1)).keys()], ['net']);
  assert.deepEqual([...shares(plan, eps.slice(2)).keys()], ['none']);
  const override = new LocalityPlan(eps, client('r1/z1', labels), {
    failover: [],
    failoverPriority: ['network=n2'],
  });
  assert.deepEqual([...shares(override, eps).keys()], ['none']);
});

test('failoverPriority with failover: labels first, locality within each label priority', () => {
  const labels = { network: 'n1' };
  const eps = [
    ep('n1-far', 'r2/z1', { network: 'n1' }),
    ep('n1-near', 'r1/z1', { network: 'n1' }),
    ep('n2-near', 'r1/z1', { network: 'n2' }),
  ];
  const plan = new LocalityPlan(eps, client('r1/z1', labels), {
    failover: [{ from: 'r1', to: 'r2' }],
    failoverPriority: ['network'],
  });
  assert.deepEqual([...shares(plan, eps).keys()], ['n1-near']);
  assert.deepEqual([...shares(plan, [eps[0]!, eps[2]!]).keys()], ['n1-far']);
});

test('distribute: weights by locality from the first matching `from`; unnamed localities get nothing', () => {
  const eps = [
    ep('z1a', 'r1/z1'),
    ep('z1b', 'r1/z1'),
    ep('z2', 'r1/z2'),
    ep('z3', 'r1/z3'),
    ep('x', 'r2/z1'),
  ];
  const policy: LocalityPolicy = {
    failover: [],
    distribute: [
      { from: 'r2/*', to: [{ locality: 'r2/*', weight: 100 }] },
      {
        from: 'r1/z1/*',
        to: [
          { locality: 'r1/z1/*', weight: 80 },
          { locality: 'r1/z2/*', weight: 20 },
        ],
      },
    ],
  };
  const s = shares(new LocalityPlan(eps, client('r1/z1'), policy), eps);
  near((s.get('z1a') ?? 0) + (s.get('z1b') ?? 0), 0.8);
  near(s.get('z2'), 0.2);
  assert.equal(s.get('z3'), undefined);
  assert.equal(s.get('x'), undefined);
  // A locality with a third of its endpoints healthy gets 1.4/3 of its weight.
  const down = shares(new LocalityPlan(eps, client('r1/z1'), policy), [eps[0]!, eps[2]!]);
  const w1 = 80 * Math.min(1, 1.4 / 2);
  near(down.get('z1a'), w1 / (w1 + 20));
});

test('distribute: one pattern matching several localities shares its weight by endpoint count', () => {
  const eps = [ep('a1', 'r1/z1'), ep('a2', 'r1/z1'), ep('b', 'r1/z2'), ep('c', 'r2/z1')];
  const plan = new LocalityPlan(eps, client('r2/z1'), {
    failover: [],
    distribute: [
      {
        from: '*',
        to: [
          { locality: 'r1/*', weight: 60 },
          { locality: 'r2/*', weight: 40 },
        ],
      },
    ],
  });
  const s = shares(plan, eps);
  near((s.get('a1') ?? 0) + (s.get('a2') ?? 0), 0.4);
  near(s.get('b'), 0.2);
  near(s.get('c'), 0.4);
});

test('distribute: no `from` matching the client leaves balancing over every endpoint', () => {
  const eps = [ep('a', 'r1/z1'), ep('b', 'r2/z1')];
  const plan = new LocalityPlan(eps, client('r3/z1'), {
    failover: [],
    distribute: [{ from: 'r1/*', to: [{ locality: 'r1/*', weight: 100 }] }],
  });
  assert.deepEqual(
    plan.choose(eps, () => 0.5),
    eps,
  );
});
