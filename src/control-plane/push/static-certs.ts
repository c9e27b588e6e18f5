// Certificate sources for grpc-js server credentials. grpc-js only offers "client certificate optional"
// through certificate providers: the Certificate call must work before a proxy has any cert, while the
// Stream call requires one (checked per call against the trust bundle). A provider can also change what it
// serves: after a root rotation the control plane serves a certificate from the new root and asks for
// client certificates from every root of the bundle; grpc-js swaps the TLS context for new connections.
import type { experimental } from '@grpc/grpc-js';

type Provider = experimental.CertificateProvider;
type CaListener = Parameters<Provider['addCaCertificateListener']>[0];
type IdentityListener = Parameters<Provider['addIdentityCertificateListener']>[0];
type Identity = { certificate: Buffer; privateKey: Buffer };

export class StaticCertificateProvider implements Provider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(
    private ca: Buffer | null,
    private identity: Identity | null,
  ) {}

  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    // Asynchronously: grpc-js registers its watcher only after adding our listener.
    setImmediate(() => l(this.ca ? { caCertificate: this.ca } : null));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.add(l);
    setImmediate(() => l(this.identity));
  }
  removeIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.delete(l);
  }

  /** Serve other CA certificates (PEM, several allowed) from now on. */
  updateCa(ca: Buffer): void {
    this.ca = ca;
    for (const l of this.caListeners) l({ caCertificate: ca });
  }

  /** Serve another certificate chain and key from now on. */
  updateIdentity(identity: Identity): void {
    this.identity = identity;
    for (const l of this.identityListeners) l(identity);
  }
}
