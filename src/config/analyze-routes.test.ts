// Unreachable rules, ineffective matches and mesh host conflicts, checked against Istio's own analyzer
// test data (fixtures istio-validation/analyzers, expected.json): the same findings, one per message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { fixture } from './testing.js';
import { analyze } from './analyze.js';
import { parseDocuments } from './load.js';
import { formatProblem, type Resource } from './types.js';

const CODES: Record<string, string> = {
  VirtualServiceUnreachableRule: 'WEFT_ERR_ANALYZE_UNREACHABLE_RULE',
  VirtualServiceIneffectiveMatch: 'WEFT_ERR_ANALYZE_INEFFECTIVE_MATCH',
  ConflictingMeshGatewayVirtualServiceHosts: 'WEFT_ERR_ANALYZE_HOST_CONFLICT',
  VirtualServiceHostNotFoundInGateway: 'WEFT_ERR_ANALYZE_HOST_NOT_IN_GATEWAY',
  VirtualServiceDestinationPortSelectorRequired: 'WEFT_ERR_ANALYZE_PORT_REQUIRED',
  ConflictingGateways: 'WEFT_ERR_ANALYZE_GATEWAY_CONFLICT',
};
const TYPES = Object.fromEntries(Object.entries(CODES).map(([t, c]) => [c, t]));

/** Resources as `istioctl analyze` reads them: raw documents, namespace "default" when unset. */
function virtualServices(text: string): Resource[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const o = doc.toJS() as {
      kind?: string;
      apiVersion?: string;
      metadata: { namespace?: string };
      spec?: unknown;
    } | null;
    if (!o || !['VirtualService', 'Gateway', 'Service'].includes(o.kind ?? '')) return [];
    if (o.kind === 'Gateway' && !o.apiVersion?.startsWith('networking.istio.io/')) return [];
    o.metadata.namespace ??= 'default';
    o.spec ??= {};
    return [o as unknown as Resource];
  });
}

interface ExpectedCase {
  files: string[];
  analyzer: string;
  expected: Array<[string, string]>;
}

for (const analyzer of [
  'schema validation (VirtualService)',
  'virtualservice.ConflictingMeshGatewayHostsAnalyzer',
  'virtualservice.GatewayAnalyzer',
  'virtualservice.DestinationHostAnalyzer',
  'gateway.ConflictingGatewayAnalyzer',
]) {
  test(`Istio's analyzer cases: ${analyzer}`, async () => {
    const dir = fixture('istio-validation/analyzers');
    const { cases } = JSON.parse(await readFile(`${dir}/expected.json`, 'utf8')) as {
      cases: ExpectedCase[];
    };
    const c = cases.find((x) => x.analyzer === analyzer)!;
    const resources = (await Promise.all(c.files.map((f) => readFile(`${dir}/${f}`, 'utf8')))).flatMap(
      virtualServices,
    );
    // Each analyzer's test counts only its own message types.
    // (ReferencedResourceNotFound is analyze.test.ts's; the rest are checked here.)
    const types = new Set(c.expected.map(([type]) => type).filter((t) => CODES[t]));
    const got = analyze(resources)
      .filter((p) => types.has(TYPES[p.code] ?? ''))
      .map((p) => `${TYPES[p.code]} ${p.kind} ${p.name}`)
      .sort();
    const want = c.expected
      .filter(([type]) => types.has(type))
      .map(([type, res]) => `${type} ${res.replace(/^(\w+) ([^/]+)$/, '$1 default/$2')}`)
      .sort();
    assert.deepEqual(got, want);
  });
}

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  assert.deepEqual(problems, [], problems.map(formatProblem).join('\n'));
  return resources;
}

test('a rule after a catch-all is unreachable, with the line and a plain reason', () => {
  const problems = analyze(
    parse(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
`),
  ).filter((p) => p.code === 'WEFT_ERR_ANALYZE_UNREACHABLE_RULE');
  assert.equal(problems.length, 1);
  const p = problems[0]!;
  assert.equal(p.severity, 'warning');
  assert.equal(p.field, 'spec.http[1]');
  assert.equal(p.line, 8);
  assert.match(p.message, /http rule #1 is never used \(rule #0 before it has no matches/);
});

test('a Gateway no VirtualService binds is reported; binding it by ns/name clears the warning', () => {
  const gw = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
`;
  const unbound = analyze(parse(gw)).filter((p) => p.code === 'WEFT_ERR_ANALYZE_GATEWAY_NO_ROUTES');
  assert.equal(unbound.length, 1);
  assert.match(unbound[0]!.message, /Gateway istio-system\/edge has no routes/);
  const vs = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [istio-system/edge]
  http: [{route: [{destination: {host: web}}]}]
`;
  assert.deepEqual(
    analyze(parse(gw + vs)).filter((p) => p.code === 'WEFT_ERR_ANALYZE_GATEWAY_NO_ROUTES'),
    [],
  );
});
