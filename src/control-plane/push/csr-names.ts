// Reads the SPIFFE ID a CSR asks for, only to log and refuse a proxy that asks for someone else's
// identity. The CA never copies names from a CSR; it signs the identity the token proves.
import 'reflect-metadata'; // tsyringe (inside @peculiar/x509) needs it loaded first
import { Pkcs10CertificateRequest, SubjectAlternativeNameExtension } from '@peculiar/x509';

const SAN_OID = '2.5.29.17';

export function requestedSpiffeId(csrPem: string): string | undefined {
  try {
    const csr = new Pkcs10CertificateRequest(csrPem);
    const ext = csr.getExtension(SAN_OID);
    if (!ext) return undefined;
    const san = new SubjectAlternativeNameExtension(ext.rawData);
    return san.names.items.find((n) => n.type === 'url' && n.value.startsWith('spiffe://'))?.value;
  } catch {
    return undefined;
  }
}
