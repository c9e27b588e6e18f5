// One workload instance in local mode: a `weft proxy` child that, once ready, runs the app beside it.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Workload } from '../config/types.js';
import type { ProxyEvent } from '../cli/commands/proxy.js';
import { TOKEN_FROM_PARENT_ENV, type TokenReply, type TokenRequest } from '../proxy/identity/token-source.js';
import { freePort } from './ports.js';
import { proxyKindOf } from './builtins.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export type InstanceState =
  'starting' | 'proxy-ready' | 'running' | 'ready' | 'exited' | 'failed' | 'stopped';

export interface InstanceInfo {
  id: string;
  workload: string;
  namespace: string;
  kind: 'sidecar' | 'gateway';
  state: InstanceState;
  proxyPid?: number;
  appPid?: number;
  ports?: { outbound: number; inbound: number; admin: number; metrics?: number };
  appPorts: Record<number, number>;
  detail?: string;
  logs: { proxy: string; app: string };
}

export interface InstanceEnv {
  controlPlane: string;
  rootCert: string;
  trustDomain: string;
  logDir: string;
  /** A single-use bootstrap token for this instance's workload: at start, and whenever its proxy's
   *  certificate has lapsed (the process was stopped or the machine slept past its lifetime). */
  issueToken: () => string;
  cwd: string;
}

export class Instance {
  readonly info: InstanceInfo;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly w: Workload,
    index: number,
    private readonly onChange: (i: Instance) => void,
  ) {
    const id = `${w.metadata.name}-${index}.${w.metadata.namespace}`;
    this.info = {
      id,
      workload: w.metadata.name,
      namespace: w.metadata.namespace,
      kind: proxyKindOf(w),
      state: 'starting',
      appPorts: {},
      logs: { proxy: '', app: '' },
    };
  }

  private set(state: InstanceState, detail?: string): void {
    this.info.state = state;
    if (detail !== undefined) this.info.detail = detail;
    this.onChange(this);
  }

  async start(env: InstanceEnv): Promise<void> {
    const w = this.w;
    const adopt = !w.spec.command?.length;
    // Each app gets its own loopback port per container port (many workloads share 9080 on one host),
    // unless it is adopted: then it already listens on its container port.
    for (const p of w.spec.ports ?? [])
      this.info.appPorts[p.containerPort] = adopt ? p.containerPort : await freePort();
    this.info.logs = {
      proxy: join(env.logDir, `${this.info.id}.proxy.log`),
      app: join(env.logDir, `${this.info.id}.app.log`),
    };
    const sidecar = w.spec.sidecar ?? {};
    const args = [
      // Node flags for the proxy processes only, e.g. WEFT_PROXY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p"
      // to profile sidecars (Node refuses --cpu-prof in NODE_OPTIONS).
      ...(process.env.WEFT_PROXY_NODE_ARGS ?? '').split(' ').filter(Boolean),
      CLI,
      'proxy',
      '--id',
      this.info.id,
      '--workload',
      w.metadata.name,
      '--namespace',
      w.metadata.namespace,
      '--service-account',
      w.spec.serviceAccount ?? 'default',
      '--kind',
      this.info.kind,
      '--control-plane',
      env.controlPlane,
      '--root-cert',
      env.rootCert,
      '--trust-domain',
      env.trustDomain,
      '--outbound-port',
      String(sidecar.outboundPort ?? 0),
      '--inbound-port',
      String(sidecar.inboundPort ?? 0),
      '--admin-port',
      String(sidecar.adminPort ?? 0),
      '--metrics-port', // many proxies share the host: each picks a free one, found via /prometheus/targets
      '0',
      '--app-log',
      this.info.logs.app,
      // In declared order: the first container port becomes the app's PORT.
      ...(w.spec.ports ?? []).flatMap((p) => [
        '--app-port',
        `${p.containerPort}=${this.info.appPorts[p.containerPort]}`,
      ]),
      ...(adopt ? [] : ['--', ...w.spec.command!]),
    ];
    const log = openSync(this.info.logs.proxy, 'a');
    const child = spawn(process.execPath, args, {
      cwd: env.cwd,
      stdio: ['ignore', log, log, 'ipc'],
      env: {
        ...process.env,
        WEFT_BOOTSTRAP_TOKEN: env.issueToken(),
        [TOKEN_FROM_PARENT_ENV]: '1',
        WEFT_APP_ENV: JSON.stringify(w.spec.env ?? {}),
      },
    });
    this.child = child;
    this.info.proxyPid = child.pid;
    child.on('message', (m: ProxyEvent | TokenRequest) => {
      if (m.type !== 'token-request') return this.onEvent(m);
      // Only this child can ask on its channel, so the token is bound to the workload launched here.
      if (child.connected) child.send({ type: 'token', token: env.issueToken() } satisfies TokenReply);
    });
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        if (this.info.state !== 'stopped' && this.info.state !== 'exited' && this.info.state !== 'failed')
          this.set('exited', `proxy exited (${signal ?? `code ${code}`})`);
        resolve();
      }),
    );
  }

  private onEvent(m: ProxyEvent): void {
    switch (m.type) {
      case 'ready':
        this.info.ports = m.ports;
        this.set(this.info.kind === 'gateway' || !this.w.spec.command?.length ? 'running' : 'proxy-ready');
        break;
      case 'app-started':
        this.info.appPid = m.pid;
        this.set('running');
        break;
      case 'app-exited':
        this.set('exited', `app exited (${m.signal ?? `code ${m.code}`}); its proxy stopped`);
        break;
      case 'failed':
        this.set('failed', m.error);
        break;
    }
  }

  markReady(ready: boolean): void {
    if (ready && this.info.state === 'running') this.set('ready');
    else if (!ready && this.info.state === 'ready') this.set('running', 'readiness probe failing');
  }

  async stop(graceMs = 6000): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    this.info.state = 'stopped';
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    c.kill('SIGTERM');
    await this.exited;
    clearTimeout(t);
  }
}
