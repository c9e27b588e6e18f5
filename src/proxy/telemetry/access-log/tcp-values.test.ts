// TCP access log values that need the connection as it was: the downstream TLS session (kept by the
// socket snapshot, as a closed TLS socket no longer knows it) and why the proxy closed it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { testCa, testLeaf } from '../../listeners/gateway-testing.js';
import { rbacTerminationDetails, socketAddresses, type TcpRecord } from '../events.js';
import { compileText, ISTIO_DEFAULT_TEXT_FORMAT } from './format.js';
import { tcpRequestRecord as tcpLogRecord } from '../records.js';
import { downstreamTlsVersion } from './values.js';

/** A TLS socket as node:tls has it, while open. */
const tlsSocket = () => ({
  remoteAddress: '::ffff:127.0.0.1',
  remotePort: 41000,
  localAddress: '127.0.0.1',
  localPort: 15006,
  encrypted: true,
  getProtocol: () => 'TLSv1.3',
  getCipher: () => ({
    name: 'TLS_AES_256_GCM_SHA384',
    standardName: 'TLS_AES_256_GCM_SHA384',
    version: 'TLSv1.3',
  }),
});

const denied = (over: Partial<NonNullable<TcpRecord['log']>> = {}): TcpRecord => ({
  reporter: 'destination',
  event: 'close',
  sentBytes: 0,
  receivedBytes: 0,
  flags: 'RBAC',
  peerIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
  log: {
    listener: 'inbound',
    startTime: Date.parse('2021-02-01T10:00:00.123Z'),
    durationMs: 0.4,
    downstream: socketAddresses(tlsSocket()),
    ...over,
  },
});

test('the socket snapshot keeps the TLS version and cipher; a plain socket has none', () => {
  assert.deepEqual(socketAddresses(tlsSocket()).tls, {
    version: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
  });
  assert.equal(socketAddresses({ remoteAddress: '127.0.0.1', remotePort: 1 }).tls, undefined);
});

test('DOWNSTREAM_TLS_VERSION, DOWNSTREAM_TLS_CIPHER and CONNECTION_TERMINATION_DETAILS on a TCP line', () => {
  const f = compileText('%DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_TLS_CIPHER% %CONNECTION_TERMINATION_DETAILS%');
  const details = 'rbac_access_denied_matched_policy[ns[default]-policy[deny-sleep]-rule[1]]';
  assert.equal(
    f(tcpLogRecord(denied({ terminationDetails: details }))),
    `TLSv1.3 TLS_AES_256_GCM_SHA384 ${details}`,
  );
  const plain = denied({ downstream: { remoteAddress: '127.0.0.1', remotePort: 1 } });
  assert.equal(f(tcpLogRecord(plain)), '- - -');
  // Istio's default format prints the details after the response code details.
  assert.match(
    compileText(ISTIO_DEFAULT_TEXT_FORMAT)(tcpLogRecord(denied({ terminationDetails: details }))),
    /" 0 RBAC - rbac_access_denied_matched_policy\[ns\[default\]-policy\[deny-sleep\]-rule\[1\]\] "-" /,
  );
});

test("Envoy's network RBAC details: the matched DENY rule as Istio names it, or none", () => {
  assert.equal(
    rbacTerminationDetails({
      policy: 'default/deny-sleep',
      reason: 'denied by DENY policy default/deny-sleep rule 2: source.principal matched',
    }),
    'rbac_access_denied_matched_policy[ns[default]-policy[deny-sleep]-rule[2]]',
  );
  assert.equal(
    rbacTerminationDetails({ policy: 'foo/bar', ruleIndex: 0, reason: 'whatever' }),
    'rbac_access_denied_matched_policy[ns[foo]-policy[bar]-rule[0]]',
  );
  // No ALLOW policy matched: Envoy names no policy.
  assert.equal(
    rbacTerminationDetails({ reason: 'no ALLOW policy matched (policies: default/allow-client)' }),
    'rbac_access_denied_matched_policy[none]',
  );
});

test('a real TLS connection: the snapshot taken when it opens still knows its TLS once the socket closed', async () => {
  const ca = await testCa();
  const leaf = await testLeaf(ca, { cn: 'gw.example', dns: ['gw.example'] });
  const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem });
  const opened = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const client = tls.connect({
    port,
    host: '127.0.0.1',
    servername: 'gw.example',
    ca: ca.certPem,
    maxVersion: 'TLSv1.2',
  });
  const [socket] = await opened;
  const snapshot = socketAddresses(socket);
  client.destroy();
  socket.destroy();
  await once(socket, 'close');
  server.close();
  const stream = (downstream: typeof snapshot) =>
    tcpLogRecord({ ...denied(), flags: '', log: { ...denied().log!, downstream } });
  assert.equal(downstreamTlsVersion(stream(snapshot)), 'TLSv1.2');
  assert.match(compileText('%DOWNSTREAM_TLS_CIPHER%')(stream(snapshot)), /^ECDHE-ECDSA-AES\d+-GCM-SHA\d+$/);
  // The closed socket itself no longer says (why TCP streams keep the snapshot).
  assert.equal(downstreamTlsVersion(stream(socket)), undefined);
});
