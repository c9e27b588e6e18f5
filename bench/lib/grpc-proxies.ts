// nginx and HAProxy configurations for the gRPC scenario: the same two hops as the HTTP suite
// (nginx.ts, haproxy.ts), carrying HTTP/2 end to end. Each is its own process, started with
// startNginx/startHaproxy (pinned, temp dir, own pid).
//
//   nginx   A: `listen … http2` (h2c in) → `grpc_pass grpcs://` to B with a client certificate, B verified
//              against the CA as b.bench; B: `listen … ssl http2`, `ssl_verify_client on` → `grpc_pass
//              grpc://` to the backend. nginx's gRPC proxy opens one upstream connection per call in flight
//              (it does not multiplex upstream); `keepalive` keeps them for reuse.
//   HAProxy A: `bind … proto h2` → `server … ssl alpn h2` (mTLS, verified) to B; B: `bind … ssl alpn h2
//              verify required` → `server … proto h2` (h2c) to the backend. HAProxy multiplexes calls on
//              its HTTP/2 server connections.
import type { Certs } from './certs.js';
import { GLOBAL } from './haproxy.js';
import { conf } from './nginx.js';

export interface GrpcPorts {
  backend: number; // the gRPC backend, h2c
  ngOuter: number;
  ngInner: number;
  haOuter: number;
  haInner: number;
}

// Long-lived streams and connections: no limit that would cut them mid-run. A bidi stream's request body
// is every message the client sends on it, so client_max_body_size (1 MB by default) would reset it.
const NG_H2 = `
  http2_max_concurrent_streams 1024;
  client_max_body_size 0;
  client_body_timeout 60s;`;

const ngPool = (name: string, port: number) => `
  upstream ${name} {
    server 127.0.0.1:${port};
    keepalive 256;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }`;

export function nginxOuter(dir: string, p: GrpcPorts, c: Certs): string {
  return conf(
    dir,
    'nginx-grpc-outer',
    `${NG_H2}${ngPool('hop', p.ngInner)}
  server {
    listen 127.0.0.1:${p.ngOuter} http2 backlog=4096;
    location / {
      grpc_pass grpcs://hop;
      grpc_ssl_certificate ${c.clientCert};
      grpc_ssl_certificate_key ${c.clientKey};
      grpc_ssl_trusted_certificate ${c.ca};
      grpc_ssl_verify on;
      grpc_ssl_name ${c.serverName};
      grpc_ssl_server_name on;
      grpc_ssl_session_reuse on;
    }
  }`,
  );
}

export function nginxInner(dir: string, p: GrpcPorts, c: Certs): string {
  return conf(
    dir,
    'nginx-grpc-inner',
    `${NG_H2}${ngPool('app', p.backend)}
  server {
    listen 127.0.0.1:${p.ngInner} ssl http2 backlog=4096;
    ssl_certificate ${c.serverCert};
    ssl_certificate_key ${c.serverKey};
    ssl_client_certificate ${c.ca};
    ssl_verify_client on;
    ssl_session_cache shared:SSL:1m;
    location / {
      grpc_pass grpc://app;
    }
  }`,
  );
}

export function haproxyOuter(p: GrpcPorts, c: Certs): string {
  return `${GLOBAL}
frontend grpc_two_hop
  bind 127.0.0.1:${p.haOuter} proto h2
  default_backend grpc_hop

backend grpc_hop
  server b 127.0.0.1:${p.haInner} ssl alpn h2 crt ${c.clientPem} ca-file ${c.ca} verify required verifyhost ${c.serverName} sni str(${c.serverName})
`;
}

export function haproxyInner(p: GrpcPorts, c: Certs): string {
  return `${GLOBAL}
frontend grpc_mtls_in
  bind 127.0.0.1:${p.haInner} ssl crt ${c.serverPem} ca-file ${c.ca} verify required alpn h2
  default_backend grpc_app

backend grpc_app
  server app 127.0.0.1:${p.backend} proto h2
`;
}
