import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InboundRoute } from '../../model/snapshot.js';
import type { ProxyState } from '../state.js';
import { inboundRoute } from './inbound-conn.js';

// The fields inboundRoute reads, as ProxyState builds them from a snapshot's inbound routes.
function stateOf(routes: InboundRoute[]): ProxyState {
  return {
    inbound: new Map(routes.map((r) => [`${r.service}:${r.port}`, r])),
    inboundAnswers: { bySni: new Map(), byAuthority: new Map() },
    snapshot: { inbound: { routes } },
  } as unknown as ProxyState;
}

const web: InboundRoute = {
  service: 'web.default.svc.cluster.local',
  port: 80,
  targetPort: 8080,
  protocol: 'http',
};
const api: InboundRoute = {
  service: 'api.default.svc.cluster.local',
  port: 9000,
  targetPort: 9090,
  protocol: 'grpc',
};

test('inbound route by SNI, by authority, or the only port; answers follow a new snapshot', () => {
  const two = stateOf([web, api]);
  const sni = (r: InboundRoute) => `outbound_.${r.port}_._.${r.service}`;
  for (let i = 0; i < 2; i++) {
    // Twice: the second time from the cache, with the same answers.
    assert.equal(inboundRoute(two, sni(web), undefined), web);
    assert.equal(inboundRoute(two, sni(api), 'web:80'), api, 'the SNI decides over the Host header');
    assert.equal(inboundRoute(two, 'outbound_.81_._.web.default.svc.cluster.local', undefined), undefined);
    assert.equal(inboundRoute(two, 'www.example.com', 'api:9000'), api, 'not a cluster SNI: the authority');
    assert.equal(inboundRoute(two, '', 'web.default:80'), web);
    assert.equal(inboundRoute(two, '', '127.0.0.1:9090'), api, 'by target port');
    assert.equal(inboundRoute(two, '', undefined), undefined, 'two ports, nothing named');
  }
  const one = stateOf([web]);
  assert.equal(inboundRoute(one, '', undefined), web, 'the only port');
  assert.equal(inboundRoute(one, sni(api), undefined), undefined, 'a route the new snapshot no longer has');
  assert.equal(inboundRoute(two, sni(api), undefined), api);
  assert.equal(inboundRoute(undefined, sni(web), undefined), undefined);
});

test('the cache stays bounded whatever authorities clients send', () => {
  const s = stateOf([web, api]);
  for (let i = 0; i < 5000; i++) assert.equal(inboundRoute(s, '', `host-${i}:80`), web);
  assert.equal(inboundRoute(s, '', 'api:9000'), api);
});
