// A fixed certificate source for grpc-js server credentials. grpc-js only offers "client certificate
// optional" through certificate providers: the Certificate call must work before a proxy has any cert,
// while the Stream call requires one (checked per call against our root).
import type { experimental } from '@grpc/grpc-js';

type Provider = experimental.CertificateProvider;

export class StaticCertificateProvider implements Provider {
  constructor(
    private readonly ca: Buffer | null,
    private readonly identity: { certificate: Buffer; privateKey: Buffer } | null,
  ) {}
  addCaCertificateListener(l: Parameters<Provider['addCaCertificateListener']>[0]): void {
    // Asynchronously: grpc-js registers its watcher only after adding our listener.
    setImmediate(() => l(this.ca ? { caCertificate: this.ca } : null));
  }
  removeCaCertificateListener(): void {}
  addIdentityCertificateListener(l: Parameters<Provider['addIdentityCertificateListener']>[0]): void {
    setImmediate(() => l(this.identity));
  }
  removeIdentityCertificateListener(): void {}
}
