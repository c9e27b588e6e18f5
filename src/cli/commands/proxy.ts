// `weft proxy`: one sidecar or gateway proxy. Local mode (`weft up`) starts one per workload instance;
// it can also run on its own beside an existing process (omit the command to adopt it).
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { Proxy } from '../../proxy/proxy.js';
import { AppLauncher } from '../../proxy/launcher.js';
import { createLogger } from '../../lib/logger.js';
import { errorMessage } from '../../lib/errors.js';
import { releaseStartupHold } from '../../proxy/young-gen.js';
import {
  fileTokenSource,
  parentTokenSource,
  TOKEN_FROM_PARENT_ENV,
} from '../../proxy/identity/token-source.js';
import { HELPER_NICE, lowerHelperThreads, scavengeOnMainThread } from '../../proxy/helper-threads.js';

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

/** The options of `weft proxy`, for commander (help, errors) and for the fast path (parseProxyArgs). */
const OPTIONS: Array<{ flags: string; help: string; default?: string | string[]; required?: true }> = [
  { flags: '--workload <name>', help: 'the Workload this proxy serves', required: true },
  { flags: '--namespace <ns>', help: 'namespace of the Workload', default: 'default' },
  { flags: '--id <id>', help: 'instance id (default <workload>-0.<namespace>)' },
  { flags: '--service-account <sa>', help: 'service account of the Workload', default: 'default' },
  { flags: '--kind <kind>', help: 'sidecar or gateway', default: 'sidecar' },
  { flags: '--control-plane <addr>', help: 'discovery address host:port', default: '127.0.0.1:15012' },
  { flags: '--root-cert <file>', help: 'the mesh root certificate (PEM)', required: true },
  {
    flags: '--token-file <file>',
    help: 'bootstrap token file (or env WEFT_BOOTSTRAP_TOKEN); read again should the certificate lapse',
  },
  { flags: '--trust-domain <td>', help: 'SPIFFE trust domain', default: 'cluster.local' },
  { flags: '--bind <addr>', help: 'address of the inbound listener', default: '127.0.0.1' },
  { flags: '--outbound-port <n>', help: 'outbound listener port (0 = any free port)', default: '15001' },
  { flags: '--inbound-port <n>', help: 'inbound mTLS listener port', default: '15006' },
  { flags: '--admin-port <n>', help: 'admin port (loopback)', default: '15000' },
  {
    flags: '--metrics-port <n>',
    help: 'Prometheus /stats/prometheus port (loopback; 0 = any free port)',
    default: '15020',
  },
  {
    flags: '--app-port <map...>',
    help: 'CONTAINER=LOCAL: where the app really listens for a container port',
    default: [],
  },
  { flags: '--app-log <file>', help: 'write the app output to this file' },
  { flags: '--no-access-log', help: 'do not print access logs' },
  {
    flags: '--concurrency <n>',
    help: 'data-plane worker processes sharing the listeners (Envoy --concurrency; 0 = one per core)',
    default: process.env.WEFT_PROXY_CONCURRENCY ?? '1',
  },
];

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * `weft proxy` arguments parsed without commander, which would stay loaded in every proxy for the
 * process lifetime (~1 MB). Only the plain form `weft up` and users write (`--opt value`, `--opt=value`,
 * repeated `--app-port`, the app after `--`); anything else (help, unknown or missing options, a
 * space-separated `--app-port` list) returns undefined and goes through commander, as before.
 */
export function parseProxyArgs(args: string[]): { command: string[]; flags: ProxyFlags } | undefined {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const o of OPTIONS) {
    const name = o.flags.split(' ')[0]!.slice(2);
    if (name.startsWith('no-')) options[name] = { type: 'boolean' };
    else options[name] = { type: 'string', ...(o.flags.endsWith('...>') ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
  } catch {
    return undefined;
  }
  const terminator = parsed.tokens.findIndex((t) => t.kind === 'option-terminator');
  if (parsed.tokens.some((t, i) => t.kind === 'positional' && (terminator < 0 || i < terminator)))
    return undefined;
  const flags: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const name = o.flags.split(' ')[0]!.slice(2);
    const v = parsed.values[name];
    if (name.startsWith('no-')) flags[camel(name.slice(3))] = v !== true;
    else if (v !== undefined) flags[camel(name)] = v;
    else if (o.required) return undefined;
    else if (o.default !== undefined) flags[camel(name)] = o.default;
  }
  return { command: parsed.positionals, flags: flags as unknown as ProxyFlags };
}

export function registerProxy(program: Command): void {
  const cmd = program
    .command('proxy')
    .description('run a sidecar or gateway proxy for one workload instance');
  for (const o of OPTIONS)
    if (o.required) cmd.requiredOption(o.flags, o.help);
    else if (o.default !== undefined) cmd.option(o.flags, o.help, o.default);
    else cmd.option(o.flags, o.help);
  cmd
    .argument('[command...]', 'the app to run beside the proxy (after --)')
    .action((command: string[], f: ProxyFlags) => runProxy(command, f));
}

/** Runs the proxy (and its app) until a signal, the app's exit or `weft up` going away. */
export async function runProxy(command: string[], f: ProxyFlags): Promise<void> {
  const log = createLogger(`proxy ${f.workload}`);
  const token = f.tokenFile ? (await readFile(f.tokenFile, 'utf8')).trim() : process.env.WEFT_BOOTSTRAP_TOKEN;
  // Should the certificate lapse (the process stopped, the machine slept): the file again, or weft up.
  const reissueToken = f.tokenFile ? fileTokenSource(f.tokenFile, token) : parentTokenSource();
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
    ...(reissueToken ? { reissueToken } : {}),
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
  releaseStartupHold();
  // The helper threads exist by now (V8 starts its pool with the isolate, libuv its own on the first
  // lookup, which listening did); once more a little later for any that came after.
  const helperNice = Number(process.env.WEFT_PROXY_HELPER_NICE ?? HELPER_NICE);
  lowerHelperThreads(helperNice);
  setTimeout(() => lowerHelperThreads(helperNice), 10_000).unref();
  if (helperNice > 0) scavengeOnMainThread(); // a GC pause must not wait for the lowered helpers
  notify({ type: 'ready', ports: proxy.ports });
  log.info('proxy ready', proxy.ports);
  if (command.length === 0) return;
  // PORT is the first container port as declared (object keys would sort numerically).
  const firstPort = f.appPort[0]?.split('=')[1];
  delete process.env.WEFT_BOOTSTRAP_TOKEN;
  delete process.env[TOKEN_FROM_PARENT_ENV];
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
}
