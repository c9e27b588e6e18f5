// The proxy's current workload certificate, key and trust bundle, and the TLS contexts built from them.
// Rotation swaps these in place: new connections use the new certificate, open ones keep the old
// (still valid) one, so rotation drops nothing. The bundle holds every root the mesh trusts right now
// (two during a root rotation), and both sides of proxy-to-proxy mTLS trust all of them, so a peer whose
// leaf comes from either root is accepted.
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';

export interface IdentityMaterial {
  keyPem: string;
  /** Leaf first, then intermediates or cross-signed roots. */
  certChain: string[];
  /** The trust bundle as PEM text: one root, or several during a root rotation. */
  rootPem: string;
  /** The same roots, one PEM each; derived from rootPem when absent. */
  trustBundle?: string[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM text, one string each. */
export function splitCertificates(pem: string): string[] {
  return (pem.match(PEM_CERT) ?? []).map((p) => p + '\n');
}

export class WorkloadIdentity extends EventEmitter {
  private material: IdentityMaterial | undefined;
  private bundle: string[] = [];
  private clientCtx: tls.SecureContext | undefined;

  get ready(): boolean {
    return this.material !== undefined;
  }

  get current(): IdentityMaterial {
    if (!this.material) throw new Error('no workload certificate yet');
    return this.material;
  }

  set(m: IdentityMaterial): void {
    const bundle = m.trustBundle?.length
      ? m.trustBundle.map((p) => p.trim() + '\n')
      : splitCertificates(m.rootPem);
    if (bundle.length === 0) throw new Error('the trust bundle holds no certificate');
    this.material = { ...m, rootPem: bundle.join(''), trustBundle: bundle };
    this.bundle = bundle;
    this.clientCtx = tls.createSecureContext(this.clientOptions());
    this.emit('rotated', this.material);
  }

  /** Replace the trust bundle and keep the certificate: 'rotated' fires, so listeners rebuild their TLS
   * contexts for new handshakes while open connections keep theirs. */
  setTrustBundle(bundle: string[]): void {
    this.set({ ...this.current, trustBundle: bundle, rootPem: bundle.join('') });
  }

  /** Every root this proxy trusts (PEM each). */
  get trustBundle(): string[] {
    return [...this.bundle];
  }

  /** Client side of proxy-to-proxy mTLS. */
  get clientContext(): tls.SecureContext {
    if (!this.clientCtx) throw new Error('no workload certificate yet');
    return this.clientCtx;
  }

  /** Client side as options: our certificate chain, and every root of the bundle to verify servers. */
  clientOptions(): tls.SecureContextOptions {
    const m = this.current;
    return { key: m.keyPem, cert: m.certChain.join('\n'), ca: [...this.bundle] };
  }

  /** Server side: our certificate chain, and only clients whose certificate chains to a root of the bundle. */
  serverOptions(): tls.SecureContextOptions {
    const m = this.current;
    return { key: m.keyPem, cert: m.certChain.join('\n'), ca: [...this.bundle] };
  }

  notAfter(): Date | undefined {
    const leaf = this.material?.certChain[0];
    return leaf ? new Date(new X509Certificate(leaf).validTo) : undefined;
  }
}
