// `weft authz check WORKLOAD`: a dry run of one request (or TCP connection) against exactly what that
// workload's proxy enforces — the snapshot it was sent — through the same code: path normalization, JWT
// verification (with the workload's RequestAuthentication rules, keys fetched as the proxy would), and
// the AuthorizationPolicy engine, which says which policy and rule decided and why.
import type { Command } from 'commander';
import type { IncomingHttpHeaders } from 'node:http';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { printStructured, type OutputFormat } from '../output.js';
import type { ProxySnapshot } from '../../model/snapshot.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { normalizePath } from '../../proxy/security/path.js';
import { JwtAuthenticator } from '../../proxy/security/jwt/index.js';
import { AuthzEngine, type AuthzRequest } from '../../proxy/security/authz/engine.js';
import { formatExplanation } from '../../proxy/security/authz/explain.js';

interface Flags {
  namespace: string;
  from?: string;
  sourceIp: string;
  method: string;
  path: string;
  host?: string;
  port?: string;
  header: string[];
  jwt?: string;
  claims?: string;
  tcp?: boolean;
  output: string;
}

const collect = (v: string, all: string[]) => [...all, v];

/** A proxy id, or a workload name (its first instance). */
async function snapshotOf(client: MeshClient, target: string, ns: string): Promise<ProxySnapshot> {
  const { body } = await client.call<{ items: Array<{ id: string }> }>('GET', '/apis/v1/proxies');
  const ids = body.items.map((p) => p.id);
  const id =
    ids.find((i) => i === target || i === `${target}.${ns}`) ??
    ids.filter((i) => i.startsWith(`${target}-`) && i.endsWith(`.${ns}`)).sort()[0];
  if (!id)
    throw new WeftError(
      ErrorCodes.PROXY_NOT_FOUND,
      `no proxy for ${target} in namespace ${ns}`,
      'name a workload or a proxy id from `weft proxy-status`',
    );
  const r = await client.call<ProxySnapshot>('GET', `/apis/v1/proxies/${encodeURIComponent(id)}/config`);
  return r.body;
}

function headersOf(list: string[]): IncomingHttpHeaders {
  const h: IncomingHttpHeaders = {};
  for (const line of list) {
    const i = line.indexOf(':');
    if (i <= 0) throw new WeftError(ErrorCodes.CONFIG_INVALID, `header "${line}" is not "Name: value"`);
    h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return h;
}

export function registerAuthzCheck(program: Command, mesh: () => MeshFlags): void {
  const authz = program.command('authz').description('authorization diagnostics');
  authz
    .command('check')
    .description('dry-run a request against the policies a workload enforces, and say which rule decided')
    .argument('<workload>', 'workload name (its first instance) or proxy id')
    .option('-n, --namespace <ns>', 'namespace of the workload', 'default')
    .option('--from <identity>', 'caller identity: SPIFFE ID or principal (omit for a plaintext caller)')
    .option('--source-ip <ip>', 'caller address', '127.0.0.1')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('--path <path>', 'request path and query, as sent', '/')
    .option('--host <host>', "Host / :authority (default: the workload's first service)")
    .option('--port <port>', 'destination (container) port (default: the first service port)')
    .option('-H, --header <header>', '"Name: value" (repeatable)', collect, [])
    .option('--jwt <token>', "a JWT to verify with the workload's RequestAuthentication rules")
    .option(
      '--claims <json>',
      'JWT claims to assume, as JSON, without a token (e.g. \'{"iss":"a","sub":"b"}\')',
    )
    .option('--tcp', 'a TCP connection rather than an HTTP request')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (target: string, f: Flags) => {
      const client = await MeshClient.connect(mesh());
      const snap = await snapshotOf(client, target, f.namespace);
      const sec = snap.security;
      const route = snap.inbound.routes[0];
      const port = Number(f.port ?? route?.targetPort ?? 0);
      const host = f.host ?? (route ? `${route.service}:${route.port}` : snap.proxy.workload);
      const headers = headersOf(f.header);
      if (f.jwt) headers.authorization = `Bearer ${f.jwt}`;
      const principal = f.from ? f.from.replace(/^spiffe:\/\//, '') : '';
      const lines: string[] = [];
      let path = '/';
      let claims: Record<string, unknown> | undefined;
      let requestPrincipal: string | undefined;
      if (!f.tcp) {
        const n = normalizePath(f.path, sec.pathNormalization);
        if (!n.ok) return report(f, lines, { result: 'DENY', status: 400, reason: n.reason });
        path = n.path;
        if (path !== f.path.split('?')[0])
          lines.push(`path:     ${f.path} normalizes to ${path} (${sec.pathNormalization})`);
        if (f.claims) {
          claims = JSON.parse(f.claims) as Record<string, unknown>;
          if (typeof claims.iss === 'string' && typeof claims.sub === 'string')
            requestPrincipal = `${claims.iss}/${claims.sub}`;
        } else {
          const jwt = new JwtAuthenticator(sec.jwtRules, { refreshIntervalMs: 3_600_000 });
          try {
            await jwt.ready();
            const a = await jwt.authenticate(headers, n.query, f.method);
            if (!a.ok)
              return report(f, lines, { result: 'DENY', status: a.status, reason: `JWT: ${a.message}` });
            if (a.principal) lines.push(`jwt:      valid, request principal ${a.principal}`);
            else if (f.jwt)
              lines.push('jwt:      no rule of this workload reads the token where it was sent');
            claims = a.claims;
            requestPrincipal = a.principal;
          } finally {
            jwt.close();
          }
        }
      }
      const engine = new AuthzEngine(sec.policies, sec.providers);
      const req: AuthzRequest = {
        tcp: f.tcp === true,
        principal,
        sourceIp: f.sourceIp,
        remoteIp: f.sourceIp,
        ...(requestPrincipal ? { requestPrincipal } : {}),
        ...(claims ? { claims } : {}),
        host,
        method: f.method.toUpperCase(),
        path,
        headers,
        destinationIp: '127.0.0.1',
        destinationPort: port,
      };
      const e = engine.explain(req);
      if (f.output === 'json' || f.output === 'yaml')
        return printStructured({ workload: snap.proxy.id, ...e, notes: lines }, f.output as OutputFormat);
      lines.unshift(
        `workload: ${snap.proxy.id} (${sec.policies.length} policies, ${sec.jwtRules.length} JWT rules)`,
      );
      lines.push(formatExplanation(e));
      for (const w of e.warnings) lines.push(`warning:  ${w}`);
      process.stdout.write(lines.join('\n') + '\n');
      if (!e.decision.allowed) process.exitCode = 3;
    });
}

function report(f: Flags, lines: string[], r: { result: string; status: number; reason: string }): void {
  if (f.output === 'json' || f.output === 'yaml')
    return printStructured({ ...r, notes: lines }, f.output as OutputFormat);
  process.stdout.write([...lines, `decision: ${r.result} (${r.status}): ${r.reason}`].join('\n') + '\n');
  process.exitCode = 3;
}
