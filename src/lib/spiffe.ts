// SPIFFE IDs (spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, Istio's layout) and the
// certificate checks every mTLS peer needs: which identity does a certificate carry, and does it chain to our root.
import { X509Certificate as NodeX509 } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { ErrorCodes, WeftError } from './errors.js';

// SPIFFE spec: trust domains are lowercase; path segments use [A-Za-z0-9._-] and may not be "." or "..".
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const ID = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

const validSegment = (s: string): boolean => SEGMENT.test(s) && s !== '.' && s !== '..';

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  // Refuse to build an ID that would not parse back to the same parts (e.g. a "/" smuggled into a name).
  if (!TRUST_DOMAIN.test(trustDomain) || !validSegment(namespace) || !validSegment(serviceAccount)) {
    throw new WeftError(
      ErrorCodes.CONFIG_INVALID,
      `cannot form a SPIFFE ID from trust domain "${trustDomain}", namespace "${namespace}", service account "${serviceAccount}"`,
      'use lowercase letters, digits, ".", "-" or "_" in the trust domain and names',
    );
  }
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export function parseSpiffeId(
  uri: string,
): { trustDomain: string; namespace: string; serviceAccount: string } | undefined {
  const m = ID.exec(uri);
  if (!m) return undefined;
  const [, trustDomain = '', namespace = '', serviceAccount = ''] = m;
  if (!TRUST_DOMAIN.test(trustDomain) || !validSegment(namespace) || !validSegment(serviceAccount))
    return undefined;
  return { trustDomain, namespace, serviceAccount };
}

/** The spiffe:// URI SAN of a certificate: accepts node's tls PeerCertificate (uses .subjectaltname / .raw) or crypto.X509Certificate or a PEM string. */
export function certSpiffeId(cert: PeerCertificate | NodeX509 | string): string | undefined {
  let san: string | undefined;
  try {
    if (typeof cert === 'string') san = new NodeX509(cert).subjectAltName;
    else if (cert instanceof NodeX509) san = cert.subjectAltName;
    // getPeerCertificate() returns {} when the peer sent no certificate.
    else san = cert.subjectaltname ?? (cert.raw ? new NodeX509(cert.raw).subjectAltName : undefined);
  } catch {
    return undefined;
  }
  const uris = san ? sanUris(san) : [];
  // An X509-SVID carries exactly one URI SAN; several would make the identity ambiguous.
  if (uris.length !== 1 || !uris[0]?.startsWith('spiffe://')) return undefined;
  return uris[0];
}

// Node's SAN text is "DNS:a, URI:b"; since CVE-2021-44532 any value containing a delimiter is JSON-quoted,
// so a crafted name cannot smuggle in a second entry.
function sanUris(san: string): string[] {
  const out: string[] = [];
  for (const m of san.matchAll(/(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    if (m[1] !== 'URI' || m[2] === undefined) continue;
    out.push(m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2]);
  }
  return out;
}

/** True when `leaf` (DER Buffer or PEM) was signed by the root (PEM) and is within its validity period at `now`. Uses node:crypto X509Certificate verify/checkIssued. Supports one intermediate given as extra PEMs. */
export function verifyChain(
  leaf: Buffer | string,
  rootPem: string,
  intermediatesPem: string[] = [],
  now: Date = new Date(),
): boolean {
  try {
    const root = new NodeX509(rootPem);
    const intermediates = intermediatesPem.map((p) => new NodeX509(p));
    let cert = new NodeX509(leaf);
    // Walk leaf -> (intermediate) -> root; each hop needs a valid signature, a CA issuer and a live validity window.
    for (let depth = 0; depth <= intermediates.length; depth++) {
      if (!withinValidity(cert, now)) return false;
      if (signedBy(cert, root)) return withinValidity(root, now);
      const next = intermediates.find((i) => signedBy(cert, i));
      if (!next) return false;
      cert = next;
    }
    return false;
  } catch {
    return false;
  }
}

function signedBy(cert: NodeX509, issuer: NodeX509): boolean {
  return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

function withinValidity(cert: NodeX509, now: Date): boolean {
  const t = now.getTime();
  return t >= Date.parse(cert.validFrom) && t <= Date.parse(cert.validTo);
}
