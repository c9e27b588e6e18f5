import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryPolicy } from '../../model/snapshot.js';
import { backoffMs, isRetriable, type AttemptOutcome } from './retry.js';

const policy = (retryOn: string[], more: Partial<RetryPolicy> = {}): RetryPolicy => ({
  attempts: 2,
  retryOn,
  retriableStatusCodes: [],
  nonIdempotent: false,
  backoffBaseMs: 25,
  backoffMaxMs: 250,
  ...more,
});
const answer = (status: number, grpcStatus?: number): AttemptOutcome =>
  grpcStatus === undefined ? { kind: 'response', status } : { kind: 'response', status, grpcStatus };

test('answers: each retryOn condition takes its own statuses and no others', () => {
  const cases: Array<[string[], number, boolean]> = [
    [['5xx'], 500, true],
    [['5xx'], 503, true],
    [['5xx'], 499, false],
    [['5xx'], 200, false],
    [['gateway-error'], 502, true],
    [['gateway-error'], 503, true],
    [['gateway-error'], 504, true],
    [['gateway-error'], 500, false],
    [['retriable-4xx'], 409, true],
    [['retriable-4xx'], 404, false],
    [['retriable-4xx'], 500, false],
    [['connect-failure', 'reset'], 503, false],
    [[], 503, false],
  ];
  for (const [on, status, want] of cases)
    assert.equal(isRetriable(policy(on), answer(status), 'GET'), want, `${on.join(',')} ${status}`);
});

test('retriable-status-codes: the listed statuses, whatever their class, only with the condition', () => {
  const p = policy(['retriable-status-codes'], { retriableStatusCodes: [418, 503, 200] });
  assert.equal(isRetriable(p, answer(418), 'GET'), true);
  assert.equal(isRetriable(p, answer(503), 'GET'), true);
  assert.equal(isRetriable(p, answer(200), 'GET'), true);
  assert.equal(isRetriable(p, answer(500), 'GET'), false);
  const without = policy(['5xx'], { retriableStatusCodes: [418] });
  assert.equal(isRetriable(without, answer(418), 'GET'), false, 'codes listed, condition not named');
});

test('gRPC conditions by grpc-status, on any HTTP status', () => {
  const p = policy(['unavailable', 'cancelled']);
  assert.equal(isRetriable(p, answer(200, 14), 'POST'), false, 'POST is not idempotent');
  const post = policy(['unavailable', 'cancelled'], { nonIdempotent: true });
  assert.equal(isRetriable(post, answer(200, 14), 'POST'), true);
  assert.equal(isRetriable(post, answer(200, 1), 'POST'), true);
  assert.equal(isRetriable(post, answer(200, 13), 'POST'), false, 'internal not named');
  assert.equal(isRetriable(post, answer(200), 'POST'), false);
});

test('failures before an answer, and methods that may not be replayed', () => {
  const p = policy(['connect-failure']);
  assert.equal(isRetriable(p, { kind: 'connect-failure' }, 'POST'), true, 'nothing was sent: any method');
  assert.equal(isRetriable(p, { kind: 'reset' }, 'GET'), false);
  assert.equal(isRetriable(policy(['reset']), { kind: 'reset' }, 'GET'), true);
  assert.equal(isRetriable(policy(['reset']), { kind: 'reset' }, 'POST'), false);
  assert.equal(isRetriable(policy(['5xx']), { kind: 'timeout' }, 'GET'), true);
  assert.equal(isRetriable(policy(['gateway-error']), { kind: 'reset' }, 'PUT'), true);
  assert.equal(isRetriable(policy(['5xx']), answer(503), 'PATCH'), false);
});

test('backoff: fully jittered, capped', () => {
  const p = policy(['5xx']);
  assert.equal(
    backoffMs(p, 0, () => 0.5),
    12,
  );
  assert.equal(
    backoffMs(p, 3, () => 0.999),
    199,
  );
  assert.equal(
    backoffMs(p, 10, () => 0.999),
    249,
  );
});
