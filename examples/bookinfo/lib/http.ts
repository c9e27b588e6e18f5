// Shared helpers for the bookinfo demo apps: calling another service through the sidecar, serving HTTP,
// propagating trace/user headers and shutting down cleanly. Node built-ins only.
//
// The mesh contract (see ../README.md):
//   PORT           port to listen on (127.0.0.1), default 9080
//   WEFT_OUTBOUND  "127.0.0.1:NNNN", the sidecar's outbound listener; requests to other services are sent
//                  there in origin form with the Host header naming the service ("details:9080").
//                  Absent: connect to the service's host:port directly.
//   WEFT_WORKLOAD, WEFT_NAMESPACE, POD_NAME   identity, used in logs and responses
//   BOOKINFO_DIRECT  testing only: "details=127.0.0.1:9081,reviews=127.0.0.1:9082" maps a service name to
//                  an address to connect to directly, bypassing WEFT_OUTBOUND and DNS.

import http from 'node:http';

/** Headers copied from the incoming request onto every outgoing call (as bookinfo does). */
export const PROPAGATED_HEADERS = [
  'end-user',
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
  'x-ot-span-context',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'sw8',
  'user-agent',
] as const;

export type OutgoingHeaders = Record<string, string>;

export interface CallResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Set when no HTTP response was received (connect error, timeout); status is then 503 or 504. */
  error?: string;
}

export interface CallOptions {
  timeoutMs?: number; // total time for the call, default 3000
  method?: string;
  body?: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** The identity the mesh gave this process, with fallbacks for running it by hand. */
export function identity(app: string): { workload: string; pod: string; namespace: string; version: string } {
  const version = process.env.SERVICE_VERSION || 'v1';
  const workload = process.env.WEFT_WORKLOAD || `${app}-${version}`;
  return {
    workload,
    pod: process.env.POD_NAME || process.env.HOSTNAME || `${workload}-0`,
    namespace: process.env.WEFT_NAMESPACE || 'default',
    version,
  };
}

/**
 * "host:port" of a service, as bookinfo computes it: <NAME>_HOSTNAME (default the service name) plus
 * SERVICES_DOMAIN when set, and <NAME>_SERVICE_PORT (default 9080).
 */
export function serviceAddress(name: string): string {
  const key = name.toUpperCase();
  const domain = process.env.SERVICES_DOMAIN ? `.${process.env.SERVICES_DOMAIN}` : '';
  const host = (process.env[`${key}_HOSTNAME`] || name) + domain;
  const port = process.env[`${key}_SERVICE_PORT`] || '9080';
  return `${host}:${port}`;
}

function splitHostPort(hostPort: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort.trim());
  if (!m || !m[1]) throw new Error(`bad address "${hostPort}"`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 80 };
}

function directOverrides(): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of (process.env.BOOKINFO_DIRECT ?? '').split(',')) {
    const eq = entry.indexOf('=');
    if (eq > 0) map.set(entry.slice(0, eq).trim(), entry.slice(eq + 1).trim());
  }
  return map;
}
const DIRECT = directOverrides();

/** Where to open the TCP connection for a request to `hostPort` ("details:9080"). */
function connectTarget(hostPort: string): { host: string; port: number } {
  const service = splitHostPort(hostPort).host.split('.')[0] ?? '';
  const direct = DIRECT.get(service) ?? DIRECT.get(hostPort);
  if (direct) return splitHostPort(direct);
  const outbound = process.env.WEFT_OUTBOUND;
  if (outbound) return splitHostPort(outbound);
  return splitHostPort(hostPort);
}

/**
 * Send an HTTP/1.1 request to another service. Through the sidecar when WEFT_OUTBOUND is set (the Host
 * header names the service), directly otherwise. Never rejects: a failure is a 503 (504 on timeout)
 * result with `error` set.
 */
export function callService(
  hostPort: string,
  path: string,
  headers: OutgoingHeaders = {},
  opts: CallOptions = {},
): Promise<CallResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    const state: { done: boolean; timer?: NodeJS.Timeout } = { done: false };
    const finish = (r: CallResult): void => {
      if (state.done) return;
      state.done = true;
      clearTimeout(state.timer);
      resolve(r);
    };
    const fail = (status: number, error: string): void =>
      finish({
        status,
        headers: {},
        body: JSON.stringify({ error: `${hostPort}${path}: ${error}` }),
        error,
      });

    let target: { host: string; port: number };
    try {
      target = connectTarget(hostPort);
    } catch (err) {
      fail(503, (err as Error).message);
      return;
    }
    const outHeaders: OutgoingHeaders = { ...headers, host: hostPort };
    if (opts.body !== undefined) outHeaders['content-length'] = String(Buffer.byteLength(opts.body));

    let req: http.ClientRequest;
    try {
      req = http.request({
        host: target.host,
        port: target.port,
        method: opts.method ?? 'GET',
        path,
        headers: outHeaders,
        agent,
      });
    } catch (err) {
      // e.g. a header value Node refuses to send
      fail(503, (err as Error).message);
      return;
    }
    state.timer = setTimeout(() => {
      fail(504, `timeout after ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);

    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        finish({
          status: res.statusCode ?? 502,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', (err) => fail(503, err.message));
    });
    req.on('error', (err) => fail(503, err.message));
    req.end(opts.body);
  });
}

/** Parse a JSON body, or undefined when it is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** The PROPAGATED_HEADERS present on the incoming request. */
export function propagatedHeaders(req: http.IncomingMessage): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  for (const name of PROPAGATED_HEADERS) {
    const v = req.headers[name];
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Read a request body (capped at `limit` bytes). */
export function readBody(req: http.IncomingMessage, limit = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;

/**
 * Serve `handler` on 127.0.0.1:$PORT (default 9080). Answers GET /health itself; logs one line when
 * listening; closes the server and exits 0 on SIGTERM/SIGINT.
 */
export function listen(app: string, handler: Handler): http.Server {
  const { workload } = identity(app);
  const port = Number(process.env.PORT || 9080);
  const healthy = `${app.charAt(0).toUpperCase()}${app.slice(1)} is healthy`;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/health') {
      sendJson(res, 200, { status: healthy });
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((err: unknown) => {
        console.error(`${workload}: ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
  });
  server.keepAliveTimeout = 60_000;

  server.on('error', (err) => {
    console.error(`${workload}: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    console.log(`${workload} listening on 127.0.0.1:${port}`);
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${workload} received ${signal}, shutting down`);
    server.close(() => {
      agent.destroy();
      process.exit(0);
    });
    server.closeIdleConnections();
    // Requests still in flight get a short grace period.
    setTimeout(() => {
      server.closeAllConnections();
      agent.destroy();
      process.exit(0);
    }, 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return server;
}

/** `/prefix/<int>` → the integer, or undefined. */
export function numericId(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,9}$/.test(s)) return undefined;
  return Number(s);
}
