// `weft proxy-status` and `weft proxy-config`: istioctl's views of what each proxy was sent and applied.
import type { Command } from 'commander';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { age, printStructured, table, type OutputFormat } from '../output.js';
import type { ProxyStatus } from '../../control-plane/push/server.js';
import type { ProxySnapshot } from '../../model/snapshot.js';
import type { ProxySecrets } from '../../control-plane/api/secrets.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';

/** As the admin API lists them: status, app readiness, and where Prometheus scrapes the proxy. */
type Row = ProxyStatus & { ready: boolean; metricsUrl?: string };

export function syncState(p: Row): string {
  if (p.nack && p.nack.version === p.served) return 'STALE (NACK)';
  if (!p.acked || p.acked !== p.served) return 'PENDING';
  return 'SYNCED';
}

export function registerStatusCommands(program: Command, mesh: () => MeshFlags): void {
  program
    .command('proxy-status')
    .description('each proxy: config version served and acknowledged, last rejection')
    .option('-o, --output <format>', 'table, yaml or json', 'table')
    .action(async (o: { output: OutputFormat }) => {
      const client = await MeshClient.connect(mesh());
      const { body } = await client.call<{ items: Row[] }>('GET', '/apis/v1/proxies');
      if (o.output === 'json' || o.output === 'yaml') return printStructured(body.items, o.output);
      const rows = body.items.map((p) => [
        p.id,
        p.kind,
        syncState(p),
        p.served ?? '-',
        p.acked ?? '-',
        p.ready ? 'ready' : 'not ready',
        age(p.connectedAt),
        p.nack ? `${p.nack.version}: ${p.nack.reason}` : '-',
      ]);
      process.stdout.write(
        table(rows, ['NAME', 'TYPE', 'STATUS', 'SERVED', 'ACKED', 'APP', 'CONNECTED', 'LAST NACK']) + '\n',
      );
    });

  program
    .command('proxy-config')
    .description(
      'the snapshot a proxy was sent: weft proxy-config PROXY [routes|clusters|endpoints|listeners|secrets|all]',
    )
    .argument('<proxy>', 'proxy id, e.g. reviews-v1-0.default (namespace optional)')
    .argument('[section]', 'routes, clusters, endpoints, listeners, secrets or all', 'all')
    .option('-o, --output <format>', 'yaml or json (secrets: also table, the default)', 'json')
    .action(async (id: string, section: string, o: { output: OutputFormat }, cmd: Command) => {
      const client = await MeshClient.connect(mesh());
      if (section === 'secrets') {
        const explicit = cmd.getOptionValueSource('output') === 'cli';
        return printSecrets(client, id, explicit ? o.output : 'table');
      }
      const body = await proxyView<ProxySnapshot>(client, id, 'config');
      const fmt = o.output === 'yaml' ? 'yaml' : 'json';
      switch (section) {
        case 'routes':
          return printStructured({ outbound: body.outbound.virtualHosts, gateways: body.gateways }, fmt);
        case 'clusters':
          return printStructured(
            body.clusters.map(({ endpoints: _e, ...c }) => c),
            fmt,
          );
        case 'endpoints':
          return printStructured(
            body.clusters.map((c) => ({ cluster: c.name, endpoints: c.endpoints })),
            fmt,
          );
        case 'listeners':
          return printStructured(
            {
              inbound: body.inbound,
              gateways: body.gateways.map((g) => ({ name: g.name, bind: g.bind, port: g.port })),
            },
            fmt,
          );
        default:
          return printStructured(body, fmt);
      }
    });
}

/** One proxy's view from the admin API; an unknown proxy is an error with a next step. */
async function proxyView<T>(client: MeshClient, id: string, what: 'config' | 'secrets'): Promise<T> {
  const { status, body } = await client.call<T & { message?: string }>(
    'GET',
    `/apis/v1/proxies/${encodeURIComponent(id)}/${what}`,
  );
  if (status !== 200)
    throw new WeftError(
      ErrorCodes.PROXY_NOT_FOUND,
      body.message ?? `HTTP ${status}`,
      'list proxies with `weft proxy-status`',
    );
  return body;
}

/** istioctl proxy-config secret: the workload certificate and the roots a proxy trusts. */
async function printSecrets(client: MeshClient, id: string, output: OutputFormat): Promise<void> {
  const body = await proxyView<ProxySecrets>(client, id, 'secrets');
  if (output === 'json' || output === 'yaml') return printStructured(body, output);
  const rows = body.secrets.map((s) => [
    s.name,
    s.type,
    s.valid ? 'ACTIVE' : 'EXPIRED',
    String(s.valid),
    s.serial,
    s.notAfter,
    s.notBefore,
    s.uris.join(',') || s.subject,
  ]);
  process.stdout.write(
    table(rows, [
      'RESOURCE NAME',
      'TYPE',
      'STATUS',
      'VALID CERT',
      'SERIAL NUMBER',
      'NOT AFTER',
      'NOT BEFORE',
      'IDENTITY',
    ]) + '\n',
  );
}
