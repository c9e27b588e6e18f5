// Gateway API client certificate validation (GEP-91) for one listener: which configuration applies, the
// CA bundle it names, and the reasons the spec gives for the listener's conditions:
//  - the listener's own `tls.frontendValidation` (older experimental form) if set; else the Gateway's
//    `spec.tls.frontend.perPort` entry for the listener's port; else `spec.tls.frontend.default`. The
//    Gateway-level forms apply to HTTPS listeners only, as the spec says;
//  - a reference is to a core ConfigMap (Core support) or Secret (as Istio reads one), key `ca.crt`;
//    another kind is InvalidCACertificateKind; one that is missing, without `ca.crt` or without a PEM
//    certificate is InvalidCACertificateRef; one in another namespace needs a ReferenceGrant there, else
//    RefNotPermitted;
//  - every reference that resolves is trusted (several are Implementation-specific support: Weft
//    concatenates them); none resolving leaves the listener without a trust anchor, so it is not
//    accepted (NoValidCACertificate) and its handshakes are refused.
import { X509Certificate } from 'node:crypto';
import type {
  CaCertificateRef,
  FrontendTLSValidation,
  KubernetesGateway,
  Listener,
} from '../../gateway-api-types.js';
import { configMapValue } from '../../schemas/configmap.js';
import { secretValue } from '../../schemas/secret.js';
import type { MeshIndex } from '../inputs.js';
import { granted } from './tls.js';

export interface CaProblem {
  reason: 'InvalidCACertificateRef' | 'InvalidCACertificateKind' | 'RefNotPermitted';
  message: string;
}

export interface ListenerFrontend {
  /** The trusted CA certificates (PEM, every reference that resolved); undefined when none did. */
  ca?: string;
  mode: 'AllowValidOnly' | 'AllowInsecureFallback';
  problems: CaProblem[];
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The validation that applies to a listener, or undefined when none does. */
export function frontendConfig(
  gateway: KubernetesGateway,
  listener: Listener,
): FrontendTLSValidation | undefined {
  if (listener.tls?.frontendValidation?.caCertificateRefs?.length) return listener.tls.frontendValidation;
  if (listener.protocol !== 'HTTPS') return undefined;
  const frontend = gateway.spec.tls?.frontend;
  const perPort = frontend?.perPort?.find((p) => p.port === listener.port);
  return perPort ? perPort.tls.validation : frontend?.default.validation;
}

function resolve(ref: CaCertificateRef, gateway: KubernetesGateway, index: MeshIndex): string | CaProblem {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'ConfigMap';
  const gwNs = gateway.metadata.namespace;
  const ns = ref.namespace ?? gwNs;
  const where = `${kind} ${ns}/${ref.name}`;
  if ((group !== '' && group !== 'core') || (kind !== 'ConfigMap' && kind !== 'Secret'))
    return {
      reason: 'InvalidCACertificateKind',
      message: `caCertificateRef ${group || 'core'}/${kind}/${ref.name}: only a ConfigMap or a Secret can hold a CA certificate`,
    };
  if (ns !== gwNs && !granted(index, gwNs, ns, ref.name, kind))
    return {
      reason: 'RefNotPermitted',
      message: `caCertificateRef to ${where} not permitted: no ReferenceGrant in namespace "${ns}" from Gateways in "${gwNs}"`,
    };
  const text =
    kind === 'ConfigMap'
      ? (() => {
          const cm = index.configMaps.get(`${ns}/${ref.name}`);
          return cm ? (configMapValue(cm.spec, 'ca.crt') ?? null) : undefined;
        })()
      : (() => {
          const s = index.secrets.get(`${ns}/${ref.name}`);
          return s ? (secretValue(s.spec, 'ca.crt')?.toString('utf8') ?? null) : undefined;
        })();
  if (text === undefined) return { reason: 'InvalidCACertificateRef', message: `${where} not found` };
  if (text === null) return { reason: 'InvalidCACertificateRef', message: `${where} has no key "ca.crt"` };
  const blocks = text.match(CERT_BLOCK) ?? [];
  try {
    if (!blocks.length) throw new Error('"ca.crt" holds no PEM certificate');
    for (const b of blocks) new X509Certificate(b);
  } catch (e) {
    return { reason: 'InvalidCACertificateRef', message: `${where}: ${(e as Error).message}` };
  }
  return blocks.join('\n') + '\n';
}

/** Client certificate validation for a terminating listener, or undefined when none applies. */
export function listenerFrontend(
  gateway: KubernetesGateway,
  listener: Listener,
  index: MeshIndex,
): ListenerFrontend | undefined {
  const cfg = frontendConfig(gateway, listener);
  if (!cfg?.caCertificateRefs?.length) return undefined;
  const out: ListenerFrontend = { mode: cfg.mode ?? 'AllowValidOnly', problems: [] };
  const cas: string[] = [];
  for (const ref of cfg.caCertificateRefs) {
    const r = resolve(ref, gateway, index);
    if (typeof r === 'string') cas.push(r);
    else out.problems.push(r);
  }
  if (cas.length) out.ca = cas.join('');
  return out;
}
