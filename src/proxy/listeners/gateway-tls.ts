// One TLS server of a gateway port, ready to take connections: a `tls.Server` (never listening: the
// port's listener hands it sockets once the ClientHello has chosen it) holding the server's certificate,
// client-certificate policy, versions and ciphers. Built once per change of its settings, not per
// connection, and kept across snapshots while its settings stay the same.
//
// Certificates named by file path are read here and watched (stat polling: it sees files replaced by a
// rename, as cert-manager and `kubectl cp` do). A change swaps the server's secure context in place with
// setSecureContext: new handshakes get the new certificate, open connections keep theirs. A new file that
// does not load (bad PEM, key and certificate not matching, half-written) leaves the old certificate in
// use and the reason in the log; the next good write is picked up.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import type net from 'node:net';
import tls from 'node:tls';
import type { GatewayTlsServer, PemSource } from '../../model/snapshot.js';
import type { Logger } from '../../lib/logger.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import { keyPair, pickPairs, type KeyPair } from './gateway-certs.js';

/** How often certificate files are looked at (size, mtime, inode), and how long writes settle. */
export const CERT_POLL_MS = 500;
const SETTLE_MS = 150;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export interface TlsServerDeps {
  identity: WorkloadIdentity;
  log: Logger;
  /** A handshake finished and the client passed every check: serve HTTP on it. */
  secure: (server: TlsServerRuntime, socket: tls.TLSSocket) => void;
}

interface Material {
  /** The server's certificates, the first one first (several: the SNI picks, see gateway-certs.ts). */
  pairs: KeyPair[];
  ca?: string;
  crl?: string;
}

const TERMINATING = new Set(['SIMPLE', 'MUTUAL', 'OPTIONAL_MUTUAL', 'ISTIO_MUTUAL']);

/** What decides whether a runtime can be kept for a new snapshot: everything but the routes. */
export function runtimeKey(listenerKey: string, s: GatewayTlsServer): string {
  const { virtualHosts, tlsRoutes: _r, tcpRoute: _t, ...settings } = s;
  return `${listenerKey}|${virtualHosts ? 'http' : 'tcp'}|${JSON.stringify(settings)}`;
}

async function readSource(src: PemSource | undefined): Promise<string | undefined> {
  if (!src) return undefined;
  if (src.pem !== undefined) return src.pem;
  if (src.file === undefined) return undefined;
  try {
    return await readFile(src.file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot read ${src.file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
}

/** One certificate and its key, checked; throws with a reason a person can act on. */
async function loadPair(certSrc: PemSource | undefined, keySrc: PemSource | undefined): Promise<KeyPair> {
  const cert = await readSource(certSrc);
  const key = await readSource(keySrc);
  if (cert === undefined || key === undefined) throw new Error('no certificate or private key');
  const blocks = cert.match(PEM_CERT) ?? [];
  if (!blocks.length) throw new Error(`${where(certSrc)} holds no PEM certificate`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]!);
  } catch (e) {
    throw new Error(`${where(certSrc)} is not a valid certificate: ${(e as Error).message}`);
  }
  let pk;
  try {
    pk = createPrivateKey(key);
  } catch (e) {
    throw new Error(`${where(keySrc)} is not a valid private key: ${(e as Error).message}`);
  }
  if (!leaf.checkPrivateKey(pk))
    throw new Error(
      `the private key (${where(keySrc)}) does not belong to the certificate (${where(certSrc)})`,
    );
  return keyPair(cert, key);
}

/** Load and check everything the server needs; throws with a reason a person can act on. */
async function loadMaterial(s: GatewayTlsServer): Promise<Material> {
  const pairs = [await loadPair(s.certificate, s.privateKey)];
  for (const more of s.moreCertificates ?? []) pairs.push(await loadPair(more.certificate, more.privateKey));
  const m: Material = { pairs };
  const ca = await readSource(s.caCertificates);
  const crl = await readSource(s.caCrl);
  if (ca !== undefined) {
    if (!(ca.match(PEM_CERT) ?? []).length)
      throw new Error(`${where(s.caCertificates)} holds no PEM certificate`);
    m.ca = ca;
  }
  if (crl !== undefined) m.crl = crl;
  return m;
}

function where(src: PemSource | undefined): string {
  return src?.file ?? 'the Secret';
}

function sanList(cert: tls.PeerCertificate): string[] {
  return (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter(Boolean)
    .map((e) => e.slice(e.indexOf(':') + 1));
}

/** Envoy's validation on top of the chain: SAN, certificate hash and SPKI pins (either pin may match). */
function clientCheck(s: GatewayTlsServer, socket: tls.TLSSocket): string | undefined {
  const peer = socket.getPeerCertificate();
  const present = peer && Object.keys(peer).length > 0;
  if (!present) return s.mode === 'OPTIONAL_MUTUAL' ? undefined : 'no client certificate';
  if (!socket.authorized)
    return s.allowUnverified
      ? undefined
      : `client certificate rejected: ${String(socket.authorizationError)}`;
  if (s.subjectAltNames?.length) {
    const sans = sanList(peer);
    if (!s.subjectAltNames.some((n) => sans.includes(n)))
      return `client certificate SANs [${sans.join(', ')}] match none of subjectAltNames`;
  }
  const pins = [...(s.verifyCertificateHash ?? []), ...(s.verifyCertificateSpki ?? [])];
  if (pins.length) {
    const hash = createHash('sha256').update(peer.raw).digest('hex');
    const spki = createHash('sha256')
      .update(new X509Certificate(peer.raw).publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64');
    const okHash = (s.verifyCertificateHash ?? []).some((h) => h.replaceAll(':', '').toLowerCase() === hash);
    const okSpki = (s.verifyCertificateSpki ?? []).includes(spki);
    if (!okHash && !okSpki)
      return 'client certificate matches neither verifyCertificateHash nor verifyCertificateSpki';
  }
  return undefined;
}

export class TlsServerRuntime {
  /** Why handshakes for this server are refused; undefined while it serves. */
  broken: string | undefined;
  private server: tls.Server | undefined;
  private readonly stops: Array<() => void> = [];
  private reloading: NodeJS.Timeout | undefined;
  /** What handshakes use now, and the secure contexts built from it per SNI choice. */
  private material: Material | undefined;
  private readonly contexts = new Map<string, tls.SecureContext>();
  private closed = false;

  private constructor(
    readonly key: string,
    /** The listener (bind:port) it serves. */
    readonly listener: string,
    readonly config: GatewayTlsServer,
    private readonly deps: TlsServerDeps,
  ) {}

  /** Build the server; a problem makes it `broken` (never throws for bad certificates). */
  static async create(
    key: string,
    listener: string,
    config: GatewayTlsServer,
    deps: TlsServerDeps,
  ): Promise<TlsServerRuntime> {
    const r = new TlsServerRuntime(key, listener, config, deps);
    if (!TERMINATING.has(config.mode)) return r; // PASSTHROUGH: bytes are routed, nothing to hold
    if (config.error) {
      r.broken = config.error;
      return r;
    }
    try {
      r.server = r.makeServer(
        config.mode === 'ISTIO_MUTUAL' ? r.meshOptions() : r.use(await loadMaterial(config)),
      );
    } catch (e) {
      r.broken = (e as Error).message;
    }
    // Watch files even when they do not load yet: the next good write repairs the server.
    r.watchFiles();
    if (config.mode === 'ISTIO_MUTUAL') {
      const rotated = () => r.server?.setSecureContext(r.meshOptions());
      deps.identity.on('rotated', rotated);
      r.stops.push(() => deps.identity.off('rotated', rotated));
    }
    return r;
  }

  get terminating(): boolean {
    return TERMINATING.has(this.config.mode);
  }

  /** Hand over a socket whose ClientHello chose this server (the bytes are still unread). */
  accept(socket: net.Socket): void {
    if (!this.server) {
      socket.destroy();
      return;
    }
    this.server.emit('connection', socket);
    process.nextTick(() => socket.resume());
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reloading);
    for (const stop of this.stops.splice(0)) stop();
  }

  /** Make `m` the material handshakes use; returns the options of the default context. */
  private use(m: Material): tls.TlsOptions {
    const secure = this.options(m, undefined);
    tls.createSecureContext(secure); // throws now, with the reason, rather than at a handshake
    this.material = m;
    this.contexts.clear();
    return secure;
  }

  /** Several certificates: the client's SNI picks (one secure context per choice, built once). */
  private contextFor(sni: string): tls.SecureContext | undefined {
    const m = this.material;
    if (!m) return undefined;
    const pairs = pickPairs(m.pairs, sni);
    const key = pairs.map((p) => m.pairs.indexOf(p)).join(',');
    let ctx = this.contexts.get(key);
    if (!ctx) {
      ctx = tls.createSecureContext(this.options(m, sni));
      this.contexts.set(key, ctx);
    }
    return ctx;
  }

  private options(m: Material, sni: string | undefined): tls.TlsOptions {
    const s = this.config;
    const mutual = s.mode === 'MUTUAL' || s.mode === 'OPTIONAL_MUTUAL';
    const pairs = m.pairs.length > 1 ? pickPairs(m.pairs, sni) : m.pairs;
    return {
      cert: pairs.map((p) => p.cert),
      key: pairs.map((p) => p.key),
      ...(mutual && m.ca ? { ca: m.ca } : {}),
      ...(mutual && m.crl ? { crl: m.crl } : {}),
      ...(s.minVersion ? { minVersion: s.minVersion } : {}),
      ...(s.maxVersion ? { maxVersion: s.maxVersion } : {}),
      ...(s.cipherSuites?.length ? { ciphers: s.cipherSuites.join(':') } : {}),
    };
  }

  private meshOptions(): tls.TlsOptions {
    return { ...this.deps.identity.serverOptions(), minVersion: 'TLSv1.2' };
  }

  private makeServer(secure: tls.TlsOptions): tls.Server {
    const s = this.config;
    const mutual = s.mode !== 'SIMPLE';
    tls.createSecureContext(secure); // throws now, with the reason, rather than at the first handshake
    const server = tls.createServer(
      {
        ...secure,
        // HTTPS servers speak h2 or HTTP/1.1; a TLS server's bytes go to a TCP route, so no ALPN.
        ...(s.virtualHosts ? { ALPNProtocols: ['h2', 'http/1.1'] } : {}),
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        requestCert: mutual,
        // OPTIONAL_MUTUAL: a client without a certificate is let in; a bad certificate is not (below).
        rejectUnauthorized: mutual && s.mode !== 'OPTIONAL_MUTUAL',
        ...(s.moreCertificates?.length
          ? {
              SNICallback: (name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) => {
                try {
                  cb(null, this.contextFor(name));
                } catch (e) {
                  cb(e as Error);
                }
              },
            }
          : {}),
      },
      (socket) => {
        socket.on('error', () => socket.destroy());
        const problem = mutual ? clientCheck(s, socket) : undefined;
        if (problem) {
          this.deps.log.debug('client refused', { server: s.name, reason: problem });
          return void socket.destroy();
        }
        this.deps.secure(this, socket);
      },
    );
    server.on('tlsClientError', (e, socket) => {
      this.deps.log.debug('TLS handshake failed', { server: s.name, error: e.message });
      socket.destroy();
    });
    return server;
  }

  private watchFiles(): void {
    const files = [
      this.config.certificate,
      this.config.privateKey,
      ...(this.config.moreCertificates ?? []).flatMap((c) => [c.certificate, c.privateKey]),
      this.config.caCertificates,
      this.config.caCrl,
    ]
      .map((src) => src?.file)
      .filter((f): f is string => f !== undefined);
    for (const file of new Set(files)) {
      const onChange = (cur: fs.Stats, prev: fs.Stats) => {
        if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
        clearTimeout(this.reloading);
        this.reloading = setTimeout(() => void this.reload(file), SETTLE_MS);
      };
      fs.watchFile(file, { interval: CERT_POLL_MS, persistent: false }, onChange);
      this.stops.push(() => fs.unwatchFile(file, onChange));
    }
  }

  private async reload(file: string): Promise<void> {
    const s = this.config;
    let secure: tls.TlsOptions;
    try {
      secure = this.use(await loadMaterial(s));
    } catch (e) {
      if (this.closed) return;
      const reason = (e as Error).message;
      if (this.server)
        this.deps.log.warn('certificate change not applied, keeping the previous certificate', {
          server: s.name,
          file,
          reason,
        });
      else this.deps.log.warn('certificate still does not load', { server: s.name, file, reason });
      return;
    }
    if (this.closed) return;
    if (this.server) this.server.setSecureContext(secure);
    else this.server = this.makeServer(secure);
    this.broken = undefined;
    const leaf = new X509Certificate((secure.cert as string[])[0]!.match(PEM_CERT)![0]!);
    this.deps.log.info('certificate reloaded', {
      server: s.name,
      file,
      subject: leaf.subject.replaceAll('\n', ', '),
      notAfter: leaf.validTo,
    });
  }
}
