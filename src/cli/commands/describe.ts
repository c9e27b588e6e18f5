// `weft describe service|workload NAME`: everything that applies to one service or workload, gathered
// from the running mesh (config, registry, proxy status, analysis), like `istioctl x describe`.
import type { Command } from 'commander';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { printStructured, type OutputFormat } from '../output.js';
import type { ConfigProblem, Resource, Service, Workload } from '../../config/types.js';
import type { Instance } from '../../control-plane/registry/registry.js';
import { fqdn, serviceFqdn } from '../../config/hosts.js';
import { formatProblem } from '../../config/types.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { syncState } from './status.js';
import type { ProxyStatus } from '../../control-plane/push/server.js';
import type { ProxySnapshot } from '../../model/snapshot.js';

interface MeshView {
  resources: Resource[];
  instances: Instance[];
  proxies: Array<ProxyStatus & { ready: boolean }>;
  problems: ConfigProblem[];
}

async function load(client: MeshClient): Promise<MeshView> {
  const [r, i, p, a] = await Promise.all([
    client.call<{ items: Resource[] }>('GET', '/apis/v1/resources'),
    client.call<{ items: Instance[] }>('GET', '/apis/v1/registry'),
    client.call<{ items: Array<ProxyStatus & { ready: boolean }> }>('GET', '/apis/v1/proxies'),
    client.call<{ problems: ConfigProblem[] }>('GET', '/apis/v1/analyze'),
  ]);
  return {
    resources: r.body.items,
    instances: i.body.items,
    proxies: p.body.items,
    problems: a.body.problems,
  };
}

const matches = (sel: Record<string, string> | undefined, labels: Record<string, string> = {}) =>
  !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);

function of<K extends Resource['kind']>(v: MeshView, kind: K): Array<Extract<Resource, { kind: K }>> {
  return v.resources.filter((r): r is Extract<Resource, { kind: K }> => r.kind === kind);
}

function describeService(v: MeshView, name: string, ns: string) {
  const svc = of(v, 'Service').find((s) => s.metadata.name === name && s.metadata.namespace === ns);
  if (!svc)
    throw new WeftError(
      ErrorCodes.CONFIG_NOT_FOUND,
      `no Service ${ns}/${name}`,
      'list them with `weft get svc`',
    );
  const host = serviceFqdn(name, ns);
  const workloads = of(v, 'Workload').filter(
    (w) => w.metadata.namespace === ns && matches(svc.spec.selector, w.metadata.labels),
  );
  const instances = v.instances.filter((i) => i.namespace === ns && matches(svc.spec.selector, i.labels));
  const virtualServices = of(v, 'VirtualService').filter((vs) =>
    (vs.spec.hosts ?? []).some((h) => fqdn(h, vs.metadata.namespace) === host),
  );
  const rule = of(v, 'DestinationRule').find((dr) => fqdn(dr.spec.host, dr.metadata.namespace) === host);
  const routes = v.resources.filter(
    (r) =>
      (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') &&
      (r.spec.parentRefs ?? []).some(
        (p) => p.kind === 'Service' && p.name === name && (p.namespace ?? r.metadata.namespace) === ns,
      ),
  );
  return {
    service: host,
    ports: svc.spec.ports.map(
      (p) =>
        `${p.name ?? '-'} ${p.port}→${p.targetPort ?? p.port}${p.appProtocol ? ` (${p.appProtocol})` : ''}`,
    ),
    workloads: workloads.map((w) => w.metadata.name),
    endpoints: instances.map((i) => ({
      instance: i.id,
      address: `${i.address}:${i.inboundPort}`,
      identity: i.spiffeId,
      ready: i.ready,
      version: i.labels.version ?? '-',
    })),
    mtls: 'STRICT: sidecar to sidecar traffic is mutual TLS with SPIFFE identities',
    virtualServices: virtualServices.map(
      (vs) => `${vs.metadata.namespace}/${vs.metadata.name} (${(vs.spec.gateways ?? ['mesh']).join(', ')})`,
    ),
    destinationRule: rule
      ? {
          name: `${rule.metadata.namespace}/${rule.metadata.name}`,
          subsets: (rule.spec.subsets ?? []).map((s) => `${s.name} ${JSON.stringify(s.labels ?? {})}`),
          trafficPolicy: rule.spec.trafficPolicy ?? {},
        }
      : null,
    gatewayApiRoutes: routes.map((r) => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`),
    warnings: v.problems
      .filter(
        (p) => p.message.includes(host) || p.message.includes(`"${name}"`) || p.name === `${ns}/${name}`,
      )
      .map(formatProblem),
  };
}

function describeWorkload(v: MeshView, name: string, ns: string) {
  const w = of(v, 'Workload').find((x) => x.metadata.name === name && x.metadata.namespace === ns) as
    Workload | undefined;
  if (!w)
    throw new WeftError(
      ErrorCodes.CONFIG_NOT_FOUND,
      `no Workload ${ns}/${name}`,
      'list them with `weft get workloads`',
    );
  const labels = w.metadata.labels ?? {};
  const services = (of(v, 'Service') as Service[]).filter(
    (s) => s.metadata.namespace === ns && matches(s.spec.selector, labels),
  );
  const instances = v.instances.filter((i) => i.workload === name && i.namespace === ns);
  const limits = of(v, 'RateLimit').filter(
    (r) => r.metadata.namespace === ns && matches(r.spec.selector?.matchLabels, labels),
  );
  return {
    workload: `${ns}/${name}`,
    labels,
    identity: `spiffe://cluster.local/ns/${ns}/sa/${w.spec.serviceAccount ?? 'default'}`,
    services: services.map((s) => serviceFqdn(s.metadata.name, ns)),
    instances: instances.map((i) => {
      const p = v.proxies.find((x) => x.id === i.id);
      return {
        instance: i.id,
        ready: i.ready,
        inbound: `${i.address}:${i.inboundPort}`,
        config: p
          ? `${syncState(p)} ${p.acked ?? '-'}${p.nack ? ` (last NACK: ${p.nack.reason})` : ''}`
          : 'not connected',
      };
    }),
    rateLimits: limits.map(
      (r) => `${r.metadata.name}: ${r.spec.tokenBucket.maxTokens}/${r.spec.tokenBucket.fillInterval}`,
    ),
    warnings: instances.length === 0 ? ['no running instance: is `weft up` running this workload?'] : [],
  };
}

/** What the workload's proxy enforces, from the snapshot it was sent (PeerAuthentication, policies, JWT). */
async function securityOf(client: MeshClient, id: string): Promise<Record<string, unknown>> {
  const r = await client.call<ProxySnapshot>('GET', `/apis/v1/proxies/${encodeURIComponent(id)}/config`);
  if (r.status !== 200 || !r.body.security) return {};
  const sec = r.body.security;
  const ports = Object.entries(sec.mtls.ports).map(([p, m]) => `${p}: ${m}`);
  return {
    mtls: `${sec.mtls.mode} (${sec.mtls.source === 'default' ? "no PeerAuthentication: Istio's default" : sec.mtls.source})${ports.length ? `; ports ${ports.join(', ')}` : ''}`,
    authorizationPolicies: sec.policies.map((p) => `${p.action} ${p.name} (${p.rules.length} rules)`),
    requestAuthentication: sec.jwtRules.map((j) => `${j.issuer}${j.jwksUri ? ` keys ${j.jwksUri}` : ''}`),
    pathNormalization: sec.pathNormalization,
  };
}

function printHuman(data: Record<string, unknown>): void {
  for (const [k, val] of Object.entries(data)) {
    if (Array.isArray(val)) {
      process.stdout.write(`${k}:${val.length ? '' : ' (none)'}\n`);
      for (const item of val)
        process.stdout.write(`  - ${typeof item === 'string' ? item : JSON.stringify(item)}\n`);
    } else if (val && typeof val === 'object') {
      process.stdout.write(`${k}: ${JSON.stringify(val)}\n`);
    } else process.stdout.write(`${k}: ${val ?? '(none)'}\n`);
  }
}

export function registerDescribe(program: Command, mesh: () => MeshFlags): void {
  program
    .command('describe')
    .description('what applies to a service or workload: routes, policies, endpoints, mTLS, warnings')
    .argument('<kind>', 'service (svc) or workload')
    .argument('<name>')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-o, --output <format>', 'text, yaml or json', 'text')
    .action(async (kind: string, name: string, o: { namespace: string; output: OutputFormat | 'text' }) => {
      const client = await MeshClient.connect(mesh());
      const view = await load(client);
      const k = kind.toLowerCase();
      let data: Record<string, unknown>;
      if (k === 'service' || k === 'svc' || k === 'services') data = describeService(view, name, o.namespace);
      else if (k === 'workload' || k === 'workloads' || k === 'wl') {
        data = describeWorkload(view, name, o.namespace);
        const first = view.instances.find((i) => i.workload === name && i.namespace === o.namespace);
        if (first) data = { ...data, ...(await securityOf(client, first.id)) };
      } else
        throw new WeftError(
          ErrorCodes.CONFIG_UNKNOWN_KIND,
          `cannot describe "${kind}"`,
          'use service or workload',
        );
      if (o.output === 'json' || o.output === 'yaml') printStructured(data, o.output);
      else printHuman(data);
    });
}
