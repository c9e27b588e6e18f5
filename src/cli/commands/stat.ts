// `weft stat [services|workloads]`: golden metrics per service or workload (success rate, requests per
// second, latency percentiles), like `linkerd viz stat`, from the control plane's own aggregation of the
// proxies' metrics (no Prometheus needed).
import type { Command } from 'commander';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { printStructured, table, type OutputFormat } from '../output.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import type { Point } from '../../control-plane/dashboard/series.js';

export interface StatItem extends Point {
  name: string;
  namespace: string;
  meshed: string;
  instances: number;
  ready: number;
  ejected: number;
  gateway?: boolean;
  series?: Point[];
}

const KIND: Record<string, 'service' | 'workload'> = {
  services: 'service',
  service: 'service',
  svc: 'service',
  workloads: 'workload',
  workload: 'workload',
  wl: 'workload',
  deploy: 'workload',
  deployments: 'workload',
};

const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(2)}%`);
const ms = (v: number | null) => (v === null ? '-' : `${Math.round(v)}ms`);

export function registerStat(program: Command, mesh: () => MeshFlags): void {
  program
    .command('stat')
    .description('golden metrics per service or workload: success rate, requests/s, latency p50/p95/p99')
    .argument('[kind]', 'services or workloads', 'services')
    .option('--window <d>', 'time window of the numbers (e.g. 30s, 1m); at most 5m', '10s')
    .option('-n, --namespace <ns>', 'only this namespace')
    .option('--series', 'with -o json|yaml: include the time series (one point per 2 s)')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(
      async (
        kindArg: string,
        o: { window: string; namespace?: string; series?: boolean; output: OutputFormat },
      ) => {
        const kind = KIND[kindArg.toLowerCase()];
        if (!kind)
          throw new WeftError(
            ErrorCodes.CONFIG_UNKNOWN_KIND,
            `weft stat cannot show "${kindArg}"`,
            'use `weft stat services` or `weft stat workloads`',
          );
        const client = await MeshClient.connect(mesh());
        const { status, body } = await client.call<{
          items: StatItem[];
          windowSeconds: number;
          message?: string;
        }>('GET', `/api/stats?kind=${kind}&window=${encodeURIComponent(o.window)}`);
        if (status !== 200)
          throw new WeftError(ErrorCodes.MESH_UNREACHABLE, `/api/stats: ${body.message ?? `HTTP ${status}`}`);
        const items = body.items
          .filter((i) => !o.namespace || i.namespace === o.namespace)
          .map((i) => {
            if (o.series) return i;
            const { series: _s, ...rest } = i;
            return rest;
          });
        if (o.output === 'json' || o.output === 'yaml')
          return printStructured({ kind, windowSeconds: body.windowSeconds, items }, o.output);
        const rows = items.map((i) => [
          i.namespace,
          i.name + (i.gateway ? ' (gateway)' : ''),
          i.meshed + (i.ejected ? ` (${i.ejected} ejected)` : ''),
          pct(i.successRate),
          `${i.rps.toFixed(1)}rps`,
          ms(i.p50),
          ms(i.p95),
          ms(i.p99),
        ]);
        process.stdout.write(
          table(rows, [
            'NAMESPACE',
            'NAME',
            'MESHED',
            'SUCCESS',
            'RPS',
            'LATENCY_P50',
            'LATENCY_P95',
            'LATENCY_P99',
          ]) + `\n(last ${body.windowSeconds}s)\n`,
        );
      },
    );
}
