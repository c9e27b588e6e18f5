// The proxy's admin endpoint, loopback only (Istio's 15000/15021): readiness, the applied snapshot,
// clusters with endpoint health, live tap (newline-delimited JSON, see tap.ts), memory (as Envoy's
// /memory) and a graceful quit.
import { optionalIso } from '../../lib/time.js';
import http from 'node:http';
import v8 from 'node:v8';
import type { ProxySnapshot } from '../../model/snapshot.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import { redactSnapshot } from '../../model/redact.js';
import { TapHub, type TapSource } from './tap.js';

export interface AdminDeps {
  /** The snapshot in force (applied by every worker when there are several). */
  snapshot: () => ProxySnapshot | undefined;
  /** Finished requests for /tap: this process's, or its workers'. */
  tapSource: TapSource;
  identity: WorkloadIdentity;
  appReady: () => boolean;
  controlConnected: () => boolean;
  quit: () => void;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Where this process's memory is, in bytes: what `weft proxy` users ask of Envoy's /memory. */
function memory() {
  const m = process.memoryUsage();
  const h = v8.getHeapStatistics();
  return {
    rss: m.rss,
    heap: { total: m.heapTotal, used: m.heapUsed, physical: h.total_physical_size },
    // Outside V8's heap: Buffers (array buffers) and what V8 itself allocated with malloc.
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    v8Malloced: h.malloced_memory,
    spaces: Object.fromEntries(
      v8
        .getHeapSpaceStatistics()
        .map((s) => [
          s.space_name,
          { size: s.space_size, used: s.space_used_size, physical: s.physical_space_size },
        ]),
    ),
  };
}

export function createAdminServer(deps: AdminDeps): http.Server {
  const tap = new TapHub(deps.tapSource);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const snapshot = deps.snapshot();
    switch (url.pathname) {
      case '/tap':
        if (req.method !== 'GET') break;
        return tap.serve(req, res, url.searchParams);
      case '/ready':
      case '/healthz/ready': {
        // The proxy is ready when it holds a certificate and has applied a snapshot.
        const ok = deps.identity.ready && snapshot !== undefined;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'LIVE\n' : 'NOT READY\n');
        return;
      }
      case '/config_dump':
        return json(res, 200, {
          snapshot: snapshot ? redactSnapshot(snapshot) : null,
          certificate: deps.identity.ready
            ? {
                notAfter: optionalIso(deps.identity.notAfter()),
                chain: deps.identity.current.certChain,
                root: deps.identity.current.rootPem,
              }
            : null,
          controlPlaneConnected: deps.controlConnected(),
          appReady: deps.appReady(),
        });
      case '/clusters': {
        const lines: string[] = [];
        for (const c of snapshot?.clusters ?? []) {
          for (const e of c.endpoints)
            lines.push(
              `${c.name}::${e.address}:${e.port}::health_flags::${e.healthy ? 'healthy' : '/failed_eds_health'}::${e.instance}`,
            );
        }
        res.writeHead(200, { 'content-type': 'text/plain' }).end(lines.join('\n') + '\n');
        return;
      }
      case '/memory':
        return json(res, 200, memory());
      case '/quitquitquit':
        if (req.method !== 'POST') break;
        res.writeHead(200).end('OK\n');
        deps.quit();
        return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try /ready, /config_dump, /clusters, /memory, /tap\n');
  });
  server.on('close', () => tap.close());
  return server;
}
