// nginx for the suite: the backend (a 1 KB static answer) and the two hops of the nginx setup, each its
// own nginx (one master + `worker_processes 1`) with prefix, config, pid, logs and temp paths in the
// run's temp dir, started in the foreground (`-g 'daemon off;'`) so we own its pid. Never /etc/nginx,
// never port 80.
//
//   outer (A): plain HTTP in (HTTP/1.1 port, and an h2c port: nginx 1.22 speaks h2c only on a
//              `listen … http2` port of its own) → proxy_pass over mTLS to B, keep-alive pool.
//              Also the one-hop server: plain HTTP in → backend, no TLS, keep-alive pool.
//   inner (B): mTLS in (client certificate required) → backend, keep-alive pool.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Certs } from './certs.js';
import { startDaemon, waitPort, type Daemon } from './daemon.js';

export const BODY_BYTES = 1024;

export interface Nginx {
  daemon: Daemon;
}

// Benchmark-friendly settings shared by every nginx: no access log, keep-alive connections are not
// recycled every 1,000 requests (nginx's default; wrk and the proxies' pools would reconnect mid-run).
const HTTP_COMMON = `
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server_tokens off;`;

const POOL = (name: string, port: number) => `
  upstream ${name} {
    server 127.0.0.1:${port};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }`;

const PROXY_H11 = `
      proxy_http_version 1.1;
      proxy_set_header Connection "";`;

export function conf(dir: string, role: string, http: string): string {
  const t = join(dir, `${role}-tmp`);
  for (const s of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(t, s), { recursive: true });
  return `worker_processes 1;
pid ${join(dir, `${role}.pid`)};
error_log ${join(dir, `${role}-error.log`)} warn;
events { worker_connections 8192; }
http {${HTTP_COMMON}
  client_body_temp_path ${t}/body;
  proxy_temp_path ${t}/proxy;
  fastcgi_temp_path ${t}/fastcgi;
  uwsgi_temp_path ${t}/uwsgi;
  scgi_temp_path ${t}/scgi;
${http}
}
`;
}

export interface NginxPorts {
  backend: number; // HTTP/1.1
  backendH2c: number;
  outer: number; // two-hop entry, HTTP/1.1
  outerH2c: number; // two-hop entry, h2c
  inner: number; // mTLS
  one: number; // one hop, HTTP/1.1, no TLS
  oneH2c: number;
}

export function backendConf(dir: string, p: NginxPorts): string {
  return conf(
    dir,
    'backend',
    `
  server {
    listen 127.0.0.1:${p.backend} backlog=4096;
    listen 127.0.0.1:${p.backendH2c} http2 backlog=4096;
    location / {
      default_type application/octet-stream;
      return 200 '${'w'.repeat(BODY_BYTES)}';
    }
  }`,
  );
}

export function outerConf(dir: string, p: NginxPorts, c: Certs): string {
  return conf(
    dir,
    'nginx-outer',
    `${POOL('hop', p.inner)}
${POOL('app', p.backend)}
  server {
    listen 127.0.0.1:${p.outer} backlog=4096;
    listen 127.0.0.1:${p.outerH2c} http2 backlog=4096;
    location / {
      proxy_pass https://hop;${PROXY_H11}
      proxy_ssl_certificate ${c.clientCert};
      proxy_ssl_certificate_key ${c.clientKey};
      proxy_ssl_trusted_certificate ${c.ca};
      proxy_ssl_verify on;
      proxy_ssl_name ${c.serverName};
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
    }
  }
  server {
    listen 127.0.0.1:${p.one} backlog=4096;
    listen 127.0.0.1:${p.oneH2c} http2 backlog=4096;
    location / {
      proxy_pass http://app;${PROXY_H11}
    }
  }`,
  );
}

export function innerConf(dir: string, p: NginxPorts, c: Certs): string {
  return conf(
    dir,
    'nginx-inner',
    `${POOL('app', p.backend)}
  server {
    listen 127.0.0.1:${p.inner} ssl backlog=4096;
    ssl_certificate ${c.serverCert};
    ssl_certificate_key ${c.serverKey};
    ssl_client_certificate ${c.ca};
    ssl_verify_client on;
    ssl_session_cache shared:SSL:1m;
    location / {
      proxy_pass http://app;${PROXY_H11}
    }
  }`,
  );
}

/** Writes `text` to DIR/ROLE.conf and runs nginx on it, pinned to `cpus`; resolves once `port` accepts. */
export async function startNginx(
  dir: string,
  role: string,
  text: string,
  port: number,
  cpus: string | undefined,
): Promise<Nginx> {
  const file = join(dir, `${role}.conf`);
  writeFileSync(file, text);
  const daemon = startDaemon(
    role,
    'nginx',
    ['-p', dir, '-c', file, '-e', join(dir, `${role}-error.log`), '-g', 'daemon off;'],
    {
      cpus,
      logFile: join(dir, `${role}.log`),
    },
  );
  await waitPort(port, daemon);
  return { daemon };
}
