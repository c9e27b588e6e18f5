// Security diagnostics, istioctl-style: `weft tls-check SERVICE` (is traffic to it mTLS, plaintext or
// mixed, per client and server) and `weft authz check WORKLOAD` (a dry run of a request against the
// policies that workload enforces, saying which rule decided and why).
import type { Command } from 'commander';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { printStructured, table, type OutputFormat } from '../output.js';
import type { ProxySnapshot } from '../../model/snapshot.js';
import { fqdn } from '../../config/hosts.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { tlsCheck } from '../security/tls-check.js';
import { registerAuthzCheck } from './authz-check.js';

/** Every connected proxy's current snapshot. */
export async function allSnapshots(client: MeshClient): Promise<ProxySnapshot[]> {
  const { body } = await client.call<{ items: Array<{ id: string }> }>('GET', '/apis/v1/proxies');
  const out: ProxySnapshot[] = [];
  for (const p of body.items) {
    const r = await client.call<ProxySnapshot>('GET', `/apis/v1/proxies/${encodeURIComponent(p.id)}/config`);
    if (r.status === 200) out.push(r.body);
  }
  return out;
}

export function registerSecurityCommands(program: Command, mesh: () => MeshFlags): void {
  program
    .command('tls-check')
    .description('whether traffic to a service is mTLS, plaintext or mixed, per client and server')
    .argument('<service>', 'service name, name.namespace or FQDN')
    .option('-n, --namespace <ns>', 'namespace of a short service name', 'default')
    .option('-o, --output <format>', 'table, yaml or json', 'table')
    .action(async (name: string, o: { namespace: string; output: OutputFormat }) => {
      const client = await MeshClient.connect(mesh());
      const service = fqdn(name, o.namespace);
      const snapshots = await allSnapshots(client);
      const { rows, summary } = tlsCheck(snapshots, service);
      if (o.output === 'json' || o.output === 'yaml') return printStructured({ summary, rows }, o.output);
      if (rows.length === 0)
        throw new WeftError(
          ErrorCodes.CONFIG_NOT_FOUND,
          `no proxy sends traffic to ${service}, or it has no endpoints`,
          'check the name with `weft get svc` and its endpoints with `weft describe service NAME`',
        );
      process.stdout.write(
        table(
          rows.map((r) => [
            r.host,
            r.client,
            r.server,
            r.clientSends,
            `${r.serverMode} (${r.serverPolicy})`,
            r.status,
          ]),
          ['HOST:PORT', 'CLIENT', 'SERVER', 'CLIENT SENDS', 'SERVER ACCEPTS', 'STATUS'],
        ) + '\n\n',
      );
      for (const s of summary) {
        const conflicts = s.conflicts
          ? `; ${s.conflicts} client/server pair(s) conflict: plaintext sent to a STRICT server fails (set the DestinationRule tls.mode to ISTIO_MUTUAL or remove it)`
          : '';
        process.stdout.write(`${s.host}: ${s.traffic}${conflicts}\n`);
      }
    });

  registerAuthzCheck(program, mesh);
}
