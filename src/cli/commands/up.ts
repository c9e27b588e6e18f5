// `weft up -f PATH…`: run a whole mesh on this machine: control plane, ingress gateway, and one proxy
// per workload instance with the workload's own process. Ctrl-C stops everything.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadPaths } from '../../config/load.js';
import { CA_OPTIONS, caSettings, type CaFlags } from './ca.js';
import { PROMETHEUS_OPTION, prometheusUrl } from '../../local/prometheus-flag.js';
import { errorMessage, isWeftError } from '../../lib/errors.js';
import { formatProblem } from '../../config/types.js';
import { createLogger } from '../../lib/logger.js';
import { LocalMesh } from '../../local/mesh.js';
import { LiveTable, progressLine, renderTable } from '../../local/live-table.js';
import { meshRows } from '../../local/status-rows.js';
import { DEFAULT_STATE_DIR } from '../mesh-client.js';
import { openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run a whole mesh on this machine from config files (no Kubernetes, Docker or root)')
    .requiredOption('-f, --filename <paths...>', 'YAML files or folders: Workloads, Services, Istio config')
    .option('--keep-state', 'keep resources applied in earlier runs (default: start from the files)')
    .option('--discovery-port <n>', 'control plane discovery port (0 = any free port)', '15012')
    .option('--admin-port <n>', 'control plane admin port (0 = any free port)', '15014')
    .option(...CA_OPTIONS.workloadCertTtl)
    .option(...CA_OPTIONS.certTtl)
    .option(...CA_OPTIONS.caCert)
    .option(...CA_OPTIONS.caKey)
    .option(...CA_OPTIONS.rootCert)
    .option(...CA_OPTIONS.certChain)
    .option(...PROMETHEUS_OPTION)
    .option('--ready-timeout <seconds>', 'how long to wait for every workload to become ready', '60')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<
        CaFlags & {
          filename: string[];
          stateDir?: string;
          keepState?: boolean;
          discoveryPort: string;
          adminPort: string;
          readyTimeout: string;
          prometheusUrl?: string;
        }
      >();
      // Flags first: a bad CA or lifetime stops here, before anything starts.
      const { certTtlMs, caFiles } = caSettings(o);
      const prometheus = prometheusUrl(o.prometheusUrl);
      const stateDir = resolve(o.stateDir ?? DEFAULT_STATE_DIR);
      mkdirSync(join(stateDir, 'logs'), { recursive: true });
      // Our own log goes to a file: the terminal shows the status of the mesh, not its chatter.
      const logFd = openSync(join(stateDir, 'logs', 'control-plane.log'), 'a');
      const log = createLogger('weft-up', { write: (l) => writeSync(logFd, l + '\n') });
      const loaded = await loadPaths(o.filename);
      for (const p of loaded.problems) process.stderr.write(formatProblem(p) + '\n');
      if (loaded.problems.some((p) => p.severity === 'error')) {
        process.stderr.write(
          'error: the config has errors; nothing was started. Fix them, or check with `weft analyze -f`.\n',
        );
        process.exitCode = 1;
        return;
      }
      process.stdout.write(
        `Starting the mesh from ${o.filename.join(', ')} (${loaded.resources.length} resources)\n`,
      );
      // The status table: redrawn on every instance change, and a few times a second meanwhile for the
      // phases only the control plane sees (certificate issued, config stream open).
      let started: LocalMesh | undefined;
      const live = new LiveTable(process.stdout);
      let stopping = false;
      // Once Ctrl-C is pressed, proxies going away are the expected end, not news.
      const show = () => stopping || live.update(meshRows(started, process.cwd()));
      show();
      const ticker = setInterval(show, 150);
      let mesh: LocalMesh;
      try {
        mesh = await LocalMesh.start({
          stateDir,
          resources: loaded.resources,
          keepState: !!o.keepState,
          discoveryPort: Number(o.discoveryPort),
          adminPort: Number(o.adminPort),
          certTtlMs,
          ...(caFiles ? { caFiles } : {}),
          prometheusUrl: prometheus ?? '',
          cwd: process.cwd(),
          log,
          onChange: show,
          onControlPlane: (m) => (started = m),
        });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const hint =
          err.code === 'EADDRINUSE'
            ? ' (is another mesh running? stop it, or pass --admin-port 0 --discovery-port 0)'
            : '';
        const why = isWeftError(e) ? errorMessage(e) : err.message;
        clearInterval(ticker);
        live.freeze();
        process.stderr.write(`error: cannot start the control plane: ${why}${hint}\n`);
        process.exitCode = 1;
        return;
      }
      const stop = async () => {
        if (stopping) {
          process.stdout.write('forcing exit\n');
          process.exit(130);
        }
        stopping = true;
        clearInterval(ticker);
        live.freeze();
        process.stdout.write('\nStopping the mesh…\n');
        await mesh.stop();
        process.stdout.write('Stopped.\n');
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());

      const deadline = Date.now() + Number(o.readyTimeout) * 1000;
      // Gateways too: with no app to wait for, theirs is the first probe after the config arrived, so
      // the table does not end on a gateway one step short of ready.
      const settled = () =>
        mesh.instances.every((i) => ['ready', 'exited', 'failed', 'stopped'].includes(i.info.state));
      while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      // Instances becoming ready change every proxy's endpoints: wait (a few seconds at most) until each
      // proxy acknowledged the push that says so, so a request sent right after "Mesh is up" finds its
      // upstream healthy instead of 503 UH.
      const syncDeadline = Math.min(deadline, Date.now() + 10_000);
      while (!mesh.cp.push.allSynced() && Date.now() < syncDeadline)
        await new Promise((r) => setTimeout(r, 50));

      clearInterval(ticker);
      const rows = meshRows(mesh, process.cwd(), true);
      if (live.isLive) {
        live.update(rows);
        live.freeze();
        process.stdout.write('\n');
      } else {
        live.update(rows);
        process.stdout.write('\n' + renderTable(rows).join('\n') + '\n\n');
      }
      // The table cuts long lines on a terminal: the reason and the next step in full.
      const bad = rows.filter((r) => r.phase !== 'ready');
      for (const r of bad) process.stdout.write(progressLine(r).trimStart());
      if (bad.length) process.stdout.write('\n');
      for (const u of mesh.ingressUrls()) {
        process.stdout.write(`Ingress ${u.gateway}: ${u.url}\n`);
        // The first exact path a route serves is the page to open (bookinfo: /productpage).
        const page = u.paths.find((x) => x !== '/');
        if (page) process.stdout.write(`  open ${u.url}${page}\n`);
      }
      process.stdout.write(
        `Admin API: http://${mesh.cp.info.admin}   (weft proxy-status, weft get vs, weft apply -f …)\n`,
      );
      process.stdout.write(
        `Metrics: http://${mesh.cp.info.admin}/metrics, every proxy via http_sd at http://${mesh.cp.info.admin}/prometheus/targets\n`,
      );
      process.stdout.write(`Logs: ${join(stateDir, 'logs')}\n`);
      process.stdout.write(
        mesh.instances.every((i) => ['ready', 'running'].includes(i.info.state))
          ? 'Mesh is up. Press Ctrl-C to stop.\n'
          : 'Some workloads are not ready; see the table and their logs. Press Ctrl-C to stop.\n',
      );
    });
}
