// Gateway API client certificate validation (spec.tls.frontend, listener tls.frontendValidation) and
// several certificateRefs per listener, as compiled for the ingress gateway and reported in status.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayTlsServer } from '../../../model/snapshot.js';
import { testCa, testLeaf, type TestCa, type TestCert } from '../../../proxy/listeners/gateway-testing.js';
import { parseDocuments } from '../../load.js';
import { formatProblem, type Resource } from '../../types.js';
import type { KubernetesGateway } from '../../gateway-api-types.js';
import { gatewayStatus } from '../../route-status.js';
import { MeshIndex } from '../inputs.js';
import { gatewayListeners } from '../virtual-hosts.js';

let ca: TestCa;
const certs: Record<string, TestCert> = {};
const b64 = (s: string) => Buffer.from(s).toString('base64');

before(async () => {
  ca = await testCa('Client CA');
  certs.a = await testLeaf(ca, { cn: 'a', dns: ['a.example.com'] });
  certs.a2 = await testLeaf(ca, { cn: 'a2', dns: ['a.example.com'] });
});

function parse(yaml: string): Resource[] {
  const { resources, problems } = parseDocuments(yaml, 'inline.yaml');
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

const secret = (name: string, c: TestCert, ns = 'default') => `
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${ns}}
type: kubernetes.io/tls
data: {tls.crt: ${b64(c.certPem)}, tls.key: ${b64(c.keyPem)}}
---`;

const configMap = (name: string, ns: string, data: Record<string, string>) => `
apiVersion: v1
kind: ConfigMap
metadata: {name: ${name}, namespace: ${ns}}
data: ${JSON.stringify(data)}
---`;

const gateway = (tls: string, listeners: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: weft
  ${tls}
  listeners:
${listeners}
`;

const https = (name: string, port: number, extra = '') =>
  `  - {name: ${name}, port: ${port}, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a-cert}]${extra}}}`;

function servers(rs: Resource[]): GatewayTlsServer[] {
  return gatewayListeners(new MeshIndex(rs, []), { istio: 'ingressgateway' }).flatMap(
    (l) => l.tls?.servers ?? [],
  );
}
const gw = (rs: Resource[]) => rs.find((r): r is KubernetesGateway => r.kind === 'KubernetesGateway')!;
const conditions = (rs: Resource[], listener: string) =>
  gatewayStatus(gw(rs), rs)
    .listeners.find((l) => l.name === listener)!
    .conditions.map((c) => `${c.type}:${c.status}:${c.reason}`);

test('spec.tls.frontend: default for HTTPS listeners, perPort overrides it; the CA comes from a ConfigMap', () => {
  const rs = parse(`
${secret('a-cert', certs.a!)}
${configMap('client-ca', 'default', { 'ca.crt': ca.certPem })}
${gateway(
  `tls:
    frontend:
      default: {validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]}}
      perPort:
      - port: 9444
        tls: {validation: {mode: AllowInsecureFallback, caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]}}`,
  [https('strict', 9443), https('lenient', 9444)].join('\n'),
)}`);
  const [strict, lenient] = servers(rs);
  assert.equal(strict!.mode, 'MUTUAL');
  assert.equal(strict!.caCertificates?.pem?.trim(), ca.certPem.trim());
  assert.equal(strict!.allowUnverified, undefined);
  assert.equal(strict!.error, undefined);
  assert.deepEqual([lenient!.mode, lenient!.allowUnverified], ['OPTIONAL_MUTUAL', true]);
  assert.deepEqual(conditions(rs, 'strict'), [
    'Accepted:True:Accepted',
    'Conflicted:False:NoConflicts',
    'Programmed:True:Programmed',
    'ResolvedRefs:True:ResolvedRefs',
  ]);
  const insecure = gatewayStatus(gw(rs), rs).conditions.find(
    (c) => c.type === 'InsecureFrontendValidationMode',
  );
  assert.deepEqual([insecure?.status, insecure?.reason], ['True', 'ConfigurationChanged']);
});

test('listener tls.frontendValidation (older experimental form) and a Secret holding ca.crt', () => {
  const rs = parse(`
${secret('a-cert', certs.a!)}
apiVersion: v1
kind: Secret
metadata: {name: ca-secret, namespace: default}
stringData: {ca.crt: ${JSON.stringify(ca.certPem)}}
---
${gateway('', https('l', 9443, ', frontendValidation: {caCertificateRefs: [{group: "", kind: Secret, name: ca-secret}]}'))}`);
  const [s] = servers(rs);
  assert.equal(s!.mode, 'MUTUAL');
  assert.match(s!.caCertificates?.pem ?? '', /BEGIN CERTIFICATE/);
  // No validation on a listener the default does not cover: a TLS listener in Terminate mode.
  const plain = parse(`
${secret('a-cert', certs.a!)}
${configMap('client-ca', 'default', { 'ca.crt': ca.certPem })}
${gateway(
  'tls: {frontend: {default: {validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]}}}}',
  '  - {name: t, port: 9445, protocol: TLS, hostname: a.example.com, tls: {mode: Terminate, certificateRefs: [{name: a-cert}]}}',
)}`);
  assert.equal(servers(plain)[0]!.mode, 'SIMPLE');
});

test('bad caCertificateRefs: the spec reasons; none valid is NoValidCACertificate and refused handshakes', () => {
  const cases: Array<[string, string, string]> = [
    ['{group: "", kind: ConfigMap, name: missing}', 'InvalidCACertificateRef', 'not found'],
    ['{group: "", kind: ConfigMap, name: no-key}', 'InvalidCACertificateRef', 'no key "ca.crt"'],
    ['{group: "", kind: ConfigMap, name: not-pem}', 'InvalidCACertificateRef', 'no PEM certificate'],
    ['{group: core, kind: unknown, name: x}', 'InvalidCACertificateKind', 'only a ConfigMap or a Secret'],
    ['{group: "", kind: ConfigMap, name: remote-ca, namespace: certs}', 'RefNotPermitted', 'ReferenceGrant'],
  ];
  for (const [ref, reason, message] of cases) {
    const rs = parse(`
${secret('a-cert', certs.a!)}
${configMap('no-key', 'default', { 'other.crt': ca.certPem })}
${configMap('not-pem', 'default', { 'ca.crt': 'hello' })}
${configMap('remote-ca', 'certs', { 'ca.crt': ca.certPem })}
${gateway(`tls: {frontend: {default: {validation: {caCertificateRefs: [${ref}]}}}}`, https('l', 9443))}`);
    assert.deepEqual(
      conditions(rs, 'l'),
      [
        'Accepted:False:NoValidCACertificate',
        'Conflicted:False:NoConflicts',
        'Programmed:False:Invalid',
        `ResolvedRefs:False:${reason}`,
      ],
      ref,
    );
    const s = servers(rs)[0]!;
    assert.match(s.error ?? '', new RegExp(message.replace(/[."]/g, '.')), ref);
  }
  // A ReferenceGrant for ConfigMaps lets the remote CA in; one valid ref among bad ones is enough.
  const granted = parse(`
${secret('a-cert', certs.a!)}
${configMap('remote-ca', 'certs', { 'ca.crt': ca.certPem })}
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: ConfigMap}]
---
${gateway(
  'tls: {frontend: {default: {validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: remote-ca, namespace: certs}, {group: "", kind: ConfigMap, name: missing}]}}}}',
  https('l', 9443),
)}`);
  const s = servers(granted)[0]!;
  assert.deepEqual([s.mode, s.error], ['MUTUAL', undefined]);
  assert.deepEqual(conditions(granted, 'l'), [
    'Accepted:True:Accepted',
    'Conflicted:False:NoConflicts',
    'Programmed:True:Programmed',
    'ResolvedRefs:False:InvalidCACertificateRef',
  ]);
});

test('schema: perPort ports are unique, caCertificateRefs is not empty', () => {
  const bad = (tls: string) =>
    parseDocuments(gateway(tls, https('l', 9443)), 'x.yaml')
      .problems.map((p) => p.message)
      .join('\n');
  assert.match(
    bad('tls: {frontend: {default: {}, perPort: [{port: 1, tls: {}}, {port: 1, tls: {}}]}}'),
    /more than one perPort entry/,
  );
  assert.match(bad('tls: {frontend: {default: {validation: {caCertificateRefs: []}}}}'), /at least one/);
  assert.match(
    bad('tls: {frontend: {default: {validation: {caCertificateRefs: [{name: x}]}}}}'),
    /kind|group/,
  );
});

test('several certificateRefs: all served (moreCertificates), bad ones reported', () => {
  const rs = parse(`
${secret('a-cert', certs.a!)}
${secret('a2-cert', certs.a2!)}
${gateway('', '  - {name: l, port: 9443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a-cert}, {name: missing}, {name: a2-cert}]}}')}`);
  const s = servers(rs)[0]!;
  assert.equal(s.certificate?.pem, certs.a!.certPem);
  assert.deepEqual(
    s.moreCertificates?.map((c) => c.certificate.pem),
    [certs.a2!.certPem],
  );
  assert.ok(conditions(rs, 'l').includes('ResolvedRefs:False:InvalidCertificateRef'));
});
