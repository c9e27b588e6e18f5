// The discovery server: signs workload certificates and streams one versioned snapshot per proxy.
// Certificates: a first certificate needs a single-use bootstrap token bound to one workload identity;
// renewals are authenticated by the proxy's current certificate. Streams: the proxy must present a
// certificate from our CA whose SPIFFE ID matches the workload it claims to be.
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import type { CertificateAuthority } from '../ca/authority.js';
import type { BootstrapTokens } from '../ca/tokens.js';
import type { ConfigStore } from '../store/file-store.js';
import type { Registry } from '../registry/registry.js';
import {
  DISCOVERY_SERVICE,
  type CertificateRequest,
  type CertificateResponse,
  type ControlMessage,
  type ProxyHello,
  type ProxyMessage,
} from '../../model/discovery.js';
import type { ProxySnapshot } from '../../model/snapshot.js';
import { MeshIndex, type MeshSettings } from '../../config/compile/inputs.js';
import { compileSnapshot } from '../../config/compile/snapshot.js';
import { certSpiffeId, spiffeId } from '../../lib/spiffe.js';
import type { Workload } from '../../config/types.js';
import { StaticCertificateProvider } from './static-certs.js';
import { requestedSpiffeId } from './csr-names.js';
import { reissueWindowMs, trustBundleMessage } from './trust-bundle.js';
import type { Logger } from '../../lib/logger.js';
import { Histogram } from '../../proxy/telemetry/histogram.js';
import { performance } from 'node:perf_hooks';

type Duplex = grpc.ServerDuplexStream<ProxyMessage, ControlMessage>;

export interface ProxyStatus {
  id: string;
  workload: string;
  namespace: string;
  kind: 'sidecar' | 'gateway';
  identity: string;
  connectedAt: string;
  served?: string;
  acked?: string;
  nack?: { version: string; reason: string; at: string };
  adminPort?: number;
  metricsPort?: number;
  inbound: { address: string; port: number };
}

interface Connection {
  call: Duplex;
  hello: ProxyHello;
  status: ProxyStatus;
  labels: Record<string, string>;
  serviceAccount: string;
  lastJson?: string;
  snapshot?: ProxySnapshot;
  /** The trust bundle last sent; once ACKed it is what `weft proxy-config PROXY secrets` shows. */
  bundle?: { version: string; trustBundle: string[] };
}

export interface PushServerDeps {
  ca: CertificateAuthority;
  tokens: BootstrapTokens;
  store: ConfigStore;
  registry: Registry;
  mesh: MeshSettings;
  log: Logger;
  /** The control plane's own certificate; chainPem (intermediates, cross-signed root) is sent after it. */
  servingCert: ServingCert;
  debounceMs?: number;
}

export interface ServingCert {
  certPem: string;
  keyPem: string;
  chainPem?: string[];
}

const identityOf = (c: ServingCert) => ({
  certificate: Buffer.from([c.certPem, ...(c.chainPem ?? [])].join('\n')),
  privateKey: Buffer.from(c.keyPem),
});

function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

/** What a proxy was given at its last certificate signing. */
export interface IssuedCertificate {
  chain: string[]; // PEM, leaf first
  trustBundle: string[]; // PEM roots
  issuedAt: string;
}

export class PushServer {
  private readonly issued = new Map<string, IssuedCertificate>();
  private readonly server = new grpc.Server();
  private readonly conns = new Map<string, Connection>();
  private timer: NodeJS.Timeout | undefined;
  private readonly debounceMs: number;
  // What the discovery port serves; both change after a root rotation (new connections only).
  private readonly identityProvider: StaticCertificateProvider;
  private readonly caProvider: StaticCertificateProvider;
  // The signer the connected proxies were last told about: a change means their leaves need re-issuing.
  private signerPem: string;
  private readonly onCaChange = () => {
    this.caProvider.updateCa(Buffer.from(this.deps.ca.trustBundlePem));
    this.pushTrustBundle();
  };
  pushes = 0;
  pushErrors = 0;
  // For the control plane's /metrics (see api/metrics.ts for names and buckets).
  nacks = 0;
  csrs = 0;
  csrAuthFailures = 0;
  readonly pushTime = new Histogram([0.001, 0.005, 0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30]); // seconds
  readonly pushSize = new Histogram([1e3, 1e4, 1e5, 1e6, 4e6, 1e7, 4e7]); // bytes

  constructor(private readonly deps: PushServerDeps) {
    this.debounceMs = deps.debounceMs ?? 100;
    this.signerPem = deps.ca.signerCertPem;
    this.server.addService(DISCOVERY_SERVICE, {
      certificate: (
        call: grpc.ServerUnaryCall<CertificateRequest, CertificateResponse>,
        cb: grpc.sendUnaryData<CertificateResponse>,
      ) => void this.certificate(call, cb),
      stream: (call: Duplex) => this.stream(call),
    });
    this.identityProvider = new StaticCertificateProvider(null, identityOf(deps.servingCert));
    this.caProvider = new StaticCertificateProvider(Buffer.from(deps.ca.trustBundlePem), null);
    deps.ca.on('change', this.onCaChange);
    deps.store.on('change', () => this.schedulePush());
    deps.registry.on('change', () => this.schedulePush());
  }

  async listen(host: string, port: number): Promise<number> {
    const creds = grpc.experimental.createCertificateProviderServerCredentials(
      this.identityProvider,
      this.caProvider,
      false,
    );
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`${host}:${port}`, creds, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
  }

  /** Serve another certificate (after a root rotation) to new connections; open streams keep theirs. */
  setServingCert(cert: ServingCert): void {
    this.identityProvider.updateIdentity(identityOf(cert));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.deps.ca.off('change', this.onCaChange);
    for (const c of this.conns.values()) c.call.end();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
  }

  statuses(): ProxyStatus[] {
    return [...this.conns.values()].map((c) => c.status).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The certificate chain and trust bundle last issued to a proxy (by the id it gave), if any. */
  issuedTo(id: string): IssuedCertificate | undefined {
    return this.issued.get(id);
  }

  snapshotOf(id: string): ProxySnapshot | undefined {
    return this.conns.get(id)?.snapshot;
  }

  /** The caller's SPIFFE ID when it presented a certificate that chains to a root of the trust bundle. */
  private peerIdentity(call: {
    getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null;
  }): string | undefined {
    const peer = call.getAuthContext()?.sslPeerCertificate;
    if (!peer?.raw) return undefined;
    if (!this.deps.ca.verifyPeer(peer.raw)) return undefined;
    return certSpiffeId(new X509Certificate(peer.raw));
  }

  private async certificate(
    call: grpc.ServerUnaryCall<CertificateRequest, CertificateResponse>,
    cb: grpc.sendUnaryData<CertificateResponse>,
  ): Promise<void> {
    const { ca, tokens, log, mesh } = this.deps;
    const req = call.request;
    this.csrs++;
    let identity: string | undefined;
    if (req.token) {
      const binding = tokens.redeem(req.token);
      if (!binding) {
        this.csrAuthFailures++;
        log.warn('certificate refused: bootstrap token unknown, expired or already used', {
          proxy: req.proxyId,
        });
        return cb(
          grpcError(grpc.status.UNAUTHENTICATED, 'bootstrap token is unknown, expired or already used'),
        );
      }
      identity = spiffeId(mesh.trustDomain, binding.namespace, binding.serviceAccount);
    } else {
      identity = this.peerIdentity(call);
      if (!identity) {
        this.csrAuthFailures++;
        log.warn('certificate refused: no bootstrap token and no valid client certificate', {
          proxy: req.proxyId,
        });
        return cb(
          grpcError(grpc.status.UNAUTHENTICATED, 'a bootstrap token or a valid mesh certificate is required'),
        );
      }
    }
    const asked = requestedSpiffeId(req.csr);
    if (asked && asked !== identity) {
      log.warn('certificate refused: proxy asked for an identity it does not own', {
        proxy: req.proxyId,
        asked,
        owns: identity,
      });
      return cb(
        grpcError(grpc.status.PERMISSION_DENIED, `identity ${asked} is not yours (you are ${identity})`),
      );
    }
    try {
      const signed = await ca.signCsr(req.csr, identity);
      log.info('certificate issued', {
        proxy: req.proxyId,
        identity,
        notAfter: signed.notAfter.toISOString(),
      });
      // For `weft proxy-config PROXY secrets`: the last chain and bundle each proxy was given.
      this.issued.set(req.proxyId, {
        chain: signed.certChainPem,
        trustBundle: signed.trustBundle,
        issuedAt: new Date().toISOString(),
      });
      if (this.issued.size > 10_000) this.issued.delete(this.issued.keys().next().value!);
      cb(null, {
        certChain: signed.certChainPem,
        rootCert: signed.trustBundle.join(''),
        trustBundle: signed.trustBundle,
      });
    } catch (e) {
      cb(grpcError(grpc.status.INVALID_ARGUMENT, (e as Error).message));
    }
  }

  private stream(call: Duplex): void {
    const identity = this.peerIdentity(call);
    const leaf = call.getAuthContext()?.sslPeerCertificate?.raw;
    let conn: Connection | undefined;
    const fail = (code: grpc.status, msg: string) => {
      this.deps.log.warn(`stream refused: ${msg}`);
      call.emit('error', grpcError(code, msg));
    };
    if (!identity) return fail(grpc.status.UNAUTHENTICATED, 'a valid mesh client certificate is required');

    call.on('data', (msg: ProxyMessage) => {
      if (!conn) {
        if (msg.type !== 'hello')
          return fail(grpc.status.INVALID_ARGUMENT, 'the first message must be hello');
        conn = this.register(call, msg, identity, fail);
        // A proxy that was away during a rotation learns the bundle now, and renews a leaf from a replaced root.
        if (conn)
          this.sendBundle(
            conn,
            leaf && !this.deps.ca.signedByCurrentSigner(leaf) ? reissueWindowMs(this.conns.size) : undefined,
          );
        return;
      }
      this.onMessage(conn, msg);
    });
    const drop = () => {
      if (conn && this.conns.get(conn.hello.id) === conn) {
        this.conns.delete(conn.hello.id);
        this.deps.registry.remove(conn.hello.id);
        this.deps.log.info('proxy disconnected', { proxy: conn.hello.id });
      }
    };
    call.on('end', () => {
      drop();
      call.end();
    });
    call.on('cancelled', drop);
    call.on('close', drop);
    call.on('error', drop);
  }

  private register(
    call: Duplex,
    hello: ProxyHello,
    identity: string,
    fail: (code: grpc.status, msg: string) => void,
  ): Connection | undefined {
    const { store, registry, mesh, log } = this.deps;
    const workload = store.get('Workload', hello.namespace, hello.workload) as Workload | undefined;
    if (!workload) {
      fail(grpc.status.NOT_FOUND, `no Workload ${hello.namespace}/${hello.workload} in the mesh config`);
      return undefined;
    }
    const sa = workload.spec.serviceAccount ?? 'default';
    const expected = spiffeId(mesh.trustDomain, hello.namespace, sa);
    if (identity !== expected) {
      fail(
        grpc.status.PERMISSION_DENIED,
        `proxy ${hello.id} holds ${identity} but workload needs ${expected}`,
      );
      return undefined;
    }
    const labels = workload.metadata.labels ?? {};
    const old = this.conns.get(hello.id);
    if (old) old.call.end();
    const conn: Connection = {
      call,
      hello,
      labels,
      serviceAccount: sa,
      status: {
        id: hello.id,
        workload: hello.workload,
        namespace: hello.namespace,
        kind: hello.kind,
        identity,
        connectedAt: new Date().toISOString(),
        inbound: hello.inbound,
        ...(hello.adminPort ? { adminPort: hello.adminPort } : {}),
        ...(hello.metricsPort ? { metricsPort: hello.metricsPort } : {}),
        ...(hello.version ? { acked: hello.version } : {}),
      },
    };
    this.conns.set(hello.id, conn);
    log.info('proxy connected', { proxy: hello.id, identity });
    // Registering triggers a debounced push to everyone; this proxy also gets its snapshot right away.
    this.registerInstance(conn, registry.get(hello.id)?.ready ?? false);
    if (hello.version) conn.status.served = hello.version;
    this.pushOne(conn, this.index());
    return conn;
  }

  /** Puts a connected proxy's instance in the registry (again, after a missed-heartbeat sweep). */
  private registerInstance(conn: Connection, ready: boolean): void {
    const { hello } = conn;
    this.deps.registry.upsert({
      id: hello.id,
      workload: hello.workload,
      namespace: hello.namespace,
      labels: conn.labels,
      serviceAccount: conn.serviceAccount,
      spiffeId: conn.status.identity,
      kind: hello.kind,
      address: hello.inbound.address,
      inboundPort: hello.inbound.port,
      ...(hello.adminPort ? { adminPort: hello.adminPort } : {}),
      ready,
    });
  }

  private onMessage(conn: Connection, msg: ProxyMessage): void {
    const { registry, log } = this.deps;
    // A proxy that was swept for missing heartbeats (a stall) but is still connected comes back as soon
    // as it speaks; it is not ready until it reports so again.
    if (!registry.get(conn.hello.id)) this.registerInstance(conn, msg.type === 'health' && msg.ready);
    registry.heartbeat(conn.hello.id);
    switch (msg.type) {
      case 'ack':
        conn.status.acked = msg.version;
        break;
      case 'nack':
        this.nacks++;
        conn.status.nack = { version: msg.version, reason: msg.reason, at: new Date().toISOString() };
        log.warn('proxy rejected config', { proxy: conn.hello.id, version: msg.version, reason: msg.reason });
        break;
      case 'health':
        registry.setReady(conn.hello.id, msg.ready);
        break;
      case 'trust-bundle-ack': {
        const issued = this.issued.get(conn.hello.id);
        if (issued && conn.bundle?.version === msg.version)
          this.issued.set(conn.hello.id, { ...issued, trustBundle: conn.bundle.trustBundle });
        break;
      }
      default:
        break;
    }
  }

  /** The CA's bundle changed (root rotation, end of an overlap): every connected proxy gets it now, and
   * when the signer changed, is asked to renew its certificate from the new one. */
  private pushTrustBundle(): void {
    const signer = this.deps.ca.signerCertPem;
    const rotated = signer !== this.signerPem;
    this.signerPem = signer;
    const window = rotated ? reissueWindowMs(this.conns.size) : undefined;
    for (const conn of this.conns.values()) this.sendBundle(conn, window);
    this.deps.log.info('trust bundle pushed', {
      proxies: this.conns.size,
      roots: this.deps.ca.trustBundle().length,
      ...(window !== undefined ? { reissueWithinMs: window } : {}),
    });
  }

  private sendBundle(conn: Connection, reissueWithinMs?: number): void {
    const msg = trustBundleMessage(this.deps.ca.trustBundle(), reissueWithinMs);
    conn.bundle = { version: msg.version, trustBundle: msg.trustBundle };
    conn.call.write(msg satisfies ControlMessage);
  }

  /** A push is scheduled and not sent yet (changes are debounced). */
  get pushPending(): boolean {
    return this.timer !== undefined;
  }

  /** Every connected proxy acknowledged the last snapshot it was sent, and no push is waiting. */
  allSynced(): boolean {
    if (this.pushPending) return false;
    return [...this.conns.values()].every(
      (c) => c.status.served === undefined || c.status.acked === c.status.served,
    );
  }

  private schedulePush(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pushAll();
    }, this.debounceMs);
  }

  private index(): MeshIndex {
    const instances = this.deps.registry.list();
    return new MeshIndex(this.deps.store.list(), instances, this.deps.mesh);
  }

  pushAll(): void {
    const index = this.index();
    for (const conn of this.conns.values()) this.pushOne(conn, index);
  }

  private pushOne(conn: Connection, index: MeshIndex): void {
    const { hello } = conn;
    const started = performance.now();
    try {
      const compiled = compileSnapshot(index, {
        id: hello.id,
        workload: hello.workload,
        namespace: hello.namespace,
        serviceAccount: conn.serviceAccount,
        spiffeId: conn.status.identity,
        labels: conn.labels,
        kind: hello.kind,
      });
      const json = JSON.stringify(compiled);
      if (json === conn.lastJson) return;
      const version = createHash('sha256').update(json).digest('hex').slice(0, 12);
      conn.lastJson = json;
      const snapshot: ProxySnapshot = { version, ...compiled };
      conn.snapshot = snapshot;
      if (version === conn.status.served && version === conn.status.acked) return; // reconnect, unchanged
      conn.status.served = version;
      conn.call.write({ type: 'snapshot', version, snapshot } satisfies ControlMessage);
      this.pushes++;
      this.pushTime.observe((performance.now() - started) / 1000);
      this.pushSize.observe(Buffer.byteLength(json));
    } catch (e) {
      this.pushErrors++;
      this.deps.log.error('could not compile config for proxy', {
        proxy: hello.id,
        error: (e as Error).message,
      });
    }
  }
}
