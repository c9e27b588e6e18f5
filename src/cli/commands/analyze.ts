// `weft analyze -f PATH…`: validate offline (no mesh needed) and report cross-reference mistakes.
import type { Command } from 'commander';
import { loadPaths } from '../../config/load.js';
import { analyze } from '../../config/analyze.js';
import { loadKubeObjects } from '../../config/analyze-kube.js';
import { formatProblem } from '../../config/types.js';
import { printStructured } from '../output.js';

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('validate config files offline and report mistakes (like istioctl analyze)')
    .requiredOption('-f, --filename <paths...>', 'YAML/JSON files or folders')
    .option('-o, --output <format>', 'text, yaml or json', 'text')
    .action(async (o: { filename: string[]; output: string }) => {
      const loaded = await loadPaths(o.filename);
      // Pods, Deployments and Namespaces are not Weft resources, but they say which workloads and
      // namespaces exist, as they do for istioctl analyze.
      const kube = await loadKubeObjects(o.filename);
      const problems = [...loaded.problems, ...analyze(loaded.resources, kube)];
      const errors = problems.filter((p) => p.severity === 'error').length;
      if (o.output === 'json' || o.output === 'yaml') printStructured(problems, o.output);
      else if (problems.length === 0)
        process.stdout.write(`✔ No validation issues found in ${loaded.resources.length} resources.\n`);
      else {
        for (const p of problems) process.stdout.write(formatProblem(p) + '\n');
        process.stdout.write(`${errors} error(s), ${problems.length - errors} warning(s)\n`);
      }
      if (errors) process.exitCode = 1;
    });
}
