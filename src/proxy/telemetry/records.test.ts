import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RequestCtx } from '../http/context.js';
import type { RouteAction } from '../../model/snapshot.js';
import { routedRecord } from './records.js';

/** The parts of a request context a local reply before cluster selection (a fault abort) leaves. */
function abortedCtx(action: RouteAction): RequestCtx {
  return {
    req: { method: 'GET', headers: {}, httpVersion: '1.1' },
    res: { getHeaders: () => ({}) },
    start: 0,
    authority: 'ratings:9080',
    path: '/ratings/0',
    route: { route: { name: 'VirtualService/default/ratings#http[0]', matches: [], action } },
    status: 500,
    flags: 'FI',
    attempts: 0,
    responseBytes: 18,
  } as unknown as RequestCtx;
}

const forward = (...clusters: string[]): RouteAction => ({
  kind: 'forward',
  clusters: clusters.map((cluster) => ({ cluster, weight: 1 })),
});

test("a fault abort is reported against the route's destination service", () => {
  const r = routedRecord(
    abortedCtx(forward('outbound|9080||ratings.default.svc.cluster.local')),
    'outbound',
    5,
  );
  assert.deepEqual(r.destination, { service: 'ratings.default.svc.cluster.local', port: 9080 });
  assert.equal(r.upstreamCluster, undefined);
  assert.equal(r.flags, 'FI');
});

test('subsets of one service still name it; two services name none', () => {
  const same = routedRecord(
    abortedCtx(
      forward(
        'outbound|9080|v1|reviews.default.svc.cluster.local',
        'outbound|9080|v2|reviews.default.svc.cluster.local',
      ),
    ),
    'outbound',
    5,
  );
  assert.equal(same.destination?.service, 'reviews.default.svc.cluster.local');
  const split = routedRecord(
    abortedCtx(
      forward('outbound|9080||a.default.svc.cluster.local', 'outbound|9080||b.default.svc.cluster.local'),
    ),
    'outbound',
    5,
  );
  assert.equal(split.destination, undefined);
  const direct = routedRecord(abortedCtx({ kind: 'direct', status: 200, body: '' }), 'gateway', 5);
  assert.equal(direct.destination, undefined);
});
