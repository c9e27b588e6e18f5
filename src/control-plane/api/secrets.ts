// The certificates a proxy holds, described for `weft proxy-config PROXY secrets` (istioctl's
// `proxy-config secret`): its workload certificate chain and the trust bundle, with validity and serials,
// and for a gateway the certificates and client CAs its TLS servers serve (from Secrets, or from files
// this control plane can read).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IssuedCertificate } from '../push/server.js';
import type { PemSource, ProxySnapshot } from '../../model/snapshot.js';

export interface SecretEntry {
  /** `default` (the workload certificate), `ROOTCA`, or a gateway server's certificate: its server name,
   *  and `#2`, `#3`… for its further certificates. */
  name: string;
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

/** The first certificate of a PEM source; undefined when there is none or its file cannot be read here. */
function firstPem(src: PemSource | undefined): string | undefined {
  let text = src?.pem;
  if (text === undefined && src?.file) {
    try {
      text = readFileSync(src.file, 'utf8');
    } catch {
      return undefined;
    }
  }
  return /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text ?? '')?.[0];
}

/** What a gateway's TLS servers serve: each server's certificates, and the CA its clients must chain to. */
function gatewaySecrets(snapshot: ProxySnapshot | undefined): SecretEntry[] {
  const out: SecretEntry[] = [];
  const seen = new Set<string>();
  const add = (src: PemSource | undefined, name: string, type: SecretEntry['type']) => {
    const pem = firstPem(src);
    if (!pem || seen.has(`${name}|${pem}`)) return;
    seen.add(`${name}|${pem}`);
    out.push(entry(pem, name, type));
  };
  for (const l of snapshot?.gateways ?? [])
    for (const server of l.tls?.servers ?? []) {
      add(server.certificate, server.name, 'Cert Chain');
      server.moreCertificates?.forEach((c, i) => add(c.certificate, `${server.name}#${i + 2}`, 'Cert Chain'));
      add(server.caCertificates, `${server.name}-cacert`, 'CA');
    }
  return out;
}

export function describeSecrets(issued: IssuedCertificate, snapshot?: ProxySnapshot): ProxySecrets {
  const leaf = issued.chain[0];
  return {
    issuedAt: issued.issuedAt,
    secrets: [
      ...(leaf ? [entry(leaf, 'default', 'Cert Chain')] : []),
      ...issued.trustBundle.map((pem) => entry(pem, 'ROOTCA', 'CA')),
      ...gatewaySecrets(snapshot),
    ],
    chain: issued.chain,
    trustBundle: issued.trustBundle,
  };
}
