import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionPool } from './cluster-policies.js';

test('connectionPool: Istio fields to the cluster policy, durations in ms, tcp.idleTimeout 0s kept', () => {
  assert.deepEqual(
    connectionPool([
      {
        connectionPool: {
          tcp: {
            maxConnections: 10,
            connectTimeout: '250ms',
            idleTimeout: '30s',
            maxConnectionDuration: '1h',
          },
          http: {
            http1MaxPendingRequests: 5,
            maxRequestsPerConnection: 2,
            maxConcurrentStreams: 50,
            idleTimeout: '1m',
          },
        },
      },
    ]),
    {
      maxConnections: 10,
      connectTimeoutMs: 250,
      maxPendingRequests: 5,
      maxRequestsPerConnection: 2,
      maxConcurrentStreams: 50,
      idleTimeoutMs: 60_000,
      maxConnectionDurationMs: 3_600_000,
      tcpIdleTimeoutMs: 30_000,
    },
  );
  assert.deepEqual(connectionPool([{ connectionPool: { tcp: { idleTimeout: '0s' } } }]), {
    tcpIdleTimeoutMs: 0,
  });
  assert.equal(connectionPool([{}]), undefined);
});
