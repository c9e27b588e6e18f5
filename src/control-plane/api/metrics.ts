// The control plane's own metrics (GET /metrics on the admin port, Istio's 15014) with istiod's names
// where one fits, and Prometheus HTTP service discovery for the proxies (GET /prometheus/targets), so
// one Prometheus finds every proxy of a local mesh, whose ports all differ, with:
//
//   scrape_configs:
//     - job_name: weft-proxies
//       http_sd_configs: [{ url: 'http://127.0.0.1:15014/prometheus/targets' }]
//
// /metrics is always Prometheus text 0.0.4, as istiod serves it: in OpenMetrics a counter's samples must
// end in `_total`, which would rename pilot_xds_pushes and break the dashboards that query it.
import { X509Certificate } from 'node:crypto';
import type { PushServer, ProxyStatus } from '../push/server.js';
import type { CertificateAuthority } from '../ca/authority.js';
import { Exposition } from '../../proxy/telemetry/prom-text.js';
import { renderLabels } from '../../proxy/telemetry/prom-text.js';
import { processMetrics } from '../../proxy/telemetry/process-metrics.js';
import { METRICS_PATH } from '../../proxy/telemetry/metrics-server.js';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** One target group per connected proxy that reported a metrics port (their listeners are loopback). */
export function prometheusTargets(statuses: ProxyStatus[]): TargetGroup[] {
  return statuses
    .filter((s) => s.metricsPort)
    .map((s) => ({
      targets: [`127.0.0.1:${s.metricsPort}`],
      labels: {
        __metrics_path__: METRICS_PATH,
        proxy: s.id,
        workload: s.workload,
        namespace: s.namespace,
        kind: s.kind,
      },
    }));
}

export function metricsUrl(s: { metricsPort?: number }): string | undefined {
  return s.metricsPort ? `http://127.0.0.1:${s.metricsPort}${METRICS_PATH}` : undefined;
}

let rootExpiry: { pem: string; seconds: number } | undefined;
function rootExpirySeconds(pem: string): number {
  if (rootExpiry?.pem !== pem)
    rootExpiry = { pem, seconds: Date.parse(new X509Certificate(pem).validTo) / 1000 };
  return rootExpiry.seconds;
}

export function controlPlaneMetrics(
  push: PushServer,
  ca: CertificateAuthority | undefined,
  version: string,
): string {
  const e = new Exposition('text');
  const statuses = push.statuses();
  const byKind = { sidecar: 0, gateway: 0 };
  for (const s of statuses) byKind[s.kind]++;
  e.gauge('pilot_xds', 'Number of endpoints connected to this pilot using XDS.', [
    [renderLabels([['version', version]]), statuses.length],
  ]);
  e.gauge(
    'weft_control_plane_proxies_connected',
    'Proxies holding a push stream, by kind.',
    Object.entries(byKind).map(([kind, n]) => [renderLabels([['kind', kind]]), n]),
  );
  e.gauge(
    'weft_control_plane_proxies_unsynced',
    'Connected proxies that have not acknowledged the last snapshot they were sent.',
    [['', statuses.filter((s) => s.served !== undefined && s.acked !== s.served).length]],
  );
  // One push carries the whole snapshot (clusters, routes, listeners, endpoints), so the type is "snapshot"
  // rather than istiod's cds/eds/lds/rds.
  e.counter('pilot_xds_pushes', 'Snapshots pushed to proxies.', [
    [renderLabels([['type', 'snapshot']]), push.pushes],
  ]);
  e.histogram('pilot_xds_push_time', 'Time in seconds to compile and send one proxy its snapshot.', [
    ['', push.pushTime],
  ]);
  e.histogram('pilot_xds_config_size_bytes', 'Size in bytes of the snapshots pushed to proxies.', [
    ['', push.pushSize],
  ]);
  e.counter(
    'pilot_total_xds_internal_errors',
    'Snapshots that could not be compiled for a proxy (push errors).',
    [['', push.pushErrors]],
  );
  e.counter('pilot_total_xds_rejects', 'Snapshots rejected by proxies (NACKs).', [['', push.nacks]]);
  e.counter('citadel_server_csr_count', 'Certificate signing requests received.', [['', push.csrs]]);
  e.counter(
    'citadel_server_authentication_failure_count',
    'Certificate requests refused: no valid bootstrap token or client certificate.',
    [['', push.csrAuthFailures]],
  );
  if (ca) {
    e.counter('citadel_server_success_cert_issuance_count', 'Certificates signed by the mesh CA.', [
      ['', ca.signedCount],
    ]);
    e.gauge(
      'citadel_server_root_cert_expiry_timestamp',
      'When the mesh root certificate expires, in Unix seconds.',
      [['', rootExpirySeconds(ca.rootCertPem)]],
    );
  }
  processMetrics(e);
  return e.text();
}
