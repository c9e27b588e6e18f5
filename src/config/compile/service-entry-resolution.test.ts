// ServiceEntry resolution -> how the proxy finds addresses (cluster `dns` / `dynamicHost`), wildcard
// hosts in clusters and virtual hosts, and what the schema refuses (Istio's webhook rules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem } from '../types.js';
import { MeshIndex } from './inputs.js';
import { buildClusters } from './clusters.js';
import { sidecarVirtualHosts } from './virtual-hosts.js';

const entry = (hosts: string, resolution: string, extra = '') => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: e, namespace: default}
spec:
  hosts: ${hosts}
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 8443, name: tls, protocol: TLS}]
  resolution: ${resolution}
  ${extra}
`;

function index(yaml: string): MeshIndex {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return new MeshIndex(resources, []);
}

const problems = (yaml: string) => parseDocuments(yaml, 'inline.yaml').problems.map(formatProblem).join('\n');

test('resolution picks how the proxy finds addresses', () => {
  const cluster = (yaml: string, name: string) => buildClusters(index(yaml)).find((c) => c.name === name)!;
  const strict = cluster(entry('[api.example.com]', 'DNS'), 'outbound|80||api.example.com');
  assert.equal(strict.dns, 'STRICT');
  assert.deepEqual(
    strict.endpoints.map((e) => e.address),
    ['api.example.com'],
  );
  const logical = cluster(
    entry('[api.example.com]', 'DNS_ROUND_ROBIN', 'endpoints: [{address: lb.example.com}]'),
    'outbound|80||api.example.com',
  );
  assert.equal(logical.dns, 'LOGICAL');
  assert.deepEqual(
    logical.endpoints.map((e) => e.address),
    ['lb.example.com'],
  );
  const wild = cluster(entry('["*.example.com"]', 'NONE'), 'outbound|8443||*.example.com');
  assert.equal(wild.dynamicHost, true);
  assert.equal(wild.endpoints[0]?.port, 8443);
  const dyn = cluster(entry('["*.example.com"]', 'DYNAMIC_DNS'), 'outbound|80||*.example.com');
  assert.equal(dyn.dynamicHost, true);
  // A wildcard host with endpoints goes to those endpoints.
  const wildStatic = cluster(
    entry('["*.example.com"]', 'STATIC', 'endpoints: [{address: 10.0.0.1}]'),
    'outbound|80||*.example.com',
  );
  assert.equal(wildStatic.dynamicHost, undefined);
  assert.equal(wildStatic.dns, undefined);
  assert.equal(
    cluster(entry('[api.example.com]', 'NONE'), 'outbound|80||api.example.com').dynamicHost,
    undefined,
  );
});

test('a wildcard host gets virtual host domains with and without the port', () => {
  const vhs = sidecarVirtualHosts(index(entry('["*.example.com"]', 'NONE')), 'default', {});
  assert.deepEqual(
    vhs.filter((v) => v.name.startsWith('*.example.com')).map((v) => v.domains),
    [['*.example.com:80', '*.example.com'], ['*.example.com:8443']],
  );
});

test('the schema refuses what Istio refuses', () => {
  assert.match(problems(entry('["*.example.com"]', 'DNS')), /hosts must be FQDN if no endpoints/);
  assert.equal(problems(entry('["*.example.com"]', 'DNS', 'endpoints: [{address: lb.example.com}]')), '');
  assert.match(
    problems(entry('["*.example.com"]', 'DYNAMIC_DNS', 'endpoints: [{address: 10.0.0.1}]')),
    /DYNAMIC_DNS mode cannot set endpoints/,
  );
});
