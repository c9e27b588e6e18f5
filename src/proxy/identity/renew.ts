// When a workload certificate is due for renewal: node:crypto alone, so the proxy can schedule renewals
// without loading the CSR machinery (csr.ts, run in a child process: csr-process.ts).
import { X509Certificate } from 'node:crypto';

/** Milliseconds from now until a certificate (PEM) should be renewed: half of its lifetime after notBefore (like Istio), minimum 1s. */
export function renewDelayMs(certPem: string, now: number = Date.now()): number {
  const cert = new X509Certificate(certPem);
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  // The floor keeps an already-due (or expired) cert from spinning the renew loop.
  return Math.max(1000, notBefore + (notAfter - notBefore) / 2 - now);
}
