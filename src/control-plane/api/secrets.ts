// The certificates a proxy holds, described for `weft proxy-config PROXY secrets` (istioctl's
// `proxy-config secret`): its workload certificate chain and the trust bundle, with validity and serials.
import { X509Certificate } from 'node:crypto';
import type { IssuedCertificate } from '../push/server.js';

export interface SecretEntry {
  name: 'default' | 'ROOTCA';
  type: 'Cert Chain' | 'CA';
  subject: string;
  /** URI SANs: the SPIFFE ID of a workload certificate. */
  uris: string[];
  serial: string;
  notBefore: string;
  notAfter: string;
  valid: boolean;
  fingerprint: string; // SHA-256
  issuer: string;
}

export interface ProxySecrets {
  issuedAt: string;
  secrets: SecretEntry[];
  chain: string[];
  trustBundle: string[];
}

function entry(pem: string, name: SecretEntry['name'], type: SecretEntry['type']): SecretEntry {
  const c = new X509Certificate(pem);
  const now = Date.now();
  return {
    name,
    type,
    // SPIFFE certificates have an empty subject: the identity is the URI SAN.
    subject: (c.subject ?? '').replace(/\n/g, ', '),
    uris: (c.subjectAltName ?? '')
      .split(', ')
      .filter((s) => s.startsWith('URI:'))
      .map((s) => s.slice(4)),
    serial: c.serialNumber.toLowerCase(),
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    valid: now >= Date.parse(c.validFrom) && now <= Date.parse(c.validTo),
    fingerprint: c.fingerprint256,
    issuer: (c.issuer ?? '').replace(/\n/g, ', '),
  };
}

export function describeSecrets(issued: IssuedCertificate): ProxySecrets {
  const leaf = issued.chain[0];
  return {
    issuedAt: issued.issuedAt,
    secrets: [
      ...(leaf ? [entry(leaf, 'default', 'Cert Chain')] : []),
      ...issued.trustBundle.map((pem) => entry(pem, 'ROOTCA', 'CA')),
    ],
    chain: issued.chain,
    trustBundle: issued.trustBundle,
  };
}
