import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from './load.js';
import { analyze } from './analyze.js';

const sidecar = (name: string, selector?: Record<string, string>) => `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}}
spec:${selector ? `\n  workloadSelector: {labels: ${JSON.stringify(selector)}}` : ''}
  egress: [{hosts: ["./*"]}]
---`;
const workload = (name: string) => `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}, labels: {app: ${name}, tier: web}}
spec: {serviceAccount: ${name}}
---`;

function sidecarFindings(yaml: string): string[] {
  const { resources, problems } = parseDocuments(yaml, 'mesh.yaml');
  assert.deepEqual(problems, []);
  return analyze(resources)
    .filter((p) => p.kind === 'Sidecar')
    .map((p) => `${p.severity} ${p.name} line ${p.line}: ${p.message}`);
}

test('Sidecar analyzers: IST0110, IST0111 and a selector that matches nothing', () => {
  assert.deepEqual(sidecarFindings(workload('a') + sidecar('ns-wide') + sidecar('for-a', { app: 'a' })), []);
  const twoWide = sidecarFindings(workload('a') + sidecar('one') + sidecar('two'));
  assert.equal(twoWide.length, 2);
  assert.match(twoWide[0]!, /^error default\/one line \d+: .*2 Sidecars without a workloadSelector.*IST0110/);
  const conflict = sidecarFindings(
    workload('a') + workload('b') + sidecar('by-app', { app: 'a' }) + sidecar('by-tier', { tier: 'web' }),
  );
  assert.equal(conflict.length, 2, conflict.join('\n'));
  assert.match(conflict.join('\n'), /select the same workload "a".*IST0111/);
  const nothing = sidecarFindings(workload('a') + sidecar('ghost', { app: 'ghost' }));
  assert.deepEqual(nothing.length, 1);
  assert.match(
    nothing[0]!,
    /^warning default\/ghost line \d+: workloadSelector \{"app":"ghost"\} matches no Workload/,
  );
});
