// `weft control-plane`: config store, registry, CA and push server in one process, plus the admin API.
// It writes <stateDir>/mesh.json so the CLI and proxies can find it.
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FileStore } from './store/file-store.js';
import { Registry } from './registry/registry.js';
import { CertificateAuthority, type CaInfo } from './ca/authority.js';
import { loadPluggedCa, type PluggedCaFiles } from './ca/material.js';
import { BootstrapTokens } from './ca/tokens.js';
import { PushServer } from './push/server.js';
import { createAdminApi } from './api/admin.js';
import { Dashboard, DASHBOARD_PATH } from './dashboard/routes.js';
import { spiffeId } from '../lib/spiffe.js';
import type { Logger } from '../lib/logger.js';
import { WEFT_VERSION } from '../lib/version.js';

const SERVING_TTL_MS = 365 * 24 * 3600 * 1000;

export interface ControlPlaneOptions {
  stateDir: string;
  trustDomain?: string;
  host?: string;
  discoveryPort?: number; // Istio's 15012
  adminPort?: number; // Istio's 15014
  /** Workload certificate lifetime (default 24h, at most 90 days). */
  certTtlMs?: number;
  /** A plugged-in CA (Istio's cacerts files); absent: the CA in <stateDir>/ca, or a new self-signed root. */
  caFiles?: PluggedCaFiles;
  /** The dashboard reads metrics from this Prometheus instead of scraping the proxies (default: the
   *  WEFT_PROMETHEUS_URL environment variable; unset: scrape the proxies). */
  prometheusUrl?: string;
  log: Logger;
}

export interface MeshInfo {
  admin: string; // host:port
  discovery: string; // host:port
  rootCert: string; // path of the trust bundle (<stateDir>/ca/root-cert.pem)
  trustDomain: string;
  pid: number;
}

export class ControlPlane {
  private constructor(
    readonly store: FileStore,
    readonly registry: Registry,
    readonly ca: CertificateAuthority,
    readonly tokens: BootstrapTokens,
    readonly push: PushServer,
    private readonly admin: http.Server,
    readonly info: MeshInfo,
    /** `weft ca rotate-root`: a new root signs from now on, the old one stays trusted for the overlap, and
     * the discovery port serves a certificate from the new root (with the cross-signed root after it). */
    readonly rotateRoot: (overlapMs: number) => Promise<CaInfo>,
    private readonly dashboard: Dashboard,
  ) {}

  static async start(o: ControlPlaneOptions): Promise<ControlPlane> {
    const host = o.host ?? '127.0.0.1';
    const trustDomain = o.trustDomain ?? 'cluster.local';
    await mkdir(o.stateDir, { recursive: true });
    const store = await FileStore.open(o.stateDir);
    const ca = await CertificateAuthority.loadOrCreate(join(o.stateDir, 'ca'), {
      trustDomain,
      ...(o.certTtlMs ? { certTtlMs: o.certTtlMs } : {}),
      ...(o.caFiles ? { plugged: await loadPluggedCa(o.caFiles) } : {}),
    });
    ca.on('error', (e: Error) => o.log.error('CA state could not be updated', { error: e.message }));
    // After the CA: a CA that refuses to load (bad plugged-in files) must not leave timers running.
    const registry = new Registry();
    registry.start();
    const caInfo = ca.info();
    o.log.info('certificate authority ready', {
      mode: caInfo.mode,
      signer: caInfo.signer.subject,
      roots: caInfo.roots.map((r) => r.fingerprint).join(','),
      workloadCertTtlMs: caInfo.workloadCertTtlMs,
    });
    const tokens = new BootstrapTokens();
    const issueServing = () =>
      ca.issueServing(
        ['localhost', 'weft-control-plane'],
        [host === '0.0.0.0' ? '127.0.0.1' : host],
        spiffeId(trustDomain, 'weft-system', 'weft-control-plane'),
        // The control plane's own certificate lives as long as the process (a year at most), not as long
        // as workload certificates: proxies must reach it after their short-lived certificates renew.
        SERVING_TTL_MS,
      );
    const serving = await issueServing();
    const push = new PushServer({
      ca,
      tokens,
      store,
      registry,
      mesh: { trustDomain, domain: 'cluster.local' },
      log: o.log.child('push'),
      servingCert: serving,
    });
    const discoveryPort = await push.listen(host, o.discoveryPort ?? 15012);
    const rotateRoot = async (overlapMs: number): Promise<CaInfo> => {
      const rotated = await ca.rotateRoot({ overlapMs });
      push.setServingCert(await issueServing());
      const [current, ...others] = rotated.roots;
      o.log.info('root rotated', {
        root: current?.fingerprint,
        trustedUntil: others.map((r) => `${r.fingerprint} until ${r.removeAt ?? 'replaced'}`).join('; '),
      });
      return rotated;
    };
    const prometheusUrl = o.prometheusUrl ?? process.env.WEFT_PROMETHEUS_URL;
    const dashboard = new Dashboard({
      store,
      registry,
      push,
      log: o.log.child('dashboard'),
      ...(prometheusUrl ? { prometheusUrl } : {}),
    });
    const admin = createAdminApi({
      dashboard,
      store,
      registry,
      push,
      tokens,
      version: WEFT_VERSION,
      ca,
      rotateRoot,
    });
    await new Promise<void>((resolve, reject) => {
      admin.once('error', reject);
      admin.listen(o.adminPort ?? 15014, '127.0.0.1', () => resolve());
    });
    const info: MeshInfo = {
      admin: `127.0.0.1:${(admin.address() as AddressInfo).port}`,
      discovery: `${host}:${discoveryPort}`,
      rootCert: join(o.stateDir, 'ca', 'root-cert.pem'),
      trustDomain,
      pid: process.pid,
    };
    const tmp = join(o.stateDir, `.mesh.json.${process.pid}`);
    await writeFile(tmp, JSON.stringify(info, null, 2));
    await rename(tmp, join(o.stateDir, 'mesh.json'));
    o.log.info('control plane ready', {
      admin: info.admin,
      discovery: info.discovery,
      dashboard: `http://${info.admin}${DASHBOARD_PATH}`,
      state: o.stateDir,
    });
    return new ControlPlane(store, registry, ca, tokens, push, admin, info, rotateRoot, dashboard);
  }

  async stop(): Promise<void> {
    this.dashboard.stop();
    this.ca.close();
    this.registry.stop();
    await this.push.close();
    await new Promise<void>((resolve) => {
      this.admin.close(() => resolve());
      this.admin.closeAllConnections();
    });
  }
}
