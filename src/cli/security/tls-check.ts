// `weft tls-check SERVICE`: for every client proxy and every server instance of a service port, what the
// client sends (mTLS or plaintext, from its snapshot's endpoints) and what the server accepts (its
// PeerAuthentication mode for that port), and whether the two agree. Read from the snapshots the
// proxies were sent, so it shows what traffic actually does, not what the YAML hopes for.
import type { ProxySnapshot } from '../../model/snapshot.js';
import { portMode, type MtlsModeValue } from '../../model/security.js';

export interface TlsCheckRow {
  host: string; // service FQDN:port
  client: string; // proxy id
  server: string; // instance id
  serverMode: MtlsModeValue;
  serverPolicy: string; // the PeerAuthentication that set it
  clientSends: 'mTLS' | 'plaintext';
  status: 'OK' | 'CONFLICT';
}

export interface TlsCheckSummary {
  host: string;
  traffic: 'mTLS' | 'plaintext' | 'mixed' | 'none';
  conflicts: number;
}

export function tlsCheck(
  snapshots: ProxySnapshot[],
  service: string,
): { rows: TlsCheckRow[]; summary: TlsCheckSummary[] } {
  const servers = new Map(snapshots.map((s) => [s.proxy.id, s]));
  const rows: TlsCheckRow[] = [];
  for (const client of snapshots) {
    for (const c of client.clusters) {
      if (c.service !== service || c.subset || c.external) continue;
      for (const ep of c.endpoints) {
        const server = servers.get(ep.instance);
        if (!server) continue;
        const route = server.inbound.routes.find((r) => r.service === service && r.port === c.port);
        const serverMode = portMode(server.security.mtls, route?.targetPort ?? c.port);
        const clientSends = ep.plaintext ? 'plaintext' : 'mTLS';
        rows.push({
          host: `${service}:${c.port}`,
          client: client.proxy.id,
          server: ep.instance,
          serverMode,
          serverPolicy: server.security.mtls.source,
          clientSends,
          status: clientSends === 'plaintext' && serverMode === 'STRICT' ? 'CONFLICT' : 'OK',
        });
      }
    }
  }
  rows.sort(
    (a, b) =>
      a.host.localeCompare(b.host) || a.client.localeCompare(b.client) || a.server.localeCompare(b.server),
  );
  const hosts = [...new Set(rows.map((r) => r.host))];
  const summary = hosts.map((host): TlsCheckSummary => {
    const ok = rows.filter((r) => r.host === host && r.status === 'OK');
    const sends = new Set(ok.map((r) => r.clientSends));
    return {
      host,
      traffic:
        sends.size === 0 ? 'none' : sends.size > 1 ? 'mixed' : sends.has('mTLS') ? 'mTLS' : 'plaintext',
      conflicts: rows.filter((r) => r.host === host && r.status === 'CONFLICT').length,
    };
  });
  return { rows, summary };
}
