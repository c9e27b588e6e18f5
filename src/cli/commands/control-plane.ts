// `weft control-plane`: run the control plane alone (config store, registry, CA, push, admin API).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ControlPlane } from '../../control-plane/server.js';
import { createLogger } from '../../lib/logger.js';
import { DEFAULT_STATE_DIR } from '../mesh-client.js';
import { CA_OPTIONS, caSettings, type CaFlags } from './ca.js';
import { PROMETHEUS_OPTION, prometheusUrl } from '../../local/prometheus-flag.js';

export function registerControlPlane(program: Command): void {
  program
    .command('control-plane')
    .description('run the control plane: config store, registry, certificate authority, push and admin API')
    .option('--host <addr>', 'discovery listen address', '127.0.0.1')
    .option('--discovery-port <n>', 'discovery (mTLS gRPC) port', '15012')
    .option('--admin-port <n>', 'admin API port (loopback)', '15014')
    .option('--trust-domain <td>', 'SPIFFE trust domain', 'cluster.local')
    .option(...CA_OPTIONS.workloadCertTtl)
    .option(...CA_OPTIONS.certTtl)
    .option(...CA_OPTIONS.caCert)
    .option(...CA_OPTIONS.caKey)
    .option(...CA_OPTIONS.rootCert)
    .option(...CA_OPTIONS.certChain)
    .option(...PROMETHEUS_OPTION)
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<Record<string, string> & CaFlags>();
      const log = createLogger('control-plane');
      const { certTtlMs, caFiles } = caSettings(o);
      // '' (the flag given empty) means the proxies, even when the environment names a Prometheus.
      const prometheus = prometheusUrl(o.prometheusUrl);
      const cp = await ControlPlane.start({
        stateDir: resolve(o.stateDir ?? DEFAULT_STATE_DIR),
        host: o.host!,
        discoveryPort: Number(o.discoveryPort),
        adminPort: Number(o.adminPort),
        trustDomain: o.trustDomain!,
        certTtlMs,
        ...(caFiles ? { caFiles } : {}),
        prometheusUrl: prometheus ?? '',
        log,
      });
      process.stdout.write(`control plane: admin http://${cp.info.admin}  discovery ${cp.info.discovery}\n`);
      const stop = () => void cp.stop().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
