// What Weft says about Telemetry resources: Istio's documented examples load as they are, mistakes are
// reported at their field. Istio's own validation cases run in load-fixtures.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../load.js';
import { formatProblem, type ConfigProblem } from '../types.js';
import { kindFromArg } from '../../cli/commands/kinds.js';

const show = (ps: ConfigProblem[]) => ps.map(formatProblem).join('\n');

const telemetry = (spec: string, apiVersion = 'telemetry.istio.io/v1') => `apiVersion: ${apiVersion}
kind: Telemetry
metadata: { name: t, namespace: istio-system }
spec:
${spec}`;

function problems(yaml: string): string[] {
  return parseDocuments(yaml, 'test.yaml').problems.map((p) => `${p.field ?? ''}: ${p.message}`);
}

test("Istio's documented Telemetry examples load (v1 and v1alpha1)", () => {
  const examples = [
    '  tracing:\n  - randomSamplingPercentage: 10.00',
    '  selector:\n    matchLabels:\n      service.istio.io/canonical-name: foo\n  tracing:\n  - disableSpanReporting: true',
    '  tracing:\n  - providers:\n    - name: "zipkin-alternate"\n    randomSamplingPercentage: 10.00',
    '  tracing:\n  - match:\n      mode: CLIENT\n    providers:\n    - name: zipkin',
    '  tracing:\n  - randomSamplingPercentage: 10.00\n    customTags:\n      my_new_foo_tag:\n        literal:\n          value: "foo"',
    '  metrics:\n  - providers:\n    - name: prometheus\n    overrides:\n    - match:\n        metric: ALL_METRICS\n        mode: SERVER\n      disabled: true',
    '  accessLogging:\n  - providers:\n    - name: envoy\n    filter:\n      expression: response.code >= 400',
    // Istio's "Customizing Istio Metrics with Telemetry API" task.
    '  metrics:\n  - providers:\n    - name: prometheus\n    overrides:\n    - match:\n        metric: REQUEST_COUNT\n        mode: CLIENT_AND_SERVER\n      tagOverrides:\n        request_host:\n          value: "request.host"\n        destination_port:\n          value: "string(destination.port)"\n        grpc_response_status:\n          operation: REMOVE',
    '  targetRefs:\n  - group: gateway.networking.k8s.io\n    kind: Gateway\n    name: waypoint\n  tracing:\n  - providers: [{ name: otel }]',
  ];
  for (const spec of examples) {
    for (const v of ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1']) {
      const { resources, problems: ps } = parseDocuments(telemetry(spec, v), 'test.yaml');
      assert.deepEqual(ps, [], `${spec}\n${show(ps)}`);
      assert.equal(resources[0]?.kind, 'Telemetry');
    }
  }
});

test('Telemetry mistakes are reported at their field', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      '  tracing:\n  - randomSamplingPercentage: 150',
      'spec.tracing[0].randomSamplingPercentage',
      /0 and 100/,
    ],
    [
      '  tracing:\n  - randomSamplingPercentag: 10',
      'spec.tracing[0].randomSamplingPercentag',
      /did you mean "randomSamplingPercentage"/,
    ],
    ['  tracing:\n  - customTags:\n      a: {}', 'spec.tracing[0].customTags.a', /needs one of literal/],
    [
      '  tracing:\n  - customTags:\n      a: { literal: { value: x }, header: { name: y } }',
      'spec.tracing[0].customTags.a.header',
      /exactly one type/,
    ],
    [
      '  tracing:\n  - customTags:\n      a: { literal: { value: "" } }',
      'spec.tracing[0].customTags.a.literal.value',
      /empty/,
    ],
    [
      '  tracing:\n  - match: { mode: BOTH }',
      'spec.tracing[0].match.mode',
      /CLIENT_AND_SERVER, CLIENT or SERVER/,
    ],
    ['  tracing:\n  - providers: [{ name: "" }]', 'spec.tracing[0].providers[0].name', /must not be empty/],
    [
      '  selector: { matchLabels: { app: a } }\n  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: g }]',
      'spec.targetRefs',
      /only one of selector/,
    ],
    [
      '  metrics:\n  - overrides:\n    - match: { metric: REQUESTS }',
      'spec.metrics[0].overrides[0].match.metric',
      /REQUEST_COUNT/,
    ],
    ['  metrics:\n  - reportingInterval: 5', 'spec.metrics[0].reportingInterval', /string/],
  ];
  for (const [spec, field, message] of cases) {
    const got = problems(telemetry(spec));
    assert.ok(
      got.some((g) => g.startsWith(`${field}: `) && message.test(g)),
      `want ${field}: ${message}\ngot:\n${got.join('\n')}`,
    );
  }
});

test('kubectl-style names for Telemetry', () => {
  for (const arg of ['telemetry', 'telemetries', 'Telemetry', 'telemetry.telemetry.istio.io'])
    assert.equal(kindFromArg(arg), 'Telemetry', arg);
});
