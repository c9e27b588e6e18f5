// A gRPC external authorizer speaking envoy.service.auth.v3.Authorization/Check (the definitions in proto/,
// loaded here with @grpc/proto-loader on its own). What it answers depends on the checked request's
// `x-grpc-authz` header:
//   allow   OK; sets x-grpc-authz-result: allowed, appends "two" to x-appended, removes x-remove-me,
//           adds x-authz-response: yes to the client's response;
//   deny    PERMISSION_DENIED with a denied_response: HTTP 401, a body, WWW-Authenticate and x-denied-by;
//   slow    answers OK after 3 s;
//   other   PERMISSION_DENIED without a denied_response (Envoy then sends 403).
// Every CheckRequest it receives is kept in `seen`.
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export const GRPC_DENY_BODY = 'denied by the gRPC authorizer';

export interface SeenCheck {
  attributes: {
    source?: { address?: { socket_address?: { address: string; port_value?: number } }; principal?: string };
    destination?: {
      address?: { socket_address?: { address: string; port_value?: number } };
      principal?: string;
    };
    request: {
      time?: { seconds: number };
      http: {
        id?: string;
        method: string;
        headers: Record<string, string>;
        path: string;
        host: string;
        scheme?: string;
        size?: number;
        protocol?: string;
        body?: string;
        raw_body?: Buffer;
      };
    };
  };
}

export interface GrpcAuthzServer {
  port: number;
  seen: SeenCheck[];
  close(): Promise<void>;
}

const header = (key: string, value: string, append?: boolean) => ({
  header: { key, value },
  ...(append !== undefined ? { append: { value: append } } : {}),
});

export async function startGrpcAuthzServer(): Promise<GrpcAuthzServer> {
  const def = loadSync('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: [join(ROOT, 'proto')],
    keepCase: true,
    longs: Number,
    enums: Number,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } };
  };
  const seen: SeenCheck[] = [];
  const server = new grpc.Server();
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check: (call: grpc.ServerUnaryCall<SeenCheck, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      seen.push(call.request);
      const mode = call.request.attributes.request.http.headers['x-grpc-authz'];
      if (mode === 'allow')
        return cb(null, {
          status: { code: grpc.status.OK },
          ok_response: {
            headers: [header('x-grpc-authz-result', 'allowed'), header('x-appended', 'two', true)],
            headers_to_remove: ['x-remove-me'],
            response_headers_to_add: [header('x-authz-response', 'yes')],
          },
        });
      if (mode === 'slow') return setTimeout(() => cb(null, { status: { code: grpc.status.OK } }), 3000);
      if (mode === 'deny')
        return cb(null, {
          status: { code: grpc.status.PERMISSION_DENIED, message: 'not this one' },
          denied_response: {
            status: { code: 401 },
            headers: [
              header('www-authenticate', 'Bearer realm="grpc-authz"'),
              header('x-denied-by', 'grpc-authz'),
            ],
            body: GRPC_DENY_BODY,
          },
        });
      return cb(null, { status: { code: grpc.status.PERMISSION_DENIED } });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return {
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) =>
        server.tryShutdown(() => {
          server.forceShutdown();
          resolve();
        }),
      ),
  };
}
