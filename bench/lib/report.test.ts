// The latency verdict: judged on the median round when the setups ran in interleaved rounds, so that one
// noisy window (of either weft or nginx) cannot decide it, and on all requests otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateTargets, median, roundAddedP99, type Results } from './report.js';

const summary = (p99: number) => ({ p50: p99 / 2, p90: p99 * 0.8, p99, max: p99 * 2 });

/** Results with only HTTP/1.1 latency at 16 connections: each setup's pooled p99 and its rounds. */
function results(
  rounds: Record<'direct' | 'nginx' | 'weft', { pooled: number; rounds?: number[] }>,
): Results {
  const latency = Object.entries(rounds).map(([setup, x]) => ({
    setup,
    proto: 'h1',
    connections: 16,
    rate: 1000,
    durationS: 15,
    sent: 15000,
    ok: 15000,
    errors: 0,
    errorKinds: {},
    achievedRps: 1000,
    peakInflight: 4,
    latency: summary(x.pooled),
    fromSchedule: summary(x.pooled),
    sendLag: summary(0.01),
    ...(x.rounds ? { roundP99: x.rounds } : {}),
  }));
  return {
    config: { connections: [16], rate: 1000 },
    latency,
    throughput: [],
    resources: [],
    idle: [],
  } as unknown as Results;
}

test('median', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('round by round, added over the same round of direct', () => {
  const r = results({
    direct: { pooled: 1, rounds: [0.5, 0.6, 0.7] },
    nginx: { pooled: 2, rounds: [1.0, 1.1, 1.2] },
    weft: { pooled: 3, rounds: [1.5, 1.6, 5.0] },
  });
  assert.deepEqual(
    roundAddedP99(r, 'weft', 16)!.map((x) => +x.toFixed(2)),
    [1.0, 1.0, 4.3],
  );
  // Fewer than three rounds: no median worth the name.
  const two = results({
    direct: { pooled: 1, rounds: [0.5, 0.6] },
    nginx: { pooled: 2, rounds: [1, 1] },
    weft: { pooled: 2, rounds: [1, 1] },
  });
  assert.equal(roundAddedP99(two, 'weft', 16), undefined);
});

test('one noisy weft round does not fail the target; a slow weft in most rounds does', () => {
  // Pooled, weft's one bad round dominates (+2.0 against nginx's +0.5); round by round, +0.5 vs nginx +0.5.
  const noisy = results({
    direct: { pooled: 0.5, rounds: [0.5, 0.5, 0.5] },
    nginx: { pooled: 1.0, rounds: [1.0, 1.0, 1.0] },
    weft: { pooled: 2.5, rounds: [1.0, 1.0, 6.0] },
  });
  const [t1] = evaluateTargets(noisy);
  assert.equal(t1!.met, true, JSON.stringify(t1));
  assert.match(t1!.weft, /^\+0\.500 ms \(rounds \+0\.50 \/ \+0\.50 \/ \+5\.50; all requests \+2\.000\)/);
  const slow = results({
    direct: { pooled: 0.5, rounds: [0.5, 0.5, 0.5] },
    nginx: { pooled: 1.0, rounds: [1.0, 1.0, 1.0] },
    weft: { pooled: 1.4, rounds: [1.4, 1.3, 0.9] },
  });
  assert.equal(evaluateTargets(slow)[0]!.met, false);
  // One noisy nginx round does not make weft look good either.
  const nginxNoisy = results({
    direct: { pooled: 0.5, rounds: [0.5, 0.5, 0.5] },
    nginx: { pooled: 3.0, rounds: [1.0, 6.0, 1.0] },
    weft: { pooled: 1.5, rounds: [1.5, 1.5, 1.5] },
  });
  assert.equal(evaluateTargets(nginxNoisy)[0]!.met, false);
});

test('without rounds, all requests decide', () => {
  const r = results({ direct: { pooled: 0.5 }, nginx: { pooled: 1.0 }, weft: { pooled: 1.2 } });
  const [t] = evaluateTargets(r);
  assert.equal(t!.goal, '≤ 1.5 × nginx');
  assert.equal(t!.met, true);
});
