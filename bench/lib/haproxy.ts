// HAProxy for the suite: the same two hops as nginx, each its own `haproxy -db` (foreground, one process,
// `nbthread 1`), config in the run's temp dir, no logging.
//
//   outer (A): plain HTTP in (HTTP/1.1, and h2c with prior knowledge on the same port: HAProxy detects
//              the HTTP/2 preface) → mTLS to B (client certificate, server verified against the CA).
//              Also the one-hop frontend: plain HTTP in → backend, no TLS.
//   inner (B): mTLS in (`verify required`) → backend.
// `http-reuse always` keeps server-side connections pooled and shared, like the keep-alive pools of nginx.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Certs } from './certs.js';
import { startDaemon, waitPort, type Daemon } from './daemon.js';

export interface HaproxyPorts {
  backend: number;
  outer: number;
  inner: number;
  one: number;
}

export const GLOBAL = `global
  nbthread 1
  maxconn 4096
  ssl-server-verify required
  tune.ssl.default-dh-param 2048

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
`;

export function outerConf(p: HaproxyPorts, c: Certs): string {
  return `${GLOBAL}
frontend two_hop
  bind 127.0.0.1:${p.outer}
  default_backend hop

backend hop
  server b 127.0.0.1:${p.inner} ssl crt ${c.clientPem} ca-file ${c.ca} verify required verifyhost ${c.serverName} sni str(${c.serverName})

frontend one_hop
  bind 127.0.0.1:${p.one}
  default_backend app

backend app
  server app 127.0.0.1:${p.backend}
`;
}

export function innerConf(p: HaproxyPorts, c: Certs): string {
  return `${GLOBAL}
frontend mtls_in
  bind 127.0.0.1:${p.inner} ssl crt ${c.serverPem} ca-file ${c.ca} verify required
  default_backend app

backend app
  server app 127.0.0.1:${p.backend}
`;
}

export async function startHaproxy(
  dir: string,
  role: string,
  text: string,
  port: number,
  cpus: string | undefined,
): Promise<Daemon> {
  const file = join(dir, `${role}.cfg`);
  writeFileSync(file, text);
  const d = startDaemon(role, 'haproxy', ['-db', '-f', file], { cpus, logFile: join(dir, `${role}.log`) });
  await waitPort(port, d);
  return d;
}
