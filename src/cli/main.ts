#!/usr/bin/env node
// The `weft` command. Each subcommand lives in commands/<name>.ts; this file only wires them.
import { Command } from 'commander';
import { errorMessage } from '../lib/errors.js';
import { WEFT_VERSION } from '../lib/version.js';
import { registerUp } from './commands/up.js';
import { registerProxy } from './commands/proxy.js';
import { registerControlPlane } from './commands/control-plane.js';
import { registerConfigCommands } from './commands/config.js';
import { registerStatusCommands } from './commands/status.js';
import { registerAnalyze } from './commands/analyze.js';
import { registerDescribe } from './commands/describe.js';
import { registerCheck } from './commands/check.js';
import { registerCa } from './commands/ca.js';
import { registerSecurityCommands } from './commands/security.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerTap } from './commands/tap.js';
import { registerTop } from './commands/top.js';
import { registerStat } from './commands/stat.js';
import type { MeshFlags } from './mesh-client.js';

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
registerUp(program);
registerControlPlane(program);
registerProxy(program);
registerConfigCommands(program, mesh);
registerStatusCommands(program, mesh);
registerAnalyze(program);
registerDescribe(program, mesh);
registerCheck(program, mesh);
registerCa(program, mesh);
registerSecurityCommands(program, mesh);
registerDashboard(program, mesh);
registerTap(program, mesh);
registerTop(program, mesh);
registerStat(program, mesh);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`error: ${errorMessage(e)}\n`);
  process.exitCode = 1;
});
