// Istio Gateway servers with TLS (ServerTLSSettings) -> the `tls` part of a gateway listener. What the
// proxy gets is ready to use: certificates from a Secret (credentialName) travel as PEM text, files
// named by serverCertificate/privateKey/caCertificates as paths the gateway proxy reads and watches.
// Istio's rules are followed where they decide something the user can see:
//  - `tls.mode` defaults to PASSTHROUGH (the proto's zero value), also on an HTTPS server;
//  - credentialName names a Secret in the gateway proxy's own namespace ("ns/name" for that same
//    namespace is accepted): keys `cert`/`key` or `tls.crt`/`tls.key`; for MUTUAL the CA comes from the
//    Secret `<name>-cacert` when it exists, else from the same Secret (`cacert` or `ca.crt`);
//  - the SNI names a server answers are its hosts without the "ns/" part; "*" answers any name;
//  - ISTIO_MUTUAL takes the mesh certificate and requires clients with a mesh certificate;
//  - min/max protocol versions default to TLS 1.2 and 1.3; cipher suites not in Envoy's list are ignored.
// A server that cannot be served (no such Secret, a Secret without the keys, PEM that does not parse,
// settings Istio rejects) still appears, with `error`: its handshakes are refused and the proxy logs why,
// as an Envoy filter chain whose SDS secret is missing does.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type {
  GatewayTlsMode,
  GatewayTlsServer,
  PemSource,
  TlsRoute,
  WeightedCluster,
} from '../../model/snapshot.js';
import { clusterName } from '../../model/snapshot.js';
import type { Gateway, GatewayServer, VirtualService } from '../types.js';
import { secretValue } from '../schemas/secret.js';
import { hostMatches } from '../hosts.js';
import type { MeshIndex } from './inputs.js';

/** ServerTLSSettings as Istio defines it; the schema keeps these fields as they were written. */
export interface ServerTlsSettings {
  httpsRedirect?: boolean;
  mode?: string;
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCrl?: string;
  credentialName?: string;
  credentialNames?: string[];
  tlsCertificates?: Array<{ serverCertificate?: string; privateKey?: string; caCertificates?: string }>;
  subjectAltNames?: string[];
  verifyCertificateSpki?: string[];
  verifyCertificateHash?: string[];
  minProtocolVersion?: string;
  maxProtocolVersion?: string;
  cipherSuites?: string[];
}

/** VirtualService `tls` rules (TLSRoute): matched by SNI, routed as raw bytes. */
interface TlsRule {
  match?: Array<{
    sniHosts: string[];
    port?: number;
    gateways?: string[];
    destinationSubnets?: string[];
    sourceLabels?: Record<string, string>;
    sourceNamespace?: string;
  }>;
  route?: Array<{
    destination: { host: string; subset?: string; port?: { number?: number } };
    weight?: number;
  }>;
}

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
const MODES: readonly GatewayTlsMode[] = [
  'SIMPLE',
  'MUTUAL',
  'OPTIONAL_MUTUAL',
  'ISTIO_MUTUAL',
  'PASSTHROUGH',
  'AUTO_PASSTHROUGH',
];
const VERSIONS = {
  TLSV1_0: 'TLSv1',
  TLSV1_1: 'TLSv1.1',
  TLSV1_2: 'TLSv1.2',
  TLSV1_3: 'TLSv1.3',
} as const;
const VERSION_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** Envoy's cipher suites, as Istio accepts them (security.ValidCipherSuites); OpenSSL uses the same names. */
export const ENVOY_CIPHER_SUITES: ReadonlySet<string> = new Set([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-PSK-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-PSK-AES128-CBC-SHA',
  'AES128-GCM-SHA256',
  'AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'ECDHE-PSK-AES256-CBC-SHA',
  'AES256-GCM-SHA384',
  'AES256-SHA',
  'PSK-AES128-CBC-SHA',
  'PSK-AES256-CBC-SHA',
  'DES-CBC3-SHA',
]);

export function serverTls(server: GatewayServer): ServerTlsSettings | undefined {
  return server.tls as ServerTlsSettings | undefined;
}

/** Istio's default mode is the enum's zero value, PASSTHROUGH. */
export function tlsMode(server: GatewayServer): string {
  return (serverTls(server)?.mode ?? 'PASSTHROUGH').toUpperCase();
}

/** What a server does with a connection: plain HTTP, TLS then HTTP, TLS bytes routed by SNI, or plain
 *  TCP bytes sent where the VirtualService tcp route says. */
export type ServerKind = 'http' | 'https' | 'passthrough' | 'tls-terminate' | 'tcp' | 'other';

/** Istio serves these as opaque TCP at a gateway (its protocol.IsTCP). */
const TCP_PROTOCOLS = new Set(['TCP', 'MONGO', 'REDIS', 'MYSQL']);

/** Istio's IsHTTPServer / IsTLSServer / IsPassThroughServer, as one answer. */
export function serverKind(server: GatewayServer): ServerKind {
  const protocol = server.port.protocol.toUpperCase();
  if (HTTP_PROTOCOLS.has(protocol)) return 'http';
  if (TCP_PROTOCOLS.has(protocol)) return 'tcp';
  if (protocol !== 'HTTPS' && protocol !== 'TLS') return 'other';
  if (!server.tls) return 'other'; // rejected by validation: a HTTPS/TLS server needs tls settings
  const mode = tlsMode(server);
  if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') return 'passthrough';
  return protocol === 'HTTPS' ? 'https' : 'tls-terminate'; // TLS: the bytes inside follow tcp routes
}

/** The server's hosts without their "ns/" part, lower-case, in order, without duplicates. */
export function plainHosts(server: GatewayServer): string[] {
  const out: string[] = [];
  for (const h of server.hosts) {
    const host = (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h).toLowerCase();
    if (!out.includes(host)) out.push(host);
  }
  return out;
}

/** The SNI names a TLS server answers (Istio's GetSNIHostsForServer); "*" means any, which is []. */
export function sniHostsOf(server: GatewayServer): string[] {
  const hosts = plainHosts(server);
  return hosts.includes('*') ? [] : hosts;
}

/** Istio's host.Names Intersection: for each pair that overlaps, the more specific of the two. */
export function intersectHosts(serverHosts: string[], vsHosts: string[]): string[] {
  const out: string[] = [];
  const add = (h: string) => void (out.includes(h) || out.push(h));
  for (const v of vsHosts)
    for (const s of serverHosts) {
      if (hostMatches(s, v)) add(v);
      else if (hostMatches(v, s)) add(s);
    }
  return out;
}

// ---- certificates ----------------------------------------------------------------------------------

class TlsProblem extends Error {}

function pemCertificates(text: string, what: string): void {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TlsProblem(`${what} holds no PEM certificate`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new TlsProblem(`${what} is not a valid certificate: ${(e as Error).message}`);
    }
  }
}

/** Parse what the proxy would load, so a bad Secret is reported once, here, with its name. */
function checkKeyPair(certPem: string, keyPem: string, what: string): void {
  pemCertificates(certPem, `${what}: the certificate`);
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new TlsProblem(`${what}: the private key does not parse: ${(e as Error).message}`);
  }
  const leaf = new X509Certificate(
    certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0],
  );
  if (!leaf.checkPrivateKey(key))
    throw new TlsProblem(`${what}: the private key does not belong to the certificate`);
}

function secretText(index: MeshIndex, ns: string, name: string, keys: string[]): string | undefined {
  const s = index.secrets.get(`${ns}/${name}`);
  for (const k of keys) {
    const v = s && secretValue(s.spec, k);
    if (v && v.length) return v.toString('utf8');
  }
  return undefined;
}

interface Credential {
  certificate: PemSource;
  privateKey: PemSource;
  caCertificates?: PemSource;
}

/** credentialName -> PEMs, as Istio's secret controller reads a Secret (pilot/pkg/credentials/kube). */
function fromSecret(index: MeshIndex, ref: string, proxyNs: string, wantCa: boolean): Credential {
  const slash = ref.indexOf('/');
  const ns = slash < 0 ? proxyNs : ref.slice(0, slash);
  const name = slash < 0 ? ref : ref.slice(slash + 1);
  if (ns !== proxyNs)
    throw new TlsProblem(
      `credentialName ${JSON.stringify(ref)}: a gateway reads Secrets from its own namespace ${JSON.stringify(proxyNs)} only`,
    );
  const secret = index.secrets.get(`${ns}/${name}`);
  if (!secret)
    throw new TlsProblem(
      `credentialName: Secret ${ns}/${name} not found (create it in the gateway's namespace: weft apply -f a Secret of type kubernetes.io/tls)`,
    );
  const where = `Secret ${ns}/${name}`;
  const cert = secretText(index, ns, name, ['cert', 'tls.crt']);
  const key = secretText(index, ns, name, ['key', 'tls.key']);
  if (!cert || !key) {
    const found = Object.keys(secret.spec.data).sort().join(', ') || 'no keys';
    throw new TlsProblem(
      `${where} does not have the expected keys ("cert" and "key") or ("tls.crt" and "tls.key"); found: ${found}`,
    );
  }
  checkKeyPair(cert, key, where);
  const out: Credential = { certificate: { pem: cert }, privateKey: { pem: key } };
  if (wantCa) {
    const caSecret = index.secrets.has(`${ns}/${name}-cacert`) ? `${name}-cacert` : name;
    const ca = secretText(index, ns, caSecret, ['cacert', 'ca.crt']);
    if (!ca)
      throw new TlsProblem(
        `MUTUAL TLS needs a client CA: neither Secret ${ns}/${name}-cacert nor ${where} has "cacert" or "ca.crt"`,
      );
    pemCertificates(ca, `Secret ${ns}/${caSecret}: the CA certificate`);
    out.caCertificates = { pem: ca };
  }
  return out;
}

/** Istio's validateTLSOptions (the parts that are errors for a server that terminates TLS). */
function validate(tls: ServerTlsSettings, mode: string): void {
  if (!(MODES as readonly string[]).includes(mode))
    throw new TlsProblem(`unknown tls.mode ${JSON.stringify(mode)}`);
  if (mode === 'ISTIO_MUTUAL') {
    for (const [f, what] of [
      ['serverCertificate', 'server certificate'],
      ['privateKey', 'private key'],
      ['caCertificates', 'CA bundle'],
      ['credentialName', 'credentialName'],
    ] as const)
      if (tls[f]) throw new TlsProblem(`ISTIO_MUTUAL TLS cannot have associated ${what}`);
    return;
  }
  const sources =
    (tls.serverCertificate && tls.privateKey ? 1 : 0) +
    (tls.credentialName ? 1 : 0) +
    (tls.credentialNames?.length ? 1 : 0) +
    (tls.tlsCertificates?.length ? 1 : 0);
  if (sources > 1)
    throw new TlsProblem(
      'only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified',
    );
  if (tls.caCrl && (tls.credentialName || tls.credentialNames?.length))
    throw new TlsProblem(
      'CRL is not supported with credentialName. CRL has to be specified in the credential',
    );
  if (tls.caCrl && mode === 'SIMPLE') throw new TlsProblem('CRL is not supported with SIMPLE TLS');
  if (tls.credentialName || tls.credentialNames?.length) return;
  if (tls.tlsCertificates?.length) {
    tls.tlsCertificates.forEach((c, i) => {
      if (!c.serverCertificate || !c.privateKey)
        throw new TlsProblem(`tlsCertificates[${i}] requires serverCertificate and privateKey`);
    });
    if (mode !== 'SIMPLE' && !tls.caCertificates && !tls.tlsCertificates[0]!.caCertificates)
      throw new TlsProblem('MUTUAL TLS requires a client CA bundle');
    return;
  }
  const prefix = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
  if (mode !== 'SIMPLE' && !tls.caCertificates) throw new TlsProblem(`${prefix} requires a client CA bundle`);
  if (!tls.serverCertificate) throw new TlsProblem(`${prefix} requires a server certificate`);
  if (!tls.privateKey) throw new TlsProblem(`${prefix} requires a private key`);
}

function version(v: string | undefined, field: string): GatewayTlsServer['minVersion'] {
  if (v === undefined || v === 'TLS_AUTO') return undefined;
  const out = VERSIONS[v as keyof typeof VERSIONS];
  if (!out)
    throw new TlsProblem(
      `${field} must be one of TLS_AUTO, ${Object.keys(VERSIONS).join(', ')} (got ${JSON.stringify(v)})`,
    );
  return out;
}

export interface TlsContext {
  index: MeshIndex;
  gateway: Gateway;
  /** Where credentialName Secrets are looked up: the gateway proxy's namespace. */
  proxyNamespace: string;
}

/** The `tls` entry of one HTTPS or TLS server (routes and virtual hosts are added by the caller). */
export function compileServerTls(server: GatewayServer, ctx: TlsContext): GatewayTlsServer {
  const { namespace, name } = ctx.gateway.metadata;
  const mode = tlsMode(server);
  const out: GatewayTlsServer = {
    name: `${namespace}/${name}/${server.port.name ?? server.port.number}`,
    sniHosts: sniHostsOf(server),
    mode: (MODES as readonly string[]).includes(mode) ? (mode as GatewayTlsMode) : 'SIMPLE',
  };
  const tls = serverTls(server) ?? {};
  try {
    validate(tls, mode);
    if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH' || mode === 'ISTIO_MUTUAL') return out;
    // Istio's gateway default: TLS 1.2 to 1.3.
    out.minVersion = version(tls.minProtocolVersion, 'minProtocolVersion') ?? 'TLSv1.2';
    out.maxVersion = version(tls.maxProtocolVersion, 'maxProtocolVersion') ?? 'TLSv1.3';
    if (VERSION_ORDER.indexOf(out.maxVersion!) < VERSION_ORDER.indexOf(out.minVersion))
      throw new TlsProblem('Tls max version must be greater than min');
    const ciphers = [...new Set((tls.cipherSuites ?? []).filter((c) => ENVOY_CIPHER_SUITES.has(c)))];
    if (ciphers.length) out.cipherSuites = ciphers;
    const wantCa = mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
    const names = tls.credentialName ? [tls.credentialName] : (tls.credentialNames ?? []);
    if (names.length) {
      // The first credential gives the client CA; the others only their certificates (the SNI and
      // the client's key types pick among them at the handshake).
      Object.assign(out, fromSecret(ctx.index, names[0]!, ctx.proxyNamespace, wantCa));
      const more = names.slice(1).map((n) => fromSecret(ctx.index, n, ctx.proxyNamespace, false));
      if (more.length)
        out.moreCertificates = more.map((c) => ({ certificate: c.certificate, privateKey: c.privateKey }));
    } else if (tls.tlsCertificates?.length) {
      const [first, ...rest] = tls.tlsCertificates;
      out.certificate = { file: first!.serverCertificate! };
      out.privateKey = { file: first!.privateKey! };
      if (rest.length)
        out.moreCertificates = rest.map((c) => ({
          certificate: { file: c.serverCertificate! },
          privateKey: { file: c.privateKey! },
        }));
      const ca = tls.caCertificates ?? first!.caCertificates;
      if (wantCa && ca) out.caCertificates = { file: ca };
      if (tls.caCrl) out.caCrl = { file: tls.caCrl };
    } else {
      out.certificate = { file: tls.serverCertificate! };
      out.privateKey = { file: tls.privateKey! };
      if (wantCa) out.caCertificates = { file: tls.caCertificates! };
      if (tls.caCrl) out.caCrl = { file: tls.caCrl };
    }
    if (wantCa) {
      if (tls.subjectAltNames?.length) out.subjectAltNames = [...tls.subjectAltNames];
      if (tls.verifyCertificateSpki?.length) out.verifyCertificateSpki = [...tls.verifyCertificateSpki];
      if (tls.verifyCertificateHash?.length) out.verifyCertificateHash = [...tls.verifyCertificateHash];
    }
  } catch (e) {
    if (!(e instanceof TlsProblem)) throw e;
    out.error = e.message;
  }
  return out;
}

// ---- PASSTHROUGH: VirtualService tls routes --------------------------------------------------------

/** The VirtualService `tls` rules that apply on this server, in order, as SNI routes. */
export function passthroughRoutes(
  server: GatewayServer,
  gatewayRef: string,
  bound: VirtualService[],
  index: MeshIndex,
  serverHostsFor: (vs: VirtualService) => string[],
  refOf: (ref: string, vsNamespace: string) => string,
): TlsRoute[] {
  const out: TlsRoute[] = [];
  for (const vs of bound) {
    const serverHosts = serverHostsFor(vs);
    const vsHosts = (vs.spec.hosts ?? []).map((h) => h.toLowerCase());
    if (intersectHosts(serverHosts, vsHosts).length === 0) continue;
    ((vs.spec.tls ?? []) as TlsRule[]).forEach((rule, i) => {
      const sni: string[] = [];
      for (const m of rule.match ?? []) {
        if (m.port !== undefined && m.port !== server.port.number) continue;
        if (m.gateways?.length && !m.gateways.some((g) => refOf(g, vs.metadata.namespace) === gatewayRef))
          continue;
        for (const h of intersectHosts(
          serverHosts,
          m.sniHosts.map((x) => x.toLowerCase()),
        ))
          if (!sni.includes(h)) sni.push(h);
      }
      if (sni.length === 0) return;
      const dests = rule.route ?? [];
      const clusters = dests.map((d): WeightedCluster => ({
        cluster: destinationCluster(d.destination, vs.metadata.namespace, index, server.port.number),
        weight: d.weight ?? (dests.length === 1 ? 100 : 0),
      }));
      out.push({
        name: `VirtualService/${vs.metadata.namespace}/${vs.metadata.name}#tls[${i}]`,
        sniHosts: sni,
        clusters,
      });
    });
  }
  return out;
}

/** VirtualService `tcp` rules (TCPRoute), as the schema keeps them. */
export interface TcpRule {
  match?: Array<{ port?: number; gateways?: string[]; sourceLabels?: Record<string, string> }>;
  route?: Array<{
    destination: { host: string; subset?: string; port?: { number?: number } };
    weight?: number;
  }>;
}

/**
 * The first VirtualService `tcp` rule that applies on a terminating TLS server (Istio builds one TCP
 * proxy per such server: the first VirtualService, in order, whose hosts meet the server's, and its first
 * rule whose match fits the port and gateway, or that has no match).
 */
export function terminatedTcpRoute(
  server: GatewayServer,
  gatewayRef: string,
  bound: VirtualService[],
  index: MeshIndex,
  serverHostsFor: (vs: VirtualService) => string[],
  refOf: (ref: string, vsNamespace: string) => string,
): { name: string; clusters: WeightedCluster[] } | undefined {
  for (const vs of bound) {
    const vsHosts = (vs.spec.hosts ?? []).map((h) => h.toLowerCase());
    if (intersectHosts(serverHostsFor(vs), vsHosts).length === 0) continue;
    const rules = (vs.spec.tcp ?? []) as TcpRule[];
    for (const [i, rule] of rules.entries()) {
      const applies =
        !rule.match?.length ||
        rule.match.some(
          (m) =>
            (m.port === undefined || m.port === server.port.number) &&
            (!m.gateways?.length || m.gateways.some((g) => refOf(g, vs.metadata.namespace) === gatewayRef)),
        );
      if (!applies) continue;
      const dests = rule.route ?? [];
      return {
        name: `VirtualService/${vs.metadata.namespace}/${vs.metadata.name}#tcp[${i}]`,
        clusters: dests.map((d) => ({
          cluster: destinationCluster(d.destination, vs.metadata.namespace, index, server.port.number),
          weight: d.weight ?? (dests.length === 1 ? 100 : 0),
        })),
      };
    }
  }
  return undefined;
}

export function destinationCluster(
  d: { host: string; subset?: string; port?: { number?: number } },
  vsNamespace: string,
  index: MeshIndex,
  serverPort: number,
): string {
  const host = index.resolve(d.host, vsNamespace);
  const ports = index.services.get(host)?.resource.spec.ports ?? [];
  const port = d.port?.number ?? (ports.length === 1 ? ports[0]!.port : serverPort);
  return clusterName(port, d.subset, host);
}
