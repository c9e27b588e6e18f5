// Runs `weft up` as a child process on a generated two-workload config (adopted `backend` behind a
// Service, plus a `client` whose outbound sidecar port we pin) and waits until every instance is up.
// Driving the real CLI (not LocalMesh in-process) keeps the proxies and control plane out of the load
// generator's event loop and measures what users run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, waitExit } from './proc.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface InstanceInfo {
  id: string;
  kind: 'sidecar' | 'gateway';
  state: string;
  detail?: string;
  proxyPid?: number;
  ports?: { inbound?: number };
}

export interface Mesh {
  outboundPort: number;
  stateDir: string;
  /** Pid of the `weft up` process (control plane). */
  pid: number;
  /** Proxy pids by instance id (e.g. `client-…`, `backend-…`, the ingress gateway), once ready. */
  proxies: Record<string, number>;
  /** Inbound (mTLS) listener port by instance id. */
  inboundPorts: Record<string, number>;
  stop(): Promise<void>;
}

export interface MeshOptions {
  timeoutMs?: number;
  /** `taskset -c` CPU list for `weft up`; the proxies it starts inherit it. */
  cpus?: string;
  /**
   * Also declare a MESH_EXTERNAL ServiceEntry `direct.bench` (port 80 → the backend port on 127.0.0.1):
   * a request for it crosses only the client's outbound sidecar, in plaintext (one hop, no TLS).
   */
  oneHop?: boolean;
  /** Name of the backend's Workload and Service port (default `http`; `grpc` makes it an HTTP/2 gRPC service). */
  portName?: string;
}

/** Host header that reaches the backend through one sidecar (see MeshOptions.oneHop). */
export const ONE_HOP_HOST = 'one-hop.bench.test'; // three labels: weft would expand a two-label host (x.y) as namespace-qualified

/** A port the OS says is free right now (bind to 0, close). Racy in theory; fine on a quiet box. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function config(backendPort: number, outboundPort: number, oneHop = false, portName = 'http'): string {
  // The Service port equals the backend's containerPort, so clients address it as backend:<port>.
  return `apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: { name: backend, namespace: default, labels: { app: backend } }
spec:
  ports: [{ name: ${portName}, containerPort: ${backendPort} }]
---
apiVersion: v1
kind: Service
metadata: { name: backend, namespace: default }
spec:
  selector: { app: backend }
  ports: [{ name: ${portName}, port: ${backendPort} }]
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: { name: client, namespace: default, labels: { app: client } }
spec:
  sidecar: { outboundPort: ${outboundPort} }
${
  oneHop
    ? `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: direct, namespace: default }
spec:
  hosts: [${ONE_HOP_HOST}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${backendPort} }]
  endpoints: [{ address: 127.0.0.1 }]
`
    : ''
}`;
}

async function readInstances(stateDir: string): Promise<InstanceInfo[] | undefined> {
  try {
    const j = JSON.parse(await readFile(join(stateDir, 'instances.json'), 'utf8')) as {
      instances: InstanceInfo[];
    };
    return j.instances;
  } catch {
    return undefined; // not written yet, or caught mid-rename
  }
}

const isUp = (i: InstanceInfo) => i.state === 'ready' || (i.kind === 'gateway' && i.state === 'running');

export async function startMesh(dir: string, backendPort: number, opts: MeshOptions = {}): Promise<Mesh> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const cfgDir = join(dir, 'config');
  const stateDir = join(dir, 'state');
  await mkdir(cfgDir, { recursive: true });
  const outboundPort = await freePort();
  await writeFile(join(cfgDir, 'mesh.yaml'), config(backendPort, outboundPort, opts.oneHop, opts.portName));

  const args = [
    CLI,
    'up',
    '-f',
    cfgDir,
    '--state-dir',
    stateDir,
    '--admin-port',
    '0',
    '--discovery-port',
    '0',
  ];
  const [cmd, argv] = opts.cpus
    ? ['taskset', ['-c', opts.cpus, process.execPath, ...args]]
    : [process.execPath, args];
  const child: ChildProcess = spawn(cmd, argv, {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = ''; // kept for error messages only
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));

  let proxyPids: number[] = [];
  let proxies: Record<string, number> = {};
  let inboundPorts: Record<string, number> = {};
  const stop = async () => {
    // One SIGTERM only: a second one makes `weft up` force-exit without stopping its proxies.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await waitExit(child, 15_000);
    // `weft up` stops its proxies before exiting; make sure, by pid, so no stray process survives.
    for (const pid of proxyPids.filter(alive)) process.kill(pid, 'SIGKILL');
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const inst = await readInstances(stateDir);
    if (inst) proxyPids = inst.flatMap((i) => (i.proxyPid ? [i.proxyPid] : []));
    if (inst) proxies = Object.fromEntries(inst.flatMap((i) => (i.proxyPid ? [[i.id, i.proxyPid]] : [])));
    if (inst)
      inboundPorts = Object.fromEntries(
        inst.flatMap((i) => (i.ports?.inbound ? [[i.id, i.ports.inbound]] : [])),
      );
    const bad = inst?.find((i) => ['exited', 'failed', 'stopped'].includes(i.state));
    let why = '';
    if (child.exitCode !== null) why = `weft up exited (code ${child.exitCode})`;
    else if (bad) why = `${bad.id} ${bad.state}: ${bad.detail ?? ''}`;
    else if (Date.now() > deadline) why = `not ready after ${timeoutMs / 1000} s`;
    if (why) {
      await stop();
      throw new Error(`weft mesh did not come up: ${why}\nlogs: ${stateDir}/logs\n${output}`);
    }
    // Three instances: backend, client and the built-in ingress gateway.
    if (inst && inst.length >= 3 && inst.every(isUp)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { outboundPort, stateDir, pid: child.pid ?? -1, proxies, inboundPorts, stop };
}
