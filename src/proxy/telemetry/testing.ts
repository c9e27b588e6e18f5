// Test helpers: a sample proxy identity and request record, and run `promtool check metrics` (Debian package `prometheus`) on an exposition. promtool
// exits 1 on a parse error and 3 on lint findings; Istio's own names break two lint rules on purpose
// (milliseconds instead of seconds, counters without `_total` on the control plane), so the caller
// lists the findings it accepts and anything else fails.
import { spawnSync } from 'node:child_process';
import type { ProxyIdentity } from '../../model/snapshot.js';
import type { RequestRecord } from './events.js';

export const PROMTOOL_MISSING =
  'promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it)';

export function hasPromtool(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface PromtoolResult {
  ok: boolean;
  problems: string[];
  output: string;
}

export function promtoolCheck(text: string, accepted: RegExp[] = []): PromtoolResult {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (r.status === 0) return { ok: true, problems: [], output };
  if (r.status !== 3) return { ok: false, problems: lines.length ? lines : [`exit ${r.status}`], output };
  const problems = lines.filter((l) => !accepted.some((re) => re.test(l)));
  return { ok: problems.length === 0, problems, output };
}

/** Istio's duration histogram is in milliseconds by design; promtool would like seconds. */
export const ISTIO_UNIT_LINT = /^istio_request_duration_milliseconds use base unit "seconds"/;

export const PRODUCTPAGE: ProxyIdentity = {
  id: 'productpage-v1-0.default',
  workload: 'productpage-v1',
  namespace: 'default',
  serviceAccount: 'bookinfo-productpage',
  spiffeId: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
  labels: { app: 'productpage', version: 'v1' },
  kind: 'sidecar',
};

export function record(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    reporter: 'source',
    listener: 'outbound',
    startTime: 0,
    durationMs: 3,
    method: 'GET',
    path: '/reviews/0',
    authority: 'reviews:9080',
    protocol: 'http',
    httpVersion: '1.1',
    status: 200,
    flags: '',
    requestBytes: 0,
    responseBytes: 120,
    requestHeaders: {},
    upstreamCluster: 'outbound|9080|v2|reviews.default.svc.cluster.local',
    attempts: 1,
    destination: {
      service: 'reviews.default.svc.cluster.local',
      port: 9080,
      subset: 'v2',
      identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
      instance: 'reviews-v2-0.default',
      labels: { app: 'reviews', version: 'v2' },
    },
    ...over,
  };
}

/** `a="x",b="y"` back to an object (values here contain no escaped quotes). */
export function parseLabels(s: string): Record<string, string> {
  return Object.fromEntries([...s.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}
