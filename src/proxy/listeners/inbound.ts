// The inbound listener: only mTLS from mesh peers (a client certificate our root signed is required at
// the handshake, so plaintext and foreign certificates never reach the app). The SNI names the
// service port; the request goes to the app on loopback with the caller's identity in XFCC.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { parseClusterSni } from '../../model/snapshot.js';
import { certSpiffeId } from '../../lib/spiffe.js';
import { endToEnd } from '../http/headers.js';
import { forward, sendLocalReply, type ForwardResult } from '../http/forward.js';
import { publishRequest } from '../telemetry/events.js';
import type { WorkloadIdentity } from '../identity/certificates.js';
import type { ProxyState } from '../state.js';

export interface InboundDeps {
  identity: WorkloadIdentity;
  state: () => ProxyState | undefined;
  appHost: string;
  appPort: (containerPort: number) => number;
  log: (line: string) => void;
}

const peerIds = new WeakMap<TLSSocket, string>();

function peerIdentity(socket: TLSSocket): string {
  let id = peerIds.get(socket);
  if (id === undefined) {
    id = certSpiffeId(socket.getPeerCertificate()) ?? '';
    peerIds.set(socket, id);
  }
  return id;
}

export function createInboundServer(deps: InboundDeps): https.Server {
  const appAgent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
  const server = https.createServer(
    {
      ...deps.identity.serverOptions(),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      const start = performance.now();
      const socket = req.socket as TLSSocket;
      const sni = parseClusterSni(socket.servername || '');
      const state = deps.state();
      const route = sni && state ? state.inbound.get(`${sni.host}:${sni.port}`) : undefined;
      const logLine = (status: number, flags: string, r?: ForwardResult) => {
        const now = performance.now();
        deps.log(
          `[${new Date().toISOString()}] inbound "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} ${flags || '-'} ` +
            `${Math.round(now - start)} "${peerIdentity(socket)}" "${socket.servername || '-'}" "${req.headers.host ?? '-'}"`,
        );
        publishRequest(() => ({
          reporter: 'destination',
          listener: 'inbound',
          startTime: Date.now() - (now - start),
          durationMs: now - start,
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          authority: req.headers.host ?? '',
          protocol: String(req.headers['content-type'] ?? '').startsWith('application/grpc')
            ? 'grpc'
            : 'http',
          httpVersion: req.httpVersion,
          status,
          flags,
          ...(r?.grpcStatus !== undefined ? { grpcStatus: r.grpcStatus } : {}),
          requestBytes: r?.requestBytes ?? 0,
          responseBytes: r?.responseBytes ?? 0,
          requestHeaders: req.headers,
          responseHeaders: res.getHeaders(),
          peerIdentity: peerIdentity(socket),
          ...(route ? { destination: { service: route.service, port: route.port } } : {}),
          ...(r ? { upstreamHost: r.upstreamHost } : {}),
        }));
      };
      if (!route) {
        sendLocalReply(res, 404, `this workload serves no ${socket.servername || '(no SNI)'}`, 'NR');
        return logLine(404, 'NR');
      }
      const headers = endToEnd(req.headers);
      headers['x-forwarded-client-cert'] = `By=${state!.snapshot.proxy.spiffeId};URI=${peerIdentity(socket)}`;
      headers['x-forwarded-proto'] = 'http';
      forward(
        req,
        res,
        { secure: false, host: deps.appHost, port: deps.appPort(route.targetPort), agent: appAgent },
        { path: req.url ?? '/', headers },
        (r) => logLine(r.status, r.flags, r),
      );
    },
  );
  // Rotation: new handshakes use the new certificate; open connections keep theirs.
  deps.identity.on('rotated', () => server.setSecureContext(deps.identity.serverOptions()));
  server.on('tlsClientError', () => {
    /* plaintext or untrusted clients: the handshake failed and the socket is closed */
  });
  return server;
}
