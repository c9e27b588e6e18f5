// An HTTP ext_authz server that behaves like Istio's samples/extauthz (cmd/extauthz/main.go, ServeHTTP):
// a check request whose `x-ext-authz` header is exactly "allow" gets 200, anything else 403 with the body
// "denied by ext_authz for not found header `x-ext-authz: allow` in the request". Both answers set
// `x-ext-authz-check-result: allowed|denied`, echo the request's `x-ext-authz-additional-header-override`
// into the same response header, and put a dump of the check request in `x-ext-authz-check-received`.
// For tests it also records every check request and can answer late (`delayMs`).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const DENY_BODY = 'denied by ext_authz for not found header `x-ext-authz: allow` in the request';

export interface ReceivedCheck {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface ExtAuthzServer {
  port: number;
  received: ReceivedCheck[];
  /** TCP connections accepted so far (keep-alive reuse shows as fewer connections than checks). */
  connections(): number;
  close(): Promise<void>;
}

export interface ExtAuthzServerOptions {
  /** Wait this long before answering (timeouts). */
  delayMs?: number;
  host?: string;
}

export async function startExtAuthzServer(o: ExtAuthzServerOptions = {}): Promise<ExtAuthzServer> {
  const received: ReceivedCheck[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const answer = () => {
        const dump = `${req.method} ${req.headers.host ?? ''}${req.url}, headers: ${JSON.stringify(req.headers)}, body: [${body.length > 60000 ? '<too-long>' : body}]`;
        const override = req.headers['x-ext-authz-additional-header-override'];
        res.setHeader('x-ext-authz-additional-header-override', typeof override === 'string' ? override : '');
        // Header values cannot hold newlines (Go's server turns them into spaces).
        res.setHeader('x-ext-authz-check-received', dump.replace(/[\r\n]/g, ' '));
        if (req.headers['x-ext-authz'] === 'allow') {
          res.setHeader('x-ext-authz-check-result', 'allowed');
          res.writeHead(200);
          res.end();
        } else {
          res.setHeader('x-ext-authz-check-result', 'denied');
          res.setHeader('content-type', 'text/plain; charset=utf-8');
          res.writeHead(403);
          res.end(DENY_BODY);
        }
      };
      if (o.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, o.delayMs);
        timers.add(t);
      } else answer();
    });
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, o.host ?? '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
