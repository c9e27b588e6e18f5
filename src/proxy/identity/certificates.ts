// The proxy's current workload certificate, key and trust root, and the TLS contexts built from them.
// Rotation swaps these in place: new connections use the new certificate, open ones keep the old
// (still valid) one, so rotation drops nothing.
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';

export interface IdentityMaterial {
  keyPem: string;
  certChain: string[];
  rootPem: string;
}

export class WorkloadIdentity extends EventEmitter {
  private material: IdentityMaterial | undefined;
  private clientCtx: tls.SecureContext | undefined;

  get ready(): boolean {
    return this.material !== undefined;
  }

  get current(): IdentityMaterial {
    if (!this.material) throw new Error('no workload certificate yet');
    return this.material;
  }

  set(m: IdentityMaterial): void {
    this.material = m;
    this.clientCtx = tls.createSecureContext({ key: m.keyPem, cert: m.certChain.join('\n'), ca: m.rootPem });
    this.emit('rotated', m);
  }

  /** Client side of proxy-to-proxy mTLS. */
  get clientContext(): tls.SecureContext {
    if (!this.clientCtx) throw new Error('no workload certificate yet');
    return this.clientCtx;
  }

  /** Server side: our certificate, and only clients whose certificate our root signed. */
  serverOptions(): tls.SecureContextOptions {
    const m = this.current;
    return { key: m.keyPem, cert: m.certChain.join('\n'), ca: m.rootPem };
  }

  notAfter(): Date | undefined {
    const leaf = this.material?.certChain[0];
    return leaf ? new Date(new X509Certificate(leaf).validTo) : undefined;
  }
}
