// The echo backend of the Gateway API conformance contract (../shared/fixtures/README.md): it answers
// JSON {path, host, method, proto, headers, namespace, pod}; `X-Echo-Set-Header: Name:val,Name:val`
// adds response headers; `?delay=1s` waits first. For resilience tests it also understands:
//   ?status=503              answer with that status
//   ?fail=KEY:N              the first N requests carrying that key answer 503, later ones 200
//   env ECHO_STATUS=500      every request answers with that status (a broken instance)
// Runs as a mesh workload (PORT, POD_NAME, WEFT_NAMESPACE) or in-process via startEcho().
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

function parseDelay(v: string | null): number {
  if (!v) return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(v);
  if (!m) return 0;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

export interface EchoOptions {
  pod?: string;
  namespace?: string;
  status?: number;
}

export function createEcho(o: EchoOptions = {}): http.Server & {
  seen: Array<{ method: string; path: string; host: string; headers: http.IncomingHttpHeaders }>;
} {
  const failures = new Map<string, number>();
  const seen: Array<{ method: string; path: string; host: string; headers: http.IncomingHttpHeaders }> = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://echo');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        host: req.headers.host ?? '',
        headers: req.headers,
      });
      // Health checks always pass: a "broken" instance must still join the endpoints to be tested.
      let status = url.pathname === '/health' ? 200 : (o.status ?? 200);
      const forced = url.searchParams.get('status');
      if (forced) status = Number(forced);
      const fail = url.searchParams.get('fail');
      if (fail) {
        const [key, n] = fail.split(':');
        const count = (failures.get(key!) ?? 0) + 1;
        failures.set(key!, count);
        if (count <= Number(n)) status = 503;
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const set = req.headers['x-echo-set-header'];
      if (typeof set === 'string') {
        for (const pair of set.split(',')) {
          const i = pair.indexOf(':');
          if (i > 0) headers[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
        }
      }
      const body = JSON.stringify({
        path: req.url,
        host: req.headers.host,
        method: req.method,
        proto: `HTTP/${req.httpVersion}`,
        headers: Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]),
        ),
        namespace: o.namespace ?? 'default',
        pod: o.pod ?? 'echo',
        bodyLength: Buffer.concat(chunks).length,
      });
      setTimeout(
        () => {
          res.writeHead(status, headers);
          res.end(body);
        },
        parseDelay(url.searchParams.get('delay')),
      );
    });
  });
  return Object.assign(server, { seen });
}

export async function startEcho(
  o: EchoOptions = {},
): Promise<ReturnType<typeof createEcho> & { port: number }> {
  const s = createEcho(o);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return Object.assign(s, { port: (s.address() as AddressInfo).port });
}

// As a workload process.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = createEcho({
    pod: process.env.POD_NAME ?? 'echo',
    namespace: process.env.WEFT_NAMESPACE ?? 'default',
    ...(process.env.ECHO_STATUS ? { status: Number(process.env.ECHO_STATUS) } : {}),
  });
  s.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
  const stop = () => s.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
