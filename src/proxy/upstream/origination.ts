// TLS origination (DestinationRule `tls.mode` SIMPLE or MUTUAL toward a host outside the mesh, or toward
// a gateway): the app speaks plain HTTP or TCP to its sidecar and the proxy speaks TLS to the endpoint,
// with the rule's SNI, trusted CAs and, for MUTUAL, its client certificate. The server certificate is
// verified (chain, and the SNI name or one of the rule's subjectAltNames) unless insecureSkipVerify.
// Built once per cluster runtime; files are read then, so a changed file is seen with the next
// snapshot that changes the cluster.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import type { OriginateTls, PemSource } from '../../model/snapshot.js';
import { H2Sessions, type H2SessionLimits } from '../transport/h2-sessions.js';

export type OriginationTls = Pick<
  ConnectionOptions,
  'secureContext' | 'servername' | 'checkServerIdentity' | 'rejectUnauthorized'
>;

/** Error code of a request that could not be sent because the rule cannot be applied. */
export const ORIGINATION_ERROR = 'ERR_WEFT_TLS_ORIGINATION';

function read(src: PemSource | undefined, what: string): string | undefined {
  if (!src) return undefined;
  if (src.pem !== undefined) return src.pem;
  if (src.file === undefined) return undefined;
  try {
    return readFileSync(src.file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${src.file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** The SANs of a certificate as Node lists them: "DNS:a.example, URI:spiffe://x, IP Address:10.0.0.1". */
function sansOf(cert: PeerCertificate): string[] {
  return (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .map((s) => s.replace(/^(DNS|URI|IP Address|email):/, ''))
    .filter((s) => s !== '');
}

export class Origination {
  /** TLS options for every connection of the cluster; undefined when `error` is set. */
  readonly tls: OriginationTls | undefined;
  /** Why this cluster cannot originate TLS: its requests fail (503 UF) rather than go out in plaintext. */
  readonly error: string | undefined;
  /** HTTP/2 sessions of this cluster only: sessions are keyed by address and SNI, not by trusted CAs. */
  readonly h2: H2Sessions;

  constructor(
    readonly config: OriginateTls,
    h2Limits?: H2SessionLimits,
  ) {
    this.h2 = new H2Sessions(h2Limits);
    let options: OriginationTls | undefined;
    let error = config.error;
    if (!error) {
      try {
        options = this.build();
      } catch (e) {
        error = (e as Error).message;
      }
    }
    this.tls = options;
    this.error = error;
  }

  private build(): OriginationTls {
    const c = this.config;
    const ca = read(c.caCertificates, 'caCertificates');
    const crl = read(c.caCrl, 'caCrl');
    const cert = read(c.clientCertificate, 'clientCertificate');
    const key = read(c.privateKey, 'privateKey');
    if (c.mode === 'MUTUAL' && (!cert || !key))
      throw new Error('tls.mode MUTUAL needs a client certificate and its private key');
    let secureContext: tls.SecureContext;
    try {
      secureContext = tls.createSecureContext({
        ...(ca ? { ca } : {}),
        ...(crl ? { crl } : {}),
        ...(cert && key ? { cert, key } : {}),
      });
    } catch (e) {
      throw new Error(`cannot use the DestinationRule's certificates: ${(e as Error).message}`);
    }
    const sni = c.sni;
    const sans = c.subjectAltNames?.map((s) => s.toLowerCase());
    const checkServerIdentity = c.insecureSkipVerify
      ? () => undefined
      : sans?.length
        ? (_host: string, peer: PeerCertificate): Error | undefined => {
            const got = sansOf(peer);
            return got.some((g) => sans.includes(g.toLowerCase()))
              ? undefined
              : Object.assign(
                  new Error(
                    `server certificate SANs [${got.join(', ')}] match none of subjectAltNames [${sans.join(', ')}]`,
                  ),
                  { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
                );
          }
        : (_host: string, peer: PeerCertificate) => tls.checkServerIdentity(sni, peer);
    return {
      secureContext,
      // An IP address is not a valid SNI (RFC 6066); it is still what the certificate is checked for.
      ...(net.isIP(sni) ? {} : { servername: sni }),
      checkServerIdentity,
      rejectUnauthorized: c.insecureSkipVerify !== true,
    };
  }
}

/** An error for an attempt that must fail without connecting (the rule cannot be applied). */
export function originationError(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`TLS origination: ${message}`), { code: ORIGINATION_ERROR });
}
