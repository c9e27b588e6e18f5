// MeshConfig extensionProviders[].envoyExtAuthzGrpc: Istio's fields are read (and reach the compiled
// provider), and mistakes are reported at their field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type Resource } from '../types.js';
import { MeshIndex } from '../compile/inputs.js';
import { extAuthzProviders } from '../compile/security.js';

const mesh = (provider: string) => `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: default }
spec:
  extensionProviders:
  - name: grpc-authz
    envoyExtAuthzGrpc: ${provider}`;

function load(yaml: string): { resources: Resource[]; problems: string[] } {
  const { resources, problems } = parseDocuments(yaml, 'mesh.yaml');
  return { resources, problems: problems.map(formatProblem) };
}

test('envoyExtAuthzGrpc: every Istio field is accepted and compiled into a gRPC provider', () => {
  const { resources, problems } = load(
    mesh(`{ service: authz.foo.svc.cluster.local, port: 9000, timeout: 2s, failOpen: true, statusOnError: "503",
      clearRouteCache: true, includeRequestBodyInCheck: { maxRequestBytes: 4096, allowPartialMessage: true, packAsBytes: true } }`),
  );
  assert.deepEqual(problems, []);
  const index = new MeshIndex(resources, [], { trustDomain: 'cluster.local', domain: 'cluster.local' });
  const [p] = extAuthzProviders(index, [
    { name: 'foo/a', action: 'CUSTOM', rules: [], provider: 'grpc-authz' },
  ]);
  assert.ok(p);
  assert.equal(p.grpc, true);
  assert.deepEqual(
    [p.host, p.port, p.timeoutMs, p.failOpen, p.statusOnError],
    ['authz.foo.svc.cluster.local', 9000, 2000, true, 503],
  );
  assert.deepEqual(p.includeRequestBody, {
    maxRequestBytes: 4096,
    allowPartialMessage: true,
    packAsBytes: true,
  });
});

test('envoyExtAuthzGrpc: mistakes are reported at their field', () => {
  const cases: Array<[string, RegExp]> = [
    ['{ port: 9000 }', /envoyExtAuthzGrpc\.service/],
    ['{ service: "bad host!", port: 9000 }', /envoyExtAuthzGrpc\.service: invalid host/],
    ['{ service: authz, port: 0 }', /envoyExtAuthzGrpc\.port/],
    ['{ service: authz, port: 9000, statusOnError: 503 }', /statusOnError: write the status as a string/],
    ['{ service: authz, port: 9000, pathPrefix: /check }', /envoyExtAuthzGrpc\.pathPrefix: unknown field/],
    ['{ service: authz, port: 9000, timeout: soon }', /envoyExtAuthzGrpc\.timeout/],
  ];
  for (const [provider, want] of cases) {
    const { problems } = load(mesh(provider));
    assert.ok(
      problems.some((p) => want.test(p)),
      `${provider}: want ${want}\ngot:\n${problems.join('\n')}`,
    );
  }
});
