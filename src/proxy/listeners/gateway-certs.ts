// Choosing among several certificates of one TLS server, as Envoy does for a filter chain with several
// tls_certificates: the certificates whose DNS names match the client's SNI (the exact name before a
// wildcard), else all of them; then one per key type, so OpenSSL can give a client that supports ECDSA
// the ECDSA certificate and an RSA-only client the RSA one (it picks by the client's signature
// algorithms among the pairs of one secure context).
import { X509Certificate, createPrivateKey } from 'node:crypto';

export interface KeyPair {
  cert: string;
  key: string;
  /** DNS names the certificate is for, lower-case (its DNS SANs, else its CN). */
  names: string[];
  /** "rsa", "ec", "ed25519"... */
  keyType: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export function keyPair(cert: string, key: string): KeyPair {
  const leaf = new X509Certificate(PEM_CERT.exec(cert)![0]);
  const dns = (leaf.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4).toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(leaf.subject)?.[1]?.toLowerCase();
  return {
    cert,
    key,
    names: dns.length ? dns : cn ? [cn] : [],
    keyType: createPrivateKey(key).asymmetricKeyType ?? 'unknown',
  };
}

/** How well a certificate name covers the SNI: 2 exact, 1 wildcard of one label, 0 not at all. */
function matchLevel(name: string, sni: string): number {
  if (name === sni) return 2;
  if (name.startsWith('*.')) {
    const dot = sni.indexOf('.');
    if (dot > 0 && sni.slice(dot) === name.slice(1)) return 1;
  }
  return 0;
}

/** The pairs one handshake may use, at most one per key type, in the configured order. */
export function pickPairs(pairs: readonly KeyPair[], sni: string | undefined): KeyPair[] {
  let candidates: readonly KeyPair[] = pairs;
  if (sni) {
    const level = (p: KeyPair) => Math.max(0, ...p.names.map((n) => matchLevel(n, sni.toLowerCase())));
    const best = Math.max(0, ...pairs.map(level));
    if (best > 0) candidates = pairs.filter((p) => level(p) === best);
  }
  const seen = new Set<string>();
  return candidates.filter((p) => !seen.has(p.keyType) && seen.add(p.keyType));
}
