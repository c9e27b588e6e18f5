// The CUSTOM action's check against a gRPC service: Envoy's ext_authz filter with a grpc_service, as
// Istio's envoyExtAuthzGrpc extension provider configures it. It speaks the real
// envoy.service.auth.v3.Authorization/Check (proto/ holds the definitions, with Envoy's field numbers).
//
// The CheckRequest carries the request's method, host, path and query (the normalized path, as Envoy
// checks after normalization), every request header (pseudo-headers included, as Envoy sends them), the
// body when includeRequestBodyInCheck asks for it, and the source and destination peers. A CheckResponse
// with status OK allows: ok_response.headers are set on the upstream request (appended when `append` is
// true), headers_to_remove are removed, response_headers_to_add go to the client. Any other status denies
// with denied_response (status, default 403; headers; body). A failed call (unreachable, timeout) is an
// error: failOpen allows, otherwise statusOnError.
import * as grpc from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExtAuthzProvider } from '../../../model/security.js';
import {
  errorResult,
  PARTIAL_BODY_HEADER,
  type ExtAuthzCheckRequest,
  type ExtAuthzResult,
} from './ext-authz.js';

/** What a gRPC check needs beyond the HTTP one: the peers and the connection. */
export interface GrpcCheckRequest extends ExtAuthzCheckRequest {
  source?: { address: string; port?: number; principal?: string };
  destination?: { address: string; port: number; principal?: string };
  protocol?: string;
  scheme?: string;
}

// The messages as @grpc/proto-loader gives them (keepCase, longs and enums as numbers).
interface HeaderValueOption {
  header?: { key?: string; value?: string; raw_value?: Buffer };
  append?: { value?: boolean } | null;
  append_action?: number;
}
interface CheckResponse {
  status?: { code?: number; message?: string } | null;
  denied_response?: { status?: { code?: number } | null; headers?: HeaderValueOption[]; body?: string };
  ok_response?: {
    headers?: HeaderValueOption[];
    headers_to_remove?: string[];
    response_headers_to_add?: HeaderValueOption[];
  };
}

type CheckFn = (
  req: unknown,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: CheckResponse) => void,
) => grpc.ClientUnaryCall;
type AuthorizationClient = grpc.Client & { Check: CheckFn };
type AuthorizationCtor = new (
  address: string,
  creds: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => AuthorizationClient;

/** Loader options both sides of the tests use too: field names as in the .proto files. */
export const PROTO_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: Number,
  defaults: false,
  oneofs: true,
};

/** The proto/ folder: found upwards from this file, which runs from src/ or from dist/src/. */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'proto', 'envoy'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('the proto/ folder with the ext_authz definitions was not found');
    dir = up;
  }
  return join(dir, 'proto');
}

let loaded: { Authorization: AuthorizationCtor & { service: grpc.ServiceDefinition } } | undefined;

/** envoy.service.auth.v3.Authorization, loaded once on first use. */
export function authorizationService(): AuthorizationCtor & { service: grpc.ServiceDefinition } {
  if (!loaded) {
    const def = loadSync('envoy/service/auth/v3/external_auth.proto', {
      ...PROTO_OPTIONS,
      includeDirs: [protoDir()],
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      envoy: {
        service: { auth: { v3: { Authorization: AuthorizationCtor & { service: grpc.ServiceDefinition } } } };
      };
    };
    loaded = { Authorization: pkg.envoy.service.auth.v3.Authorization };
  }
  return loaded.Authorization;
}

// One channel per target and authority: channels connect lazily, multiplex, and reconnect by themselves.
const clients = new Map<string, AuthorizationClient>();

function clientFor(host: string, port: number, authority: string): AuthorizationClient {
  const target = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
  const key = `${target}|${authority}`;
  let c = clients.get(key);
  if (!c) {
    const Authorization = authorizationService();
    c = new Authorization(target, grpc.credentials.createInsecure(), {
      'grpc.default_authority': authority,
      // A provider that is down must fail the check at once (failOpen / statusOnError), not queue it.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
    clients.set(key, c);
  }
  return c;
}

/** Closes every channel (tests, shutdown). */
export function closeGrpcAuthzClients(): void {
  for (const c of clients.values()) c.close();
  clients.clear();
}

// Hop-by-hop headers describe one connection, not the request; Envoy has none of them by the time it checks.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'host',
]);

function checkRequest(r: GrpcCheckRequest, limit: number, packAsBytes: boolean): Record<string, unknown> {
  const query = r.query ? (r.query.startsWith('?') ? r.query : `?${r.query}`) : '';
  const path = `${r.path}${query}`;
  const headers: Record<string, string> = { ':authority': r.host, ':method': r.method, ':path': path };
  for (const [name, value] of Object.entries(r.headers)) {
    // A client's own x-envoy-auth-partial-body is dropped, as Envoy does: only the proxy may say it.
    if (value === undefined || HOP_BY_HOP.has(name) || name.startsWith(':') || name === PARTIAL_BODY_HEADER)
      continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const length = r.headers['content-length'];
  const size = length !== undefined ? Number(length) : r.headers['transfer-encoding'] ? -1 : 0;
  const http: Record<string, unknown> = {
    id: String(r.headers['x-request-id'] ?? ''),
    method: r.method,
    headers,
    path,
    host: r.host,
    scheme: r.scheme ?? 'http',
    size: Number.isFinite(size) ? size : -1,
    protocol: r.protocol ?? 'HTTP/1.1',
  };
  if (r.body && limit > 0) {
    // Envoy marks a cut body for the authorizer in x-envoy-auth-partial-body.
    headers[PARTIAL_BODY_HEADER] = String(r.body.partial);
    if (packAsBytes) http.raw_body = r.body.data;
    else http.body = r.body.data.toString('utf8');
  }
  const now = Date.now();
  const peer = (p: { address: string; port?: number; principal?: string } | undefined) =>
    p && {
      address: {
        socket_address: { address: p.address, ...(p.port !== undefined ? { port_value: p.port } : {}) },
      },
      ...(p.principal ? { principal: p.principal } : {}),
    };
  return {
    attributes: {
      ...(r.source ? { source: peer(r.source) } : {}),
      ...(r.destination ? { destination: peer(r.destination) } : {}),
      request: {
        time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
        http,
      },
    },
  };
}

const headerPairs = (opts: HeaderValueOption[] | undefined): Array<[string, string, HeaderValueOption]> =>
  (opts ?? [])
    .filter((o) => o.header?.key)
    .map((o) => [
      o.header!.key!.toLowerCase(),
      o.header!.value || (o.header!.raw_value ? o.header!.raw_value.toString('latin1') : ''),
      o,
    ]);

// HeaderValueOption.append_action values (envoy/config/core/v3/base.proto).
const ADD_IF_ABSENT = 1;
const OVERWRITE_IF_EXISTS = 3;
// Headers an authorizer may not touch: they would make the request malformed or re-route it.
const PROTECTED = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

/** ok_response.headers applied to the request's headers: the final value of each header it changes. */
function upstreamEdits(
  ok: NonNullable<CheckResponse['ok_response']>,
  headers: ExtAuthzCheckRequest['headers'],
): { set: Array<[string, string]>; remove: string[] } {
  const current = new Map<string, string | undefined>();
  const get = (k: string) => {
    if (current.has(k)) return current.get(k);
    const v = headers[k];
    return v === undefined ? undefined : Array.isArray(v) ? v.join(',') : v;
  };
  const remove = (ok.headers_to_remove ?? [])
    .map((h) => h.toLowerCase())
    .filter((h) => !h.startsWith(':') && !PROTECTED.has(h));
  for (const h of remove) current.set(h, undefined);
  for (const [k, v, o] of headerPairs(ok.headers)) {
    if (k.startsWith(':') || PROTECTED.has(k)) continue;
    const existing = get(k);
    // `append` defaults to false in this message: set (overwrite) unless asked to append.
    if (o.append?.value === true) current.set(k, existing === undefined ? v : `${existing},${v}`);
    else if (o.append_action === ADD_IF_ABSENT) {
      if (existing === undefined) current.set(k, v);
    } else if (o.append_action === OVERWRITE_IF_EXISTS) {
      if (existing !== undefined) current.set(k, v);
    } else current.set(k, v);
  }
  const set: Array<[string, string]> = [];
  const removed: string[] = [];
  for (const [k, v] of current) {
    if (v === undefined) removed.push(k);
    else set.push([k, v]);
  }
  return { set, remove: removed };
}

/** Asks a gRPC provider about one request. */
export async function checkExternalGrpc(
  provider: ExtAuthzProvider,
  req: GrpcCheckRequest,
  options: { connectTo?: { host: string; port: number } } = {},
): Promise<ExtAuthzResult> {
  const timeoutMs = provider.timeoutMs > 0 ? provider.timeoutMs : 600_000;
  const authority = `${provider.host}:${provider.port}`;
  let res: CheckResponse;
  try {
    const target = options.connectTo ?? { host: provider.host, port: provider.port };
    const client = clientFor(target.host, target.port, authority);
    const body = provider.includeRequestBody;
    const message = checkRequest(req, body?.maxRequestBytes ?? 0, body?.packAsBytes ?? false);
    res = await new Promise<CheckResponse>((resolve, reject) =>
      client.Check(message, { deadline: Date.now() + timeoutMs }, (err, r) =>
        err ? reject(err) : resolve(r ?? {}),
      ),
    );
  } catch (e) {
    const err = e as grpc.ServiceError;
    if (err.code === grpc.status.DEADLINE_EXCEEDED)
      return errorResult(provider, `did not answer within ${timeoutMs} ms`);
    return errorResult(
      provider,
      `could not be reached (${err.code !== undefined ? grpc.status[err.code] : ''}${err.details ? `: ${err.details}` : err.message ? `: ${err.message}` : ''})`,
    );
  }

  const code = res.status?.code ?? grpc.status.OK;
  if (code === grpc.status.OK) {
    const ok = res.ok_response ?? {};
    const { set, remove } = upstreamEdits(ok, req.headers);
    return {
      allowed: true,
      outcome: 'allowed',
      status: 200,
      body: '',
      upstreamHeaders: set,
      removeHeaders: remove,
      responseHeaders: headerPairs(ok.response_headers_to_add).map(([k, v]) => [k, v]),
      reason: `allowed by ext_authz provider ${provider.name}`,
    };
  }
  const denied = res.denied_response;
  const status = denied?.status?.code || 403;
  const why = res.status?.message ? ` (${res.status.message})` : '';
  return {
    allowed: false,
    outcome: 'denied',
    status,
    body: denied?.body ?? '',
    upstreamHeaders: [],
    responseHeaders: headerPairs(denied?.headers).map(([k, v]) => [k, v]),
    reason: `denied by ext_authz provider ${provider.name} with gRPC status ${grpc.status[code] ?? code}${why}, HTTP ${status}`,
  };
}
