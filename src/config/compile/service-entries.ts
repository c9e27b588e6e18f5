// ServiceEntry -> clusters and sidecar virtual hosts. MESH_EXTERNAL hosts are reached in plaintext
// unless a DestinationRule for the host says `tls.mode: SIMPLE` or `MUTUAL` (Istio's TLS origination:
// the app speaks HTTP, the proxy speaks TLS). STATIC connects to the endpoint addresses; DNS to every
// address the endpoint names (or the host) resolve to, DNS_ROUND_ROBIN to the first one (the proxy
// resolves them, dns-endpoints.ts); NONE and DYNAMIC_DNS to the host as the client named it, which for a
// wildcard host (`*.example.com`) is whatever name under it the request carries.
// MESH_INTERNAL entries with a workloadSelector reach the selected Workloads through their sidecars.
import type {
  Cluster,
  Endpoint,
  OriginateTls,
  OutboundTrafficPolicy,
  PemSource,
  Route,
  VirtualHost,
} from '../../model/snapshot.js';
import { clusterName, clusterSni } from '../../model/snapshot.js';
import type { DestinationRule, ServiceEntry, Subset, VirtualService } from '../types.js';
import { labelsMatch, portProtocol, type MeshIndex } from './inputs.js';
import { compileHttpRoutes } from './routes.js';
import { ISTIO_DEFAULT_RETRY } from './http-policies.js';
import { clusterPolicy, h2Upgrade, meshTrafficPolicy, policiesFor } from './cluster-policies.js';
import { secretValue } from '../schemas/secret.js';
import { workloadEntryEndpoints } from './workload-entries.js';
import { localityOf } from '../../model/locality.js';

/** meshConfig.outboundTrafficPolicy.mode for sidecars; Istio's default is ALLOW_ANY. */
export function outboundTrafficPolicy(index: MeshIndex): OutboundTrafficPolicy {
  return index.meshConfig.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY';
}

/** DestinationRule ClientTLSSettings as the schema accepts them. */
interface ClientTls {
  mode?: string;
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCrl?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  sni?: string;
  insecureSkipVerify?: boolean;
}

function secretPem(index: MeshIndex, ns: string, name: string, keys: string[]): PemSource | undefined {
  const s = index.secrets.get(`${ns}/${name}`);
  for (const k of keys) {
    const v = s && secretValue(s.spec, k);
    if (v?.length) return { pem: v.toString('utf8') };
  }
  return undefined;
}

/**
 * credentialName, as Istio reads a client Secret: `tls.crt`/`cert`, `tls.key`/`key`, and the CA from a
 * Secret `<name>-cacert` when there is one, else `ca.crt`/`cacert` of the same Secret. The Secret is
 * looked up in the DestinationRule's namespace (Weft compiles clusters once for every proxy).
 */
function fromCredential(
  index: MeshIndex,
  ns: string,
  name: string,
  mode: 'SIMPLE' | 'MUTUAL',
): Partial<OriginateTls> {
  const where = `credentialName ${JSON.stringify(name)}: Secret ${ns}/${name}`;
  if (!index.secrets.has(`${ns}/${name}`) && !index.secrets.has(`${ns}/${name}-cacert`))
    return { error: `${where} not found` };
  const out: Partial<OriginateTls> = {};
  const caSecret = index.secrets.has(`${ns}/${name}-cacert`) ? `${name}-cacert` : name;
  const ca = secretPem(index, ns, caSecret, ['ca.crt', 'cacert']);
  if (ca) out.caCertificates = ca;
  if (mode === 'MUTUAL') {
    const cert = secretPem(index, ns, name, ['tls.crt', 'cert']);
    const key = secretPem(index, ns, name, ['tls.key', 'key']);
    if (!cert || !key)
      return { error: `${where} has no client certificate (tls.crt and tls.key, or cert and key)` };
    out.clientCertificate = cert;
    out.privateKey = key;
  }
  return out;
}

/**
 * DestinationRule `tls` with mode SIMPLE or MUTUAL for one external cluster (port-level settings and the
 * subset's policy first, as for every other policy field): what the proxy needs to originate TLS.
 * `subjectAltNames` of the rule replace those of the ServiceEntry, as in Istio.
 */
export function originateTls(
  index: MeshIndex,
  dr: DestinationRule | undefined,
  host: string,
  port: number,
  subset: Subset | undefined,
  entrySans: string[] | undefined,
): OriginateTls | undefined {
  if (!dr) return undefined;
  const tls = policiesFor(port, subset?.trafficPolicy, dr.spec.trafficPolicy).find((p) => p.tls?.mode)
    ?.tls as ClientTls | undefined;
  if (tls?.mode !== 'SIMPLE' && tls?.mode !== 'MUTUAL') return undefined;
  const out: OriginateTls = { mode: tls.mode, sni: (tls.sni ?? host).toLowerCase() };
  if (tls.caCertificates) out.caCertificates = { file: tls.caCertificates };
  if (tls.caCrl) out.caCrl = { file: tls.caCrl };
  const sans = tls.subjectAltNames?.length ? tls.subjectAltNames : entrySans;
  if (sans?.length) out.subjectAltNames = sans;
  if (tls.insecureSkipVerify) out.insecureSkipVerify = true;
  if (tls.credentialName) {
    Object.assign(out, fromCredential(index, dr.metadata.namespace, tls.credentialName, tls.mode));
  } else if (tls.mode === 'MUTUAL') {
    if (tls.clientCertificate && tls.privateKey) {
      out.clientCertificate = { file: tls.clientCertificate };
      out.privateKey = { file: tls.privateKey };
    } else {
      out.error = 'DestinationRule tls.mode MUTUAL needs clientCertificate and privateKey, or credentialName';
    }
  }
  return out;
}

interface SePort {
  number: number;
  name: string;
  protocol?: string;
  targetPort?: number;
}

function ports(se: ServiceEntry): SePort[] {
  return se.spec.ports ?? [{ number: 80, name: 'http', protocol: 'HTTP' }];
}

function endpoints(
  index: MeshIndex,
  se: ServiceEntry,
  host: string,
  p: SePort,
  subset?: Record<string, string>,
  tlsMode?: string,
): Endpoint[] {
  const sel = se.spec.workloadSelector?.labels;
  if (sel) {
    const entries = workloadEntryEndpoints(index, {
      namespace: se.metadata.namespace,
      selector: sel,
      subset,
      portName: p.name,
      port: p.targetPort ?? p.number,
      tlsMode,
    });
    return index.instances
      .filter(
        (i) => i.kind === 'sidecar' && i.namespace === se.metadata.namespace && labelsMatch(sel, i.labels),
      )
      .filter((i) => !subset || labelsMatch(subset, i.labels))
      .map((i) => ({
        address: i.address,
        port: i.inboundPort,
        identity: i.spiffeId,
        instance: i.id,
        labels: i.labels,
        healthy: i.ready,
        ...(localityOf(i.labels) ? { locality: localityOf(i.labels)! } : {}),
      }))
      .concat(entries);
  }
  const listed = (se.spec.endpoints ?? []).filter((e) => !subset || labelsMatch(subset, e.labels ?? {}));
  const resolution = se.spec.resolution ?? 'NONE';
  if (listed.length === 0 && resolution !== 'STATIC') {
    // DNS without endpoints, or NONE: the host itself (for a wildcard host, the one each request names).
    return [
      {
        address: isWildcard(host) ? '' : host,
        port: p.targetPort ?? p.number,
        identity: '',
        instance: host,
        labels: {},
        healthy: true,
      },
    ];
  }
  return listed.map((e, i) => ({
    address: e.address ?? host,
    port: e.ports?.[p.name] ?? p.targetPort ?? p.number,
    identity: '',
    instance: `${host}#${i}`,
    labels: e.labels ?? {},
    healthy: true,
  }));
}

function tlsModeOf(dr: DestinationRule | undefined, port: number, subset?: Subset): string | undefined {
  return policiesFor(port, subset?.trafficPolicy, dr?.spec.trafficPolicy).find((t) => t.tls?.mode)?.tls?.mode;
}

const isWildcard = (h: string) => h.startsWith('*.');

/** SE hosts are fully qualified as written (short names are expanded like VirtualService hosts);
 *  wildcard hosts stay as they are. */
function hostsOf(se: ServiceEntry, index: MeshIndex): string[] {
  return se.spec.hosts.map((h) => index.resolve(h, se.metadata.namespace));
}

/** How the proxy finds the addresses of a cluster's endpoints (Envoy's cluster type, as Istio picks it). */
function discovery(se: ServiceEntry, host: string): { dns?: 'STRICT' | 'LOGICAL'; dynamicHost?: true } {
  if (se.spec.workloadSelector) return {};
  const r = se.spec.resolution ?? 'NONE';
  if (r === 'DNS') return { dns: 'STRICT' };
  if (r === 'DNS_ROUND_ROBIN') return { dns: 'LOGICAL' };
  if ((r === 'NONE' || r === 'DYNAMIC_DNS') && isWildcard(host) && !se.spec.endpoints?.length)
    return { dynamicHost: true };
  return {};
}

export function serviceEntryClusters(index: MeshIndex): Cluster[] {
  const out: Cluster[] = [];
  for (const se of index.serviceEntries) {
    const internal = se.spec.location === 'MESH_INTERNAL' && se.spec.workloadSelector !== undefined;
    for (const host of hostsOf(se, index)) {
      if (index.services.has(host)) continue; // a Service of the same name wins
      const dr = index.destinationRules.get(host);
      // Outside the mesh: plaintext, or TLS the proxy originates when a DestinationRule asks for it.
      const outside = (port: number, subset?: Subset) => {
        if (internal) return {};
        const t = originateTls(index, dr, host, port, subset, se.spec.subjectAltNames);
        return { external: true as const, ...(t ? { originateTls: t } : {}) };
      };
      for (const p of ports(se)) {
        const base = {
          service: host,
          port: p.number,
          protocol: portProtocol({ name: p.name, appProtocol: p.protocol }),
          ...discovery(se, host),
        };
        const portSpec = { number: p.number, name: p.name, appProtocol: p.protocol };
        const out0 = outside(p.number);
        out.push({
          ...base,
          name: clusterName(p.number, undefined, host),
          sni: clusterSni(p.number, undefined, host),
          ...clusterPolicy(p.number, dr?.spec.trafficPolicy, meshTrafficPolicy(index)),
          ...out0,
          ...h2Upgrade(index, portSpec, { protocol: base.protocol, ...out0 }, dr?.spec.trafficPolicy),
          endpoints: endpoints(index, se, host, p, undefined, tlsModeOf(dr, p.number)),
        });
        for (const subset of dr?.spec.subsets ?? []) {
          const outS = outside(p.number, subset);
          out.push({
            ...base,
            name: clusterName(p.number, subset.name, host),
            subset: subset.name,
            sni: clusterSni(p.number, subset.name, host),
            ...clusterPolicy(
              p.number,
              subset.trafficPolicy,
              dr?.spec.trafficPolicy,
              meshTrafficPolicy(index),
            ),
            ...outS,
            ...h2Upgrade(
              index,
              portSpec,
              { protocol: base.protocol, ...outS },
              subset.trafficPolicy,
              dr?.spec.trafficPolicy,
            ),
            endpoints: endpoints(index, se, host, p, subset.labels ?? {}, tlsModeOf(dr, p.number, subset)),
          });
        }
      }
    }
  }
  return out;
}

export function serviceEntryVirtualHosts(
  index: MeshIndex,
  meshVs: VirtualService[],
  clientLabels: Record<string, string>,
): VirtualHost[] {
  const out: VirtualHost[] = [];
  for (const se of index.serviceEntries) {
    for (const host of hostsOf(se, index)) {
      if (index.services.has(host)) continue;
      const vs = meshVs.find((v) =>
        (v.spec.hosts ?? []).some((h) => index.resolve(h, v.metadata.namespace) === host),
      );
      for (const p of ports(se)) {
        const domains = [
          `${host}:${p.number}`,
          ...se.spec.hosts
            .filter((h) => h.toLowerCase() !== host)
            .map((h) => `${h.toLowerCase()}:${p.number}`),
        ];
        if (p.number === 80 || ports(se).length === 1) domains.push(host);
        const routes: Route[] = vs
          ? compileHttpRoutes(vs, index, { port: p.number, sourceLabels: clientLabels })
          : [
              {
                name: `ServiceEntry/${se.metadata.namespace}/${se.metadata.name}`,
                matches: [],
                action: {
                  kind: 'forward',
                  clusters: [{ cluster: clusterName(p.number, undefined, host), weight: 100 }],
                  retry: ISTIO_DEFAULT_RETRY,
                },
              },
            ];
        out.push({ name: `${host}:${p.number}`, domains, routes });
      }
    }
  }
  return out;
}
