// `weft proxy`: one sidecar or gateway proxy. Local mode (`weft up`) starts one per workload instance;
// it can also run on its own beside an existing process (omit the command to adopt it).
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { Proxy } from '../../proxy/proxy.js';
import { AppLauncher } from '../../proxy/launcher.js';
import { createLogger } from '../../lib/logger.js';
import { errorMessage } from '../../lib/errors.js';

interface ProxyFlags {
  id?: string;
  workload: string;
  namespace: string;
  serviceAccount: string;
  kind: 'sidecar' | 'gateway';
  controlPlane: string;
  rootCert: string;
  tokenFile?: string;
  trustDomain: string;
  bind: string;
  outboundPort: string;
  inboundPort: string;
  adminPort: string;
  metricsPort: string;
  appPort: string[];
  appLog?: string;
  accessLog: boolean;
  concurrency: string;
}

/** The IPC messages a proxy sends to `weft up` when it runs as its child. */
export type ProxyEvent =
  | { type: 'ready'; ports: { outbound: number; inbound: number; admin: number; metrics: number } }
  | { type: 'app-started'; pid: number }
  | { type: 'app-exited'; code: number | null; signal: string | null }
  | { type: 'failed'; error: string };

function notify(e: ProxyEvent): void {
  if (process.send) process.send(e);
}

function parsePortMap(entries: string[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const e of entries) {
    const [from, to] = e.split('=').map(Number);
    if (!from || !to) throw new Error(`--app-port wants CONTAINER=LOCAL, got "${e}"`);
    out[from] = to;
  }
  return out;
}

function parseConcurrency(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 64)
    throw new Error(`--concurrency wants a whole number from 0 (one per core) to 64, got "${v}"`);
  return n === 0 ? os.availableParallelism() : n;
}

export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description('run a sidecar or gateway proxy for one workload instance')
    .requiredOption('--workload <name>', 'the Workload this proxy serves')
    .option('--namespace <ns>', 'namespace of the Workload', 'default')
    .option('--id <id>', 'instance id (default <workload>-0.<namespace>)')
    .option('--service-account <sa>', 'service account of the Workload', 'default')
    .option('--kind <kind>', 'sidecar or gateway', 'sidecar')
    .option('--control-plane <addr>', 'discovery address host:port', '127.0.0.1:15012')
    .requiredOption('--root-cert <file>', 'the mesh root certificate (PEM)')
    .option('--token-file <file>', 'bootstrap token file (or env WEFT_BOOTSTRAP_TOKEN)')
    .option('--trust-domain <td>', 'SPIFFE trust domain', 'cluster.local')
    .option('--bind <addr>', 'address of the inbound listener', '127.0.0.1')
    .option('--outbound-port <n>', 'outbound listener port (0 = any free port)', '15001')
    .option('--inbound-port <n>', 'inbound mTLS listener port', '15006')
    .option('--admin-port <n>', 'admin port (loopback)', '15000')
    .option('--metrics-port <n>', 'Prometheus /stats/prometheus port (loopback; 0 = any free port)', '15020')
    .option('--app-port <map...>', 'CONTAINER=LOCAL: where the app really listens for a container port', [])
    .option('--app-log <file>', 'write the app output to this file')
    .option('--no-access-log', 'do not print access logs')
    .option(
      '--concurrency <n>',
      'data-plane worker processes sharing the listeners (Envoy --concurrency; 0 = one per core)',
      process.env.WEFT_PROXY_CONCURRENCY ?? '1',
    )
    .argument('[command...]', 'the app to run beside the proxy (after --)')
    .action(async (command: string[], f: ProxyFlags) => {
      const log = createLogger(`proxy ${f.workload}`);
      const token = f.tokenFile
        ? (await readFile(f.tokenFile, 'utf8')).trim()
        : process.env.WEFT_BOOTSTRAP_TOKEN;
      const appEnv = JSON.parse(process.env.WEFT_APP_ENV ?? '{}') as Record<string, string>;
      const appPorts = parsePortMap(f.appPort);
      const proxy = new Proxy({
        id: f.id ?? `${f.workload}-0.${f.namespace}`,
        workload: f.workload,
        namespace: f.namespace,
        serviceAccount: f.serviceAccount,
        kind: f.kind,
        trustDomain: f.trustDomain,
        controlPlane: f.controlPlane,
        rootPem: await readFile(f.rootCert, 'utf8'),
        ...(token ? { token } : {}),
        bind: f.bind,
        outboundPort: Number(f.outboundPort),
        inboundPort: Number(f.inboundPort),
        adminPort: Number(f.adminPort),
        metricsPort: Number(f.metricsPort),
        appHost: '127.0.0.1',
        appPorts,
        ...(f.accessLog ? { accessLog: (line: string) => void process.stdout.write(line + '\n') } : {}),
        concurrency: parseConcurrency(f.concurrency),
        log,
      });
      // Set once the app runs; shutdown (which may come first) stops it if it exists.
      const running: { app?: AppLauncher } = {};
      const shutdown = async (code: number) => {
        await running.app?.stop();
        await proxy.stop();
        process.exit(code);
      };
      process.on('SIGTERM', () => void shutdown(0));
      process.on('SIGINT', () => void shutdown(0));
      // Run by `weft up`: if it goes away, so do we (and our app), rather than lingering.
      process.on('disconnect', () => void shutdown(0));
      try {
        await proxy.start();
      } catch (e) {
        log.error('proxy failed to start', { error: errorMessage(e) });
        notify({ type: 'failed', error: errorMessage(e) });
        process.exit(1);
      }
      notify({ type: 'ready', ports: proxy.ports });
      log.info('proxy ready', proxy.ports);
      if (command.length === 0) return;
      // PORT is the first container port as declared (object keys would sort numerically).
      const firstPort = f.appPort[0]?.split('=')[1];
      delete process.env.WEFT_BOOTSTRAP_TOKEN;
      delete process.env.WEFT_APP_ENV;
      const outbound = `127.0.0.1:${proxy.ports.outbound}`;
      const launcher = new AppLauncher({
        command,
        env: {
          ...(process.env as Record<string, string>),
          ...appEnv,
          ...(firstPort ? { PORT: String(firstPort) } : {}),
          WEFT_OUTBOUND: outbound,
          HTTP_PROXY: `http://${outbound}`,
          http_proxy: `http://${outbound}`,
          WEFT_WORKLOAD: f.workload,
          WEFT_NAMESPACE: f.namespace,
          POD_NAME: (f.id ?? `${f.workload}-0.${f.namespace}`).replace(/\.[^.]+$/, ''),
        },
        ...(f.appLog ? { logFile: f.appLog } : {}),
        log,
      });
      running.app = launcher;
      const pid = launcher.start((code, signal) => {
        log.warn('app exited; stopping its proxy', { code, signal });
        notify({ type: 'app-exited', code, signal });
        void proxy.stop().then(() => process.exit(code ?? 1));
      });
      notify({ type: 'app-started', pid });
    });
}
