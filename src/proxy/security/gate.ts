// The security gate of one snapshot: every request a workload receives passes here, in Istio's order —
// path normalization (the path policy sees is the path the app gets), JWT authentication
// (RequestAuthentication), then AuthorizationPolicy: CUSTOM (external authorizer), DENY, ALLOW, with
// AUDIT recorded. Built once per snapshot; a request with no JWT rules and no policies costs one path
// scan, and everything stays synchronous unless a token must be verified or an authorizer asked.
import type { IncomingHttpHeaders } from 'node:http';
import type { InboundSecurity } from '../../model/security.js';
import { normalizePath } from './path.js';
import type { JwtAuthenticator, JwtResult } from './jwt/index.js';
import type { AuthzEngine, AuthzRequest, CustomMatch } from './authz/engine.js';
import type { ExtAuthzResult } from './authz/ext-authz.js';
import { countAuthz, countJwt } from './decisions.js';
import type { GateHttpRequest, GateOutcome, GateTcpConnection, GateTcpDecision } from './gate-types.js';
import { LazyModule, whenLoaded } from '../../lib/lazy-module.js';

// External authorizers load on first CUSTOM check: most proxies never call one, and the gRPC client
// (with protobufjs) and undici's Agent would otherwise sit in every proxy's memory.
type HttpAuthz = typeof import('./authz/ext-authz.js');
type GrpcAuthz = typeof import('./authz/ext-authz-grpc.js');
let httpAuthz: Promise<HttpAuthz> | undefined;
let grpcAuthz: Promise<GrpcAuthz> | undefined;
const checkExternal = async (...a: Parameters<HttpAuthz['checkExternal']>) =>
  (await (httpAuthz ??= import('./authz/ext-authz.js'))).checkExternal(...a);
const checkExternalGrpc = async (...a: Parameters<GrpcAuthz['checkExternalGrpc']>) =>
  (await (grpcAuthz ??= import('./authz/ext-authz-grpc.js'))).checkExternalGrpc(...a);

// The JWT authenticator and the AuthorizationPolicy engine (~85 KB of code with their helpers) load with
// the first snapshot that has RequestAuthentication rules or AuthorizationPolicies (loadGateCode, awaited
// by DataPlane.apply before it builds the gate): most sidecars have neither, and would otherwise keep
// that code in memory for nothing. Requests never wait for it.
type JwtCode = typeof import('./jwt/index.js');
const jwtCode = new LazyModule('JWT', () => import('./jwt/index.js'));
const authzCode = new LazyModule('AuthorizationPolicy', () => import('./authz/engine.js'));

/** Loads the code a gate for `security` needs; undefined when it is loaded already. */
export function loadGateCode(security: InboundSecurity): Promise<void> | undefined {
  return whenLoaded([
    jwtCode.load(security.jwtRules.length > 0),
    authzCode.load(security.policies.length > 0),
  ]);
}

const NONE: Array<[string, string]> = [];
const NO_NAMES: string[] = [];
const DENIED_BODY = 'RBAC: access denied';
const NO_JWT: JwtResult = { ok: true, setHeaders: [], removeHeaders: [] };

type Deny = Extract<GateOutcome, { ok: false }>;

const deny = (status: number, body: string, flags: string, reason: string, headers = NONE): Deny => ({
  ok: false,
  status,
  body,
  flags,
  headers,
  reason,
});

export interface GateOptions {
  /** Where CUSTOM checks for mesh services go: this proxy's outbound listener. */
  outbound?: () => { host: string; port: number } | undefined;
  /** This proxy's SPIFFE ID: the destination principal of requests that reached it over mTLS. */
  principal?: string;
}

export class SecurityGate {
  /** Undefined without RequestAuthentication rules (every request passes untouched). */
  private readonly jwt: { authenticator: JwtAuthenticator; code: JwtCode } | undefined;
  /** Undefined without AuthorizationPolicies (every request is allowed without evaluation). */
  private readonly authz: AuthzEngine | undefined;
  private readonly tokenRequired: boolean;
  /** Per issuer: claims to read as space-separated lists (JWT rule spaceDelimitedClaims). */
  private readonly spaceDelimited = new Map<string, string[]>();

  constructor(
    readonly security: InboundSecurity,
    private readonly options: GateOptions = {},
  ) {
    if (security.jwtRules.length > 0) {
      const code = jwtCode.get();
      this.jwt = { authenticator: new code.JwtAuthenticator(security.jwtRules), code };
    }
    if (security.policies.length > 0)
      this.authz = new (authzCode.get().AuthzEngine)(security.policies, security.providers);
    this.tokenRequired = security.jwtRules.some((r) => r.required === true);
    for (const r of security.jwtRules)
      if (r.spaceDelimitedClaims?.length) this.spaceDelimited.set(r.issuer, r.spaceDelimitedClaims);
  }

  /** Gives shared JWKS entries back when the snapshot is replaced. */
  close(): void {
    this.jwt?.authenticator.close();
  }

  checkHttp(r: GateHttpRequest): GateOutcome | Promise<GateOutcome> {
    const n = normalizePath(r.target, this.security.pathNormalization);
    if (!n.ok) return deny(400, `Bad Request: ${n.reason}`, 'DPE', n.reason);
    // No RequestAuthentication: skip the authenticator (and its per-call result object) entirely.
    if (!this.jwt) return this.afterAuthn(r, n.path, n.query, NO_JWT);
    const authn = this.jwt.authenticator.authenticate(r.headers, n.query, r.method);
    if ('then' in authn) return authn.then((a) => this.afterAuthn(r, n.path, n.query, a));
    return this.afterAuthn(r, n.path, n.query, authn);
  }

  private afterAuthn(
    r: GateHttpRequest,
    path: string,
    query: string,
    a: JwtResult,
  ): GateOutcome | Promise<GateOutcome> {
    // A failure, a missing required token and parameters to remove all come from JWT rules: with them,
    // their code is loaded.
    if (!a.ok) {
      countJwt('failure');
      return deny(a.status, a.message, '', `JWT: ${a.message}`, [
        ['www-authenticate', this.jwt!.code.wwwAuthenticate('http', r.host, path)],
      ]);
    }
    if (a.principal) countJwt('success');
    else if (this.tokenRequired && !(r.method === 'OPTIONS' && r.headers.origin)) {
      countJwt('failure');
      return deny(401, 'Jwt is missing', '', 'JWT: a RequestAuthentication rule has presence REQUIRED', [
        ['www-authenticate', this.jwt!.code.wwwAuthenticate('http', r.host, path, true)],
      ]);
    }
    const q = a.removeParams?.length ? this.jwt!.code.removeQueryParams(query, a.removeParams) : query;
    const target = q ? `${path}?${q}` : path;
    const allowed: GateOutcome = {
      ok: true,
      target,
      setHeaders: a.setHeaders.length ? a.setHeaders : NONE,
      removeHeaders: a.removeHeaders.length ? a.removeHeaders : NO_NAMES,
      responseHeaders: NONE,
    };
    const authz = this.authz;
    if (!authz || authz.empty) return allowed;
    const req = this.authzRequest(r, path, a);
    const custom = authz.customPolicy(req);
    if (custom) return this.external(authz, custom, r, path, q, req, allowed);
    return this.local(authz, req, allowed);
  }

  /** DENY, then ALLOW; AUDIT policies that match are recorded. */
  private local(
    authz: AuthzEngine,
    req: AuthzRequest,
    allowed: Extract<GateOutcome, { ok: true }>,
  ): GateOutcome {
    const d = authz.checkLocal(req);
    const audit = authz.audited(req);
    for (const p of audit) countAuthz('audit', 'AUDIT', p);
    if (!d.allowed) {
      countAuthz('deny', d.action, d.policy ?? '');
      return deny(403, DENIED_BODY, 'RBAC', d.reason);
    }
    if (d.policy) countAuthz('allow', d.action, d.policy);
    return audit.length ? { ...allowed, audit } : allowed;
  }

  private async external(
    authz: AuthzEngine,
    custom: CustomMatch,
    r: GateHttpRequest,
    path: string,
    query: string,
    req: AuthzRequest,
    allowed: Extract<GateOutcome, { ok: true }>,
  ): Promise<GateOutcome> {
    const via = custom.provider.viaMesh ? this.options.outbound?.() : undefined;
    const check = { method: r.method, path, query, host: r.host, headers: r.headers };
    const wantBody = custom.provider.includeRequestBody;
    const body = wantBody && r.readBody ? await r.readBody(wantBody.maxRequestBytes) : undefined;
    // Envoy's buffer limit: a body over maxRequestBytes is 413 (failOpen or not, and before any check)
    // unless partial messages are allowed; Envoy's local reply carries no response flag.
    if (body?.partial && !wantBody?.allowPartialMessage)
      return deny(
        413,
        'Payload Too Large',
        '',
        `${custom.reason}; the body is larger than maxRequestBytes (${wantBody!.maxRequestBytes}) and allowPartialMessage is off`,
      );
    const res: ExtAuthzResult = custom.provider.grpc
      ? await checkExternalGrpc(
          custom.provider,
          {
            ...check,
            source: {
              address: r.sourceIp,
              ...(r.sourcePort ? { port: r.sourcePort } : {}),
              ...(r.peer ? { principal: r.peer } : {}),
            },
            // Envoy fills it from the local certificate of the downstream TLS: ours, over mTLS only.
            destination: {
              address: r.destinationIp,
              port: r.destinationPort,
              ...(r.peer && this.options.principal ? { principal: this.options.principal } : {}),
            },
            ...(body ? { body } : {}),
          },
          via ? { connectTo: via } : {},
        )
      : await checkExternal(
          custom.provider,
          body ? { ...check, body } : check,
          undefined,
          via ? { connectTo: via } : {},
        );
    if (!res.allowed) {
      countAuthz('deny', 'CUSTOM', custom.policy.name);
      return deny(res.status, res.body, 'UAEX', `${custom.reason}; ${res.reason}`, res.responseHeaders);
    }
    countAuthz('allow', 'CUSTOM', custom.policy.name);
    const local = this.local(authz, req, allowed);
    if (!local.ok) return local;
    return {
      ...local,
      setHeaders: [...local.setHeaders, ...res.upstreamHeaders],
      ...(res.removeHeaders?.length ? { removeHeaders: [...local.removeHeaders, ...res.removeHeaders] } : {}),
      responseHeaders: res.responseHeaders,
    };
  }

  private authzRequest(r: GateHttpRequest, path: string, a: Extract<JwtResult, { ok: true }>): AuthzRequest {
    return {
      tcp: false,
      principal: r.peer ? r.peer.slice('spiffe://'.length) : '',
      sourceIp: r.sourceIp,
      remoteIp: r.remoteIp ?? remoteIp(r.headers, r.sourceIp),
      ...(a.principal ? { requestPrincipal: a.principal } : {}),
      ...(a.claims ? { claims: this.splitClaims(a.claims) } : {}),
      ...(a.audiences ? { audiences: a.audiences } : {}),
      ...(a.presenter ? { presenter: a.presenter } : {}),
      host: r.host,
      method: r.method,
      path,
      headers: r.headers,
      destinationIp: r.destinationIp,
      destinationPort: r.destinationPort,
      sni: r.sni,
    };
  }

  private splitClaims(claims: Record<string, unknown>): Record<string, unknown> {
    const names = this.spaceDelimited.get(String(claims.iss));
    if (!names) return claims;
    const out = { ...claims };
    for (const n of names)
      if (typeof out[n] === 'string') out[n] = (out[n] as string).split(' ').filter(Boolean);
    return out;
  }

  checkTcp(c: GateTcpConnection): GateTcpDecision {
    const authz = this.authz;
    if (!authz || authz.empty) return { allowed: true, reason: 'no AuthorizationPolicy applies' };
    const d = authz.checkLocal({
      tcp: true,
      principal: c.peer ? c.peer.slice('spiffe://'.length) : '',
      sourceIp: c.sourceIp,
      remoteIp: c.sourceIp,
      host: '',
      method: '',
      path: '',
      headers: {},
      destinationIp: c.destinationIp,
      destinationPort: c.destinationPort,
      sni: c.sni,
    });
    if (!d.allowed) countAuthz('deny', d.action, d.policy ?? '');
    return { allowed: d.allowed, reason: d.reason, ...(d.policy ? { policy: d.policy } : {}) };
  }
}

/** The original client: the address the nearest proxy appended to X-Forwarded-For, else the peer. */
function remoteIp(h: IncomingHttpHeaders, fallback: string): string {
  const xff = h['x-forwarded-for'];
  if (!xff) return fallback;
  const s = Array.isArray(xff) ? xff[xff.length - 1]! : xff;
  const last = s.slice(s.lastIndexOf(',') + 1).trim();
  return last || fallback;
}
