// The rows of `weft up`'s status table: the control plane, then one row per proxy (workload instance or
// gateway). The phase of a starting proxy comes from what the control plane saw of it: a certificate
// issued to its id, then a config stream, then the proxy's own "ready" and its app's readiness.
import { relative } from 'node:path';
import type { LocalMesh } from './mesh.js';
import type { InstanceInfo } from './instance.js';

export type Phase =
  | 'starting'
  | 'certificate'
  | 'config'
  | 'app starting'
  | 'ready'
  | 'not ready'
  | 'exited'
  | 'failed'
  | 'stopped';

export interface StatusRow {
  name: string;
  kind: 'control-plane' | 'sidecar' | 'gateway';
  phase: Phase;
  ports: string;
  /** Why a row is not ready, and what to do next when it failed. */
  detail: string;
}

/** What the control plane knows of a proxy while it starts. */
export interface ProxySeen {
  certificate: boolean;
  connected: boolean;
  /** A gateway's listener ports, from the config it was sent. */
  listeners?: number[];
}

export function instancePhase(i: InstanceInfo, seen: ProxySeen): Phase {
  switch (i.state) {
    case 'starting':
      return seen.connected ? 'config' : seen.certificate ? 'certificate' : 'starting';
    case 'proxy-ready':
      return 'app starting';
    case 'running':
      if (i.detail === 'readiness probe failing') return 'not ready';
      // A gateway has no app: its listeners are up and it waits for the config that makes it ready.
      return i.kind === 'gateway' ? 'config' : 'app starting';
    default:
      return i.state;
  }
}

function instancePorts(i: InstanceInfo, listeners: number[]): string {
  const app = Object.values(i.appPorts);
  const p = i.ports;
  const parts = [
    ...(listeners.length ? [`listen=${listeners.join(',')}`] : []),
    ...(app.length ? [`app=${app.join(',')}`] : []),
    ...(p?.inbound ? [`in=${p.inbound}`] : []),
    ...(p?.outbound ? [`out=${p.outbound}`] : []),
    ...(p ? [`admin=${p.admin}`] : []),
  ];
  return parts.join(' ') || '-';
}

/** The next step for a row that failed or is stuck: the app's log once the app runs, else the proxy's. */
export function nextStep(i: InstanceInfo, phase: Phase, cwd: string): string {
  const app = i.detail?.startsWith('app exited') || phase === 'app starting' || phase === 'not ready';
  const log = app ? i.logs.app : i.logs.proxy;
  return log ? `see ${relative(cwd, log) || log}` : '';
}

/** `stuck`: the wait is over (the final table), so a row short of ready says where to look too. */
export function instanceRow(i: InstanceInfo, seen: ProxySeen, cwd: string, stuck = false): StatusRow {
  const phase = instancePhase(i, seen);
  const bad = phase === 'failed' || phase === 'exited' || (stuck && phase !== 'ready' && phase !== 'stopped');
  // A ready row keeps no stale reason (an instance that recovered still carries its last one).
  const detail = bad
    ? [i.detail, nextStep(i, phase, cwd)].filter(Boolean).join('; ')
    : phase === 'ready'
      ? ''
      : (i.detail ?? '');
  return { name: i.id, kind: i.kind, phase, ports: instancePorts(i, seen.listeners ?? []), detail };
}

export function controlPlaneRow(mesh: LocalMesh | undefined): StatusRow {
  if (!mesh)
    return { name: 'control-plane', kind: 'control-plane', phase: 'starting', ports: '-', detail: '' };
  const { admin, discovery } = mesh.cp.info;
  return {
    name: 'control-plane',
    kind: 'control-plane',
    phase: 'ready',
    ports: `admin=${admin.split(':').pop()} discovery=${discovery.split(':').pop()}`,
    detail: '',
  };
}

/**
 * Every row, as the mesh is now (the control plane is still starting while `mesh` is undefined);
 * `stuck` once the wait for readiness is over.
 */
export function meshRows(mesh: LocalMesh | undefined, cwd: string, stuck = false): StatusRow[] {
  const rows = [controlPlaneRow(mesh)];
  if (!mesh) return rows;
  const connected = new Set(mesh.cp.push.statuses().map((s) => s.id));
  for (const inst of mesh.instances) {
    const id = inst.info.id;
    const listeners = [...new Set((mesh.cp.push.snapshotOf(id)?.gateways ?? []).map((l) => l.port))];
    const seen = {
      certificate: !!mesh.cp.push.issuedTo(id),
      connected: connected.has(id),
      listeners: listeners.sort((a, b) => a - b),
    };
    rows.push(instanceRow(inst.info, seen, cwd, stuck));
  }
  return rows;
}
