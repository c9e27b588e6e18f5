#!/usr/bin/env node
// The `weft` command. Each subcommand lives in commands/<name>.ts; this file only wires them.
import type { Command } from 'commander';
import { errorMessage } from '../lib/errors.js';
import { WEFT_VERSION } from '../lib/version.js';
import type { MeshFlags } from './mesh-client.js';

/** The proxies' cap on V8's young generation in MB, held at half while that is cheap
 *  (proxy/young-gen.ts); WEFT_PROXY_YOUNG_GEN_MB=0 leaves it to V8. */
const YOUNG_GEN_MB = Number(process.env.WEFT_PROXY_YOUNG_GEN_MB ?? 8) || 0;

type Register = (program: Command, mesh: () => MeshFlags) => void;
// Command modules load on demand: `weft proxy` runs once per workload, and loading every other
// command's code (control plane, config schemas, dashboard) cost each sidecar ~20 MB of memory.
const COMMANDS: Array<[names: string[], load: () => Promise<Register>]> = [
  [['up'], async () => (await import('./commands/up.js')).registerUp],
  [['control-plane'], async () => (await import('./commands/control-plane.js')).registerControlPlane],
  [['proxy'], async () => (await import('./commands/proxy.js')).registerProxy],
  [['apply', 'delete', 'get'], async () => (await import('./commands/config.js')).registerConfigCommands],
  [
    ['proxy-status', 'proxy-config'],
    async () => (await import('./commands/status.js')).registerStatusCommands,
  ],
  [['analyze'], async () => (await import('./commands/analyze.js')).registerAnalyze],
  [['describe'], async () => (await import('./commands/describe.js')).registerDescribe],
  [['check'], async () => (await import('./commands/check.js')).registerCheck],
  [['ca'], async () => (await import('./commands/ca.js')).registerCa],
  [['tls-check', 'authz'], async () => (await import('./commands/security.js')).registerSecurityCommands],
  [['dashboard'], async () => (await import('./commands/dashboard.js')).registerDashboard],
  [['tap'], async () => (await import('./commands/tap.js')).registerTap],
  [['top'], async () => (await import('./commands/top.js')).registerTop],
  [['stat'], async () => (await import('./commands/stat.js')).registerStat],
];

async function main(): Promise<void> {
  // `weft proxy` with plain arguments (as `weft up` starts it) runs without loading commander at all.
  if (process.argv[2] === 'proxy') {
    // Before the proxy's modules load (loading them grows the young generation already).
    (await import('../proxy/startup-jit.js')).holdOptimizingCompiler();
    if (YOUNG_GEN_MB > 0)
      (await import('../proxy/young-gen.js')).capYoungGeneration(YOUNG_GEN_MB * 1024 * 1024, true);
    const proxy = await import('./commands/proxy.js');
    const parsed = proxy.parseProxyArgs(process.argv.slice(3));
    if (parsed) return proxy.runProxy(parsed.command, parsed.flags);
  }
  const { Command } = await import('commander');
  const program = new Command();
  program
    .name('weft')
    .description('Weft: a service mesh you can run on one machine')
    .version(WEFT_VERSION)
    .option(
      '--addr <host:port>',
      'control plane admin address (default: WEFT_ADDR, then <state-dir>/mesh.json)',
    )
    .option('--state-dir <dir>', 'state directory of a `weft up` mesh', '.weft')
    .showHelpAfterError();
  const mesh = (): MeshFlags => program.opts<MeshFlags>();
  // `weft <command> …`: only that command's module; anything else (help, global options first) loads all.
  const named = COMMANDS.find(([names]) => names.includes(process.argv[2] ?? ''));
  for (const [, load] of named ? [named] : COMMANDS) (await load())(program, mesh);
  await program.parseAsync(process.argv);
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${errorMessage(e)}\n`);
  process.exitCode = 1;
});
