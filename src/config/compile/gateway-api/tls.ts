// A Gateway API listener's certificate (ListenerTLSConfig.certificateRefs) resolved to PEM text for the
// gateway proxy, with the reasons the spec names for the listener's ResolvedRefs condition:
//  - a reference is to a core Secret (group "", kind Secret); anything else is InvalidCertificateRef;
//  - the Secret's namespace defaults to the Gateway's; another namespace needs a ReferenceGrant there
//    (from Gateway in the Gateway's namespace, to Secret), else RefNotPermitted;
//  - the Secret must exist and hold a certificate and its key (`tls.crt`/`tls.key`, as a
//    kubernetes.io/tls Secret has them; Istio's `cert`/`key` are read too), else InvalidCertificateRef.
// Every reference that resolves is served: the client's SNI picks among them by their DNS names, then by
// the key types it supports (an RSA and an ECDSA certificate for one name). A listener whose references
// all fail still appears, with `error`, and its handshakes are refused.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { PemSource } from '../../../model/snapshot.js';
import {
  GATEWAY_API_GROUP,
  type KubernetesGateway,
  type Listener,
  type SecretObjectReference,
} from '../../gateway-api-types.js';
import { secretValue } from '../../schemas/secret.js';
import type { MeshIndex } from '../inputs.js';

export interface CertificateProblem {
  reason: 'InvalidCertificateRef' | 'RefNotPermitted';
  message: string;
}

export interface ListenerCertificate {
  /** The first reference that resolved. */
  certificate?: { certificate: PemSource; privateKey: PemSource };
  /** The other references that resolved, in order. */
  more: Array<{ certificate: PemSource; privateKey: PemSource }>;
  /** Every reference that did not, in order. */
  problems: CertificateProblem[];
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function text(index: MeshIndex, key: string, names: string[]): string | undefined {
  const s = index.secrets.get(key);
  for (const n of names) {
    const v = s && secretValue(s.spec, n);
    if (v?.length) return v.toString('utf8');
  }
  return undefined;
}

/** ReferenceGrant (GEP-709) in the referent's namespace letting Gateways of `fromNs` read it. */
export function granted(
  index: MeshIndex,
  fromNs: string,
  ns: string,
  name: string,
  kind: 'Secret' | 'ConfigMap' = 'Secret',
): boolean {
  return index.referenceGrants.some(
    (g) =>
      g.metadata.namespace === ns &&
      g.spec.from.some(
        (f) => f.group === GATEWAY_API_GROUP && f.kind === 'Gateway' && f.namespace === fromNs,
      ) &&
      g.spec.to.some((t) => t.group === '' && t.kind === kind && (t.name === undefined || t.name === name)),
  );
}

function resolveRef(
  ref: SecretObjectReference,
  gateway: KubernetesGateway,
  index: MeshIndex,
): { certificate: PemSource; privateKey: PemSource } | CertificateProblem {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Secret';
  const gwNs = gateway.metadata.namespace;
  const ns = ref.namespace ?? gwNs;
  const where = `Secret ${ns}/${ref.name}`;
  if (group !== '' || kind !== 'Secret')
    return {
      reason: 'InvalidCertificateRef',
      message: `unsupported certificateRef: group "${group}" kind "${kind}" (only core Secrets)`,
    };
  if (ns !== gwNs && !granted(index, gwNs, ns, ref.name))
    return {
      reason: 'RefNotPermitted',
      message: `certificateRef to ${where} not permitted: no ReferenceGrant in namespace "${ns}" from Gateways in "${gwNs}"`,
    };
  const key = `${ns}/${ref.name}`;
  const secret = index.secrets.get(key);
  if (!secret) return { reason: 'InvalidCertificateRef', message: `${where} not found` };
  const cert = text(index, key, ['tls.crt', 'cert']);
  const pkey = text(index, key, ['tls.key', 'key']);
  if (!cert || !pkey) {
    const found = Object.keys(secret.spec.data).sort().join(', ') || 'no keys';
    return {
      reason: 'InvalidCertificateRef',
      message: `${where} has no "tls.crt" and "tls.key" (found: ${found})`,
    };
  }
  const blocks = cert.match(CERT_BLOCK) ?? [];
  try {
    if (blocks.length === 0) throw new Error('"tls.crt" holds no PEM certificate');
    const leaf = new X509Certificate(blocks[0]!);
    for (const b of blocks.slice(1)) new X509Certificate(b);
    if (!leaf.checkPrivateKey(createPrivateKey(pkey)))
      throw new Error('the private key does not belong to the certificate');
  } catch (e) {
    return { reason: 'InvalidCertificateRef', message: `${where}: ${(e as Error).message}` };
  }
  return { certificate: { pem: cert }, privateKey: { pem: pkey } };
}

/** The certificate a Terminate listener serves, and what is wrong with its references. */
export function listenerCertificate(
  gateway: KubernetesGateway,
  listener: Listener,
  index: MeshIndex,
): ListenerCertificate {
  const out: ListenerCertificate = { problems: [], more: [] };
  const refs = listener.tls?.certificateRefs ?? [];
  if (refs.length === 0)
    out.problems.push({
      reason: 'InvalidCertificateRef',
      message: 'no certificateRefs: Weft needs a certificate from a Secret to terminate TLS',
    });
  for (const ref of refs) {
    const r = resolveRef(ref, gateway, index);
    if ('reason' in r) out.problems.push(r);
    else if (!out.certificate) out.certificate = r;
    else out.more.push(r);
  }
  return out;
}
