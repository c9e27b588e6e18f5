// `weft check`: environment and mesh health, one line per check, each failure with what to do next
// (like `linkerd check`). Exit code 1 when any check fails.
import type { Command } from 'commander';
import { request } from 'undici';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import type { ConfigProblem } from '../../config/types.js';
import type { ProxyStatus } from '../../control-plane/push/server.js';
import { syncState } from './status.js';
import { errorMessage } from '../../lib/errors.js';

interface Check {
  name: string;
  ok: boolean;
  detail?: string;
  hint?: string;
}

const DAY_MS = 24 * 3600 * 1000;

async function certExpiry(adminPort: number | undefined): Promise<Date | undefined> {
  if (!adminPort) return undefined;
  try {
    const res = await request(`http://127.0.0.1:${adminPort}/config_dump`);
    const body = (await res.body.json()) as { certificate?: { notAfter?: string } | null };
    return body.certificate?.notAfter ? new Date(body.certificate.notAfter) : undefined;
  } catch {
    return undefined;
  }
}

export async function runChecks(flags: MeshFlags): Promise<Check[]> {
  const checks: Check[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  checks.push({
    name: `Node.js ${process.versions.node} (20 or newer)`,
    ok: major >= 20,
    hint: 'install Node.js 20 or newer',
  });
  let client: MeshClient;
  try {
    client = await MeshClient.connect(flags);
    const ready = await client.call<{ ready: boolean; version: string }>('GET', '/readyz');
    checks.push({
      name: `control plane answers (weft ${ready.body.version})`,
      ok: ready.body.ready === true,
    });
  } catch (e) {
    checks.push({
      name: 'control plane answers',
      ok: false,
      detail: errorMessage(e),
      hint: 'start the mesh with `weft up -f …`',
    });
    return checks;
  }
  const { body: proxies } = await client.call<{ items: Array<ProxyStatus & { ready: boolean }> }>(
    'GET',
    '/apis/v1/proxies',
  );
  checks.push({
    name: `${proxies.items.length} proxies connected`,
    ok: proxies.items.length > 0,
    hint: 'no proxy is connected: did `weft up` start any workload? See .weft/logs/',
  });
  for (const p of proxies.items) {
    const sync = syncState(p);
    checks.push({
      name: `${p.id}: config ${sync}`,
      ok: sync === 'SYNCED',
      ...(p.nack ? { detail: `rejected ${p.nack.version}: ${p.nack.reason}` } : {}),
      hint: `the proxy keeps its last good config; fix the config it rejects, then see \`weft proxy-config ${p.id}\``,
    });
    if (p.kind === 'sidecar')
      checks.push({
        name: `${p.id}: app ready`,
        ok: p.ready,
        hint: `its readiness probe fails: see .weft/logs/${p.id}.app.log`,
      });
    const notAfter = await certExpiry(p.adminPort);
    if (notAfter) {
      const left = notAfter.getTime() - Date.now();
      checks.push({
        name: `${p.id}: certificate valid until ${notAfter.toISOString()}`,
        ok: left > 0,
        ...(left > 0 && left < DAY_MS / 24
          ? { detail: 'expires within the hour (renewal is at half life)' }
          : {}),
        hint: 'the proxy could not renew its certificate: is the control plane reachable?',
      });
    }
  }
  const { body: analysis } = await client.call<{ problems: ConfigProblem[] }>('GET', '/apis/v1/analyze');
  const errors = analysis.problems.filter((p) => p.severity === 'error');
  checks.push({
    name: `config analysis: ${errors.length} errors, ${analysis.problems.length - errors.length} warnings`,
    ok: errors.length === 0,
    hint: 'see `weft analyze` output for each problem and its location',
  });
  return checks;
}

export function registerCheck(program: Command, mesh: () => MeshFlags): void {
  program
    .command('check')
    .description('check the environment and the running mesh, with a hint for each failure')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { output: string }) => {
      const checks = await runChecks(mesh());
      if (o.output === 'json') process.stdout.write(JSON.stringify(checks, null, 2) + '\n');
      else {
        for (const c of checks) {
          process.stdout.write(`${c.ok ? '√' : '×'} ${c.name}${c.detail ? ` — ${c.detail}` : ''}\n`);
          if (!c.ok && c.hint) process.stdout.write(`    hint: ${c.hint}\n`);
        }
        const failed = checks.filter((c) => !c.ok).length;
        process.stdout.write(failed ? `\n${failed} check(s) failed\n` : '\nStatus check results are √\n');
      }
      if (checks.some((c) => !c.ok)) process.exitCode = 1;
    });
}
