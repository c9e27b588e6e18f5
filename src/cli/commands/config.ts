// `weft apply -f`, `weft get`, `weft delete -f`: kubectl's habits against the mesh's config store.
import type { Command } from 'commander';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { age, printStructured, table, type OutputFormat } from '../output.js';
import { formatProblem, type ConfigProblem, type Resource } from '../../config/types.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { kindFromArg } from './kinds.js';

export async function readSources(paths: string[]): Promise<Array<{ name: string; content: string }>> {
  const out: Array<{ name: string; content: string }> = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new WeftError(ErrorCodes.FILE_NOT_FOUND, `${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      const entries = (await readdir(p)).sort();
      out.push(
        ...(await readSources(entries.filter((e) => /\.(ya?ml|json)$/.test(e)).map((e) => join(p, e)))),
        ...(await readSources(
          (
            await Promise.all(
              entries.map(async (e) => ((await stat(join(p, e))).isDirectory() ? join(p, e) : '')),
            )
          ).filter(Boolean),
        )),
      );
    } else out.push({ name: p, content: await readFile(p, 'utf8') });
  }
  return out;
}

function printProblems(problems: ConfigProblem[]): void {
  for (const p of problems) process.stderr.write(formatProblem(p) + '\n');
}

interface ApplyBody {
  results?: Array<{ key: string; outcome: string }>;
  problems?: ConfigProblem[];
  warnings?: ConfigProblem[];
  analysis?: ConfigProblem[];
  deleted?: string[];
  notFound?: string[];
}

function shortKey(key: string): string {
  const [kind, ns, name] = key.split('/');
  return `${kind!.toLowerCase()}/${name}${ns === 'default' ? '' : ` (namespace ${ns})`}`;
}

export function registerConfigCommands(program: Command, mesh: () => MeshFlags): void {
  program
    .command('apply')
    .description('create or update resources from files or folders')
    .requiredOption('-f, --filename <paths...>', 'YAML/JSON files or folders')
    .action(async (o: { filename: string[] }) => {
      const client = await MeshClient.connect(mesh());
      const { status, body } = await client.call<ApplyBody>('POST', '/apis/v1/apply', {
        files: await readSources(o.filename),
      });
      printProblems(body.warnings ?? []);
      if (status !== 200) {
        printProblems(body.problems ?? []);
        process.stderr.write('error: nothing was applied; the running config is unchanged\n');
        process.exitCode = 1;
        return;
      }
      for (const r of body.results ?? []) process.stdout.write(`${shortKey(r.key)} ${r.outcome}\n`);
      printProblems(body.analysis ?? []);
    });

  program
    .command('delete')
    .description('delete the resources named in files, or KIND NAME')
    .option('-f, --filename <paths...>', 'YAML/JSON files or folders')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .argument('[kind]')
    .argument('[name]')
    .action(
      async (
        kind: string | undefined,
        name: string | undefined,
        o: { filename?: string[]; namespace: string },
      ) => {
        const client = await MeshClient.connect(mesh());
        const keys = kind && name ? [`${kindFromArg(kind)}/${o.namespace}/${name}`] : [];
        const { status, body } = await client.call<ApplyBody>('POST', '/apis/v1/delete', {
          files: o.filename ? await readSources(o.filename) : [],
          keys,
        });
        if (status !== 200) {
          printProblems(body.problems ?? []);
          process.exitCode = 1;
          return;
        }
        for (const k of body.deleted ?? []) process.stdout.write(`${shortKey(k)} deleted\n`);
        for (const k of body.notFound ?? []) process.stderr.write(`${shortKey(k)} not found\n`);
      },
    );

  program
    .command('get')
    .description('list resources: weft get KIND [NAME] [-o yaml|json]')
    .argument(
      '<kind>',
      'workloads, services, virtualservices (vs), destinationrules (dr), gateways (gw), all',
    )
    .argument('[name]')
    .option('-n, --namespace <ns>', 'namespace (default: all)')
    .option('-o, --output <format>', 'table, yaml or json', 'table')
    .action(
      async (kindArg: string, name: string | undefined, o: { namespace?: string; output: OutputFormat }) => {
        const kind = kindFromArg(kindArg);
        const client = await MeshClient.connect(mesh());
        const q = new URLSearchParams();
        if (kind !== 'all') q.set('kind', kind);
        if (o.namespace) q.set('namespace', o.namespace);
        if (name) q.set('name', name);
        const { status, body } = await client.call<{ items?: Resource[]; message?: string }>(
          'GET',
          `/apis/v1/resources?${q.toString()}`,
        );
        if (status !== 200)
          throw new WeftError(ErrorCodes.CONFIG_NOT_FOUND, body.message ?? `HTTP ${status}`);
        const items = (body.items ?? []).map(({ source: _s, ...r }) => r);
        if (o.output === 'json' || o.output === 'yaml') {
          const data = name && items.length === 1 ? items[0] : { apiVersion: 'v1', kind: 'List', items };
          return printStructured(data, o.output);
        }
        if (items.length === 0) {
          process.stderr.write('No resources found.\n');
          return;
        }
        const rows = items.map((r) => [
          r.kind,
          r.metadata.namespace,
          r.metadata.name,
          summary(r as Resource),
        ]);
        process.stdout.write(table(rows, ['KIND', 'NAMESPACE', 'NAME', 'DETAILS']) + '\n');
      },
    );
}

function summary(r: Resource): string {
  switch (r.kind) {
    case 'Workload':
      return `replicas=${r.spec.replicas ?? 1} sa=${r.spec.serviceAccount ?? 'default'}${r.spec.command ? '' : ' (adopted)'}`;
    case 'Service':
      return `ports=${r.spec.ports.map((p) => p.port).join(',')} selector=${JSON.stringify(r.spec.selector ?? {})}`;
    case 'VirtualService':
      return `hosts=${(r.spec.hosts ?? []).join(',')} gateways=${(r.spec.gateways ?? ['mesh']).join(',')}`;
    case 'DestinationRule':
      return `host=${r.spec.host} subsets=${(r.spec.subsets ?? []).map((s) => s.name).join(',') || '-'}`;
    case 'Gateway':
      return `servers=${r.spec.servers.map((s) => `${s.port.protocol}/${s.port.number}`).join(',')}`;
    case 'HTTPRoute':
    case 'GRPCRoute':
      return `hostnames=${(r.spec.hostnames ?? ['*']).join(',')} parents=${(r.spec.parentRefs ?? []).map((p) => `${p.kind ?? 'Gateway'}/${p.name}`).join(',')}`;
    case 'KubernetesGateway':
      return `class=${r.spec.gatewayClassName} listeners=${r.spec.listeners.map((l) => `${l.protocol}/${l.port}`).join(',')}`;
    case 'ServiceEntry':
      return `hosts=${r.spec.hosts.join(',')} ${r.spec.location ?? 'MESH_EXTERNAL'} ${r.spec.resolution ?? 'NONE'}`;
    case 'WorkloadEntry':
      return `address=${r.spec.address ?? '-'} ports=${JSON.stringify(r.spec.ports ?? {})} labels=${JSON.stringify(r.spec.labels ?? {})}`;
    case 'RateLimit':
      return `bucket=${r.spec.tokenBucket.maxTokens}/${r.spec.tokenBucket.fillInterval} ${r.spec.selector ? `selector=${JSON.stringify(r.spec.selector.matchLabels)}` : `routes=${(r.spec.routes ?? []).map((x) => `${x.virtualService}#${x.route}`).join(',')}`}`;
    default:
      return '';
  }
}

export { age };
