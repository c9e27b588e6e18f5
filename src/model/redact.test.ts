import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactSnapshot, REDACTED } from './redact.js';
import { openSecurity } from './security.js';
import type { ProxySnapshot } from './snapshot.js';

const base = (): ProxySnapshot => ({
  version: 'v1',
  proxy: {
    id: 'gw-0.istio-system',
    workload: 'gw',
    namespace: 'istio-system',
    serviceAccount: 'gw',
    spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/gw',
    labels: {},
    kind: 'gateway',
  },
  trustDomain: 'cluster.local',
  outbound: { virtualHosts: [] },
  inbound: { routes: [], containerPorts: [] },
  gateways: [],
  clusters: [],
  security: openSecurity(),
});

test('private keys never leave the proxy in diagnostics; everything else is kept', () => {
  const s = base();
  assert.equal(redactSnapshot(s), s, 'nothing to hide: the same object');
  const withKeys = {
    ...s,
    gateways: [
      {
        name: 'gw',
        bind: '127.0.0.1',
        port: 443,
        virtualHosts: [],
        tls: { servers: [{ privateKey: { pem: 'SECRET-A' }, certificate: { pem: 'CERT' } }] },
      },
    ],
    clusters: [
      {
        name: 'outbound|443||api.example.test',
        service: 'api.example.test',
        port: 443,
        lbPolicy: 'ROUND_ROBIN',
        sni: '',
        protocol: 'http',
        endpoints: [],
        originateTls: { mode: 'MUTUAL', sni: 'api.example.test', privateKey: { pem: 'SECRET-B' } },
      },
    ],
  } as unknown as ProxySnapshot;
  const out = JSON.stringify(redactSnapshot(withKeys));
  assert.doesNotMatch(out, /SECRET-/);
  assert.equal(out.split(REDACTED).length - 1, 2);
  assert.match(out, /"CERT"/);
  assert.match(JSON.stringify(withKeys), /SECRET-A/, 'the snapshot itself is not modified');
});

test('the keys of further certificates on a gateway server are hidden too', () => {
  const s = {
    ...base(),
    gateways: [
      {
        name: 'gw',
        bind: '127.0.0.1',
        port: 443,
        virtualHosts: [],
        tls: {
          servers: [
            {
              name: 'a',
              sniHosts: [],
              mode: 'SIMPLE',
              certificate: { pem: 'CERT-1' },
              privateKey: { pem: 'SECRET-1' },
              moreCertificates: [
                { certificate: { pem: 'CERT-2' }, privateKey: { pem: 'SECRET-2' } },
                { certificate: { file: '/c/3.crt' }, privateKey: { file: '/c/3.key' } },
              ],
            },
          ],
        },
      },
    ],
  } as ProxySnapshot;
  const out = JSON.stringify(redactSnapshot(s));
  assert.doesNotMatch(out, /SECRET-/);
  assert.match(out, /CERT-2/);
  assert.match(out, /\/c\/3\.key/, 'file paths are not secret');
});
