// Reads the SPIFFE ID a CSR asks for, only to log and refuse a proxy that asks for someone else's
// identity. The CA never copies names from a CSR; it signs the identity the token proves.
import { x509 } from '../../lib/x509.js';

const SAN_OID = '2.5.29.17';

export function requestedSpiffeId(csrPem: string): string | undefined {
  try {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const ext = csr.getExtension(SAN_OID);
    if (!ext) return undefined;
    const san = new x509.SubjectAlternativeNameExtension(ext.rawData);
    return san.names.items.find((n) => n.type === 'url' && n.value.startsWith('spiffe://'))?.value;
  } catch {
    return undefined;
  }
}
