// Istio's own analyzer test data (fixtures istio-validation/analyzers, expected.json): for every case,
// `weft analyze` must report exactly the findings Istio's analyzer does, one per message, no more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { analyze } from './analyze.js';
import { kubeObjects, loadKubeObjects } from './analyze-kube.js';
import { parseDocuments } from './load.js';
import { fixture } from './testing.js';
import { KINDS, type Kind, type Resource } from './types.js';

const dir = fixture('istio-validation/analyzers');

/** For each Istio analyzer, the Weft code that stands for each message type it reports. */
const ANALYZERS: Record<string, Record<string, string>> = {
  'virtualservice.DestinationHostAnalyzer': {
    ReferencedResourceNotFound: 'WEFT_ERR_ANALYZE_UNKNOWN_HOST',
    VirtualServiceDestinationPortSelectorRequired: 'WEFT_ERR_ANALYZE_PORT_REQUIRED',
  },
  'virtualservice.DestinationRuleAnalyzer': { ReferencedResourceNotFound: 'WEFT_ERR_ANALYZE_UNKNOWN_SUBSET' },
  'virtualservice.GatewayAnalyzer': {
    ReferencedResourceNotFound: 'WEFT_ERR_ANALYZE_UNKNOWN_GATEWAY',
    VirtualServiceHostNotFoundInGateway: 'WEFT_ERR_ANALYZE_HOST_NOT_IN_GATEWAY',
  },
  'schema validation (VirtualService)': {
    VirtualServiceUnreachableRule: 'WEFT_ERR_ANALYZE_UNREACHABLE_RULE',
    VirtualServiceIneffectiveMatch: 'WEFT_ERR_ANALYZE_INEFFECTIVE_MATCH',
  },
  'gateway.ConflictingGatewayAnalyzer': { ConflictingGateways: 'WEFT_ERR_ANALYZE_GATEWAY_CONFLICT' },
  'authz.AuthorizationPoliciesAnalyzer': {
    NoMatchingWorkloadsFound: 'WEFT_ERR_ANALYZE_NO_WORKLOADS',
    ReferencedResourceNotFound: 'WEFT_ERR_ANALYZE_UNKNOWN_NAMESPACE',
  },
  'serviceentry.ConflictingServiceEntryProtocolAnalyzer': {
    ConflictingServiceEntryProtocol: 'WEFT_ERR_ANALYZE_PROTOCOL_CONFLICT',
  },
  'virtualservice.ConflictingMeshGatewayHostsAnalyzer': {
    ConflictingMeshGatewayVirtualServiceHosts: 'WEFT_ERR_ANALYZE_HOST_CONFLICT',
  },
};

interface ExpectedCase {
  files: string[];
  analyzer: string;
  expected: Array<[string, string]>;
}

/**
 * Istio's analyzers run on whatever is in the cluster, including documents its webhook would reject
 * (a Gateway without servers, a route `{}` without a destination), so the Weft kinds are fed to analyze
 * as raw documents, as `istioctl analyze` does; the other Kubernetes documents go in as `kube`.
 */
function rawResources(text: string): Resource[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const o = doc.toJS() as {
      kind?: string;
      apiVersion?: string;
      metadata: { namespace?: string };
      spec?: unknown;
    } | null;
    if (!o || !KINDS.includes(o.kind as Kind)) return [];
    if (o.kind === 'Gateway' && !o.apiVersion?.startsWith('networking.istio.io/')) return [];
    o.metadata.namespace ??= 'default';
    o.spec ??= {};
    return [o as unknown as Resource];
  });
}

const { cases } = JSON.parse(await readFile(`${dir}/expected.json`, 'utf8')) as { cases: ExpectedCase[] };

test('expected.json has the cases this file checks', () => {
  assert.equal(cases.length, 8);
  assert.deepEqual(cases.map((c) => c.analyzer).sort(), Object.keys(ANALYZERS).sort());
});

for (const c of cases) {
  test(`Istio's analyzer case ${c.analyzer} over ${c.files.join(', ')}`, async () => {
    const types = ANALYZERS[c.analyzer];
    assert.ok(types, `no Weft check stands for ${c.analyzer}`);
    for (const [type] of c.expected)
      assert.ok(types[type], `${c.analyzer} reports ${type}, which Weft does not`);
    const byCode = new Map(Object.entries(types).map(([type, code]) => [code, type]));
    const texts = await Promise.all(c.files.map((f) => readFile(`${dir}/${f}`, 'utf8')));
    const got = analyze(texts.flatMap(rawResources), texts.flatMap(kubeObjects))
      .filter((p) => byCode.has(p.code))
      .map((p) => `${byCode.get(p.code)} ${p.kind} ${p.name}`)
      .sort();
    // Upstream prints no namespace when the YAML sets none; those resources are in "default".
    const want = c.expected
      .map(([type, res]) => `${type} ${res.replace(/^(\w+) ([^/]+)$/, '$1 default/$2')}`)
      .sort();
    assert.deepEqual(got, want);
  });
}

test('authorizationpolicies.yaml through the loader: each finding at its line, with a next step', async () => {
  const file = `${dir}/authorizationpolicies.yaml`;
  const text = await readFile(file, 'utf8');
  const { resources } = parseDocuments(text, file); // Pods, Deployments and Namespaces are skipped here...
  const kube = await loadKubeObjects([file]); // ...and read for analysis only.
  assert.deepEqual(kube, kubeObjects(text));
  const lines = text.split('\n');
  const lineOf = (s: string, after = 0) => lines.findIndex((l, i) => i >= after && l.includes(s)) + 1;
  const bogusNs = lineOf('name: httpbin-bogus-ns');
  const problems = analyze(resources, kube).filter(
    (p) => p.kind === 'AuthorizationPolicy' && p.code === 'WEFT_ERR_ANALYZE_UNKNOWN_NAMESPACE',
  );
  const mine = problems.filter((p) => p.name === 'httpbin/httpbin-bogus-ns');
  assert.deepEqual(
    mine.map((p) => [p.severity, p.field, p.file, p.line]),
    [
      ['warning', 'spec.rules[0].from[1].source.namespaces[2]', file, lineOf('"*-bogus"', bogusNs)],
      ['warning', 'spec.rules[0].from[1].source.namespaces[3]', file, lineOf('"bogus-*"', bogusNs)],
    ],
  );
  assert.match(
    mine[0]!.message,
    /namespaces entry "\*-bogus" matches no namespace .*check the spelling \(IST0101/,
  );
  const empty = analyze(resources, kube).find((p) => p.name === 'httpbin-empty/httpbin-empty-namespace-wide');
  assert.equal(empty?.field, 'metadata.namespace');
  assert.match(
    empty?.message ?? '',
    /^namespace httpbin-empty has no workload, so this namespace-wide policy applies to nothing/,
  );
});
