// PeerAuthentication, RequestAuthentication, AuthorizationPolicy and MeshConfig -> what one workload's
// inbound side enforces. Scopes follow Istio: a policy in the root namespace without a selector is
// mesh-wide, one in a namespace without a selector covers that namespace, and a selector narrows it to
// matching workloads (in the root namespace: matching workloads in every namespace).
import type {
  AuthzPolicy,
  AuthzRule,
  ExtAuthzProvider,
  InboundMtls,
  InboundSecurity,
  JwtRule,
  MtlsModeValue,
} from '../../model/security.js';
import { portMode } from '../../model/security.js';
export { portMode };
import type { ProxyIdentity } from '../../model/snapshot.js';
import type {
  AuthorizationPolicy,
  AuthzRuleSpec,
  MeshConfigSpec,
  MtlsMode,
  PeerAuthentication,
  WorkloadSelector,
} from '../security-types.js';
import { parseDuration } from '../duration.js';
import { fqdn } from '../hosts.js';
import { labelsMatch, type MeshIndex } from './inputs.js';

export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

const AUTHZ_ORDER = { CUSTOM: 0, DENY: 1, ALLOW: 2, AUDIT: 3 } as const;

export function rootNamespace(mesh: MeshConfigSpec): string {
  return mesh.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
}

/** Does a policy (namespace + selector) apply to this workload? */
export function policyApplies(
  mesh: MeshConfigSpec,
  policyNs: string,
  selector: WorkloadSelector | undefined,
  proxy: Pick<ProxyIdentity, 'namespace' | 'labels'>,
): boolean {
  const sel = selector?.matchLabels;
  const selected = !sel || Object.keys(sel).length === 0 || labelsMatch(sel, proxy.labels);
  if (policyNs === rootNamespace(mesh)) return selected;
  return policyNs === proxy.namespace && selected;
}

const isSet = (m: MtlsMode | undefined): m is MtlsModeValue => m !== undefined && m !== 'UNSET';

/** Istio's effective PeerAuthentication: workload beats namespace beats mesh; UNSET inherits. */
export function effectiveMtls(
  index: MeshIndex,
  proxy: Pick<ProxyIdentity, 'namespace' | 'labels'>,
): InboundMtls {
  const mesh = index.meshConfig;
  const root = rootNamespace(mesh);
  const byName = (a: PeerAuthentication, b: PeerAuthentication) =>
    a.metadata.name.localeCompare(b.metadata.name);
  const all = [...index.peerAuthentications].sort(byName);
  const hasSelector = (p: PeerAuthentication) => Object.keys(p.spec.selector?.matchLabels ?? {}).length > 0;
  const meshWide = all.find((p) => p.metadata.namespace === root && !hasSelector(p));
  const nsWide = all.find((p) => p.metadata.namespace === proxy.namespace && !hasSelector(p));
  const workload = all.find(
    (p) =>
      p.metadata.namespace === proxy.namespace &&
      hasSelector(p) &&
      labelsMatch(p.spec.selector!.matchLabels!, proxy.labels),
  );
  let mode: MtlsModeValue = 'PERMISSIVE'; // Istio's default when nothing says otherwise
  let source = 'default';
  for (const p of [meshWide, nsWide, workload]) {
    if (p && isSet(p.spec.mtls?.mode)) {
      mode = p.spec.mtls.mode;
      source = `${p.metadata.namespace}/${p.metadata.name}`;
    }
  }
  const ports: Record<string, MtlsModeValue> = {};
  for (const [port, v] of Object.entries(workload?.spec.portLevelMtls ?? {}))
    ports[port] = isSet(v.mode) ? v.mode : mode;
  return { mode, ports, source };
}

const mtlsCache = new WeakMap<MeshIndex, Map<string, InboundMtls>>();

/** effectiveMtls of a registered instance, computed once per push (every proxy's clusters ask). */
export function instanceMtls(
  index: MeshIndex,
  i: { id: string; namespace: string; labels: Record<string, string> },
): InboundMtls {
  let cache = mtlsCache.get(index);
  if (!cache) mtlsCache.set(index, (cache = new Map()));
  let m = cache.get(i.id);
  if (!m) cache.set(i.id, (m = effectiveMtls(index, i)));
  return m;
}

const upperEscapes = (p: string) => p.replace(/%[0-9a-f]{2}/gi, (m) => m.toUpperCase());

function compileRule(r: AuthzRuleSpec, ns: string): AuthzRule {
  return {
    from: (r.from ?? []).map((f) => {
      const { serviceAccounts, notServiceAccounts, ...s } = f.source ?? {};
      // serviceAccounts "ns/sa" or "sa" (the policy's namespace) name peers like principals do, in any
      // trust domain; the schema keeps them apart from principals in one source.
      const asPrincipal = (sa: string) =>
        `*/ns/${sa.includes('/') ? sa.replace('/', '/sa/') : `${ns}/sa/${sa}`}`;
      if (serviceAccounts?.length) s.principals = serviceAccounts.map(asPrincipal);
      if (notServiceAccounts?.length) s.notPrincipals = notServiceAccounts.map(asPrincipal);
      return s;
    }),
    to: (r.to ?? []).map((t) => {
      const op = { ...(t.operation ?? {}) };
      // Request paths reach policy with percent-escapes in upper case (proxy/security/path.ts), so a
      // policy written with `%2f` must say `%2F` to match the same requests.
      if (op.paths) op.paths = op.paths.map(upperEscapes);
      if (op.notPaths) op.notPaths = op.notPaths.map(upperEscapes);
      return op;
    }),
    when: (r.when ?? []).map((c) => ({ ...c })),
  };
}

function compilePolicy(p: AuthorizationPolicy): AuthzPolicy {
  const action = p.spec.action ?? 'ALLOW';
  return {
    name: `${p.metadata.namespace}/${p.metadata.name}`,
    action,
    rules: (p.spec.rules ?? []).map((r) => compileRule(r, p.metadata.namespace)),
    ...(action === 'CUSTOM' && p.spec.provider ? { provider: p.spec.provider.name } : {}),
  };
}

/** Gateway API policy attachment: a targetRef to a Gateway selects the proxies serving it. */
function targetsProxy(
  refs: Array<{ kind: string; name: string; namespace?: string }>,
  policyNs: string,
  proxy: ProxyIdentity,
): boolean {
  return refs.some(
    (r) =>
      r.kind === 'Gateway' &&
      (r.namespace ?? policyNs) === proxy.namespace &&
      proxy.labels['gateway.networking.k8s.io/gateway-name'] === r.name,
  );
}

function appliesTo(
  index: MeshIndex,
  p: {
    metadata: { namespace: string };
    spec: {
      selector?: WorkloadSelector;
      targetRef?: { kind: string; name: string; namespace?: string };
      targetRefs?: Array<{ kind: string; name: string; namespace?: string }>;
    };
  },
  proxy: ProxyIdentity,
): boolean {
  const refs = [...(p.spec.targetRef ? [p.spec.targetRef] : []), ...(p.spec.targetRefs ?? [])];
  if (refs.length) return targetsProxy(refs, p.metadata.namespace, proxy);
  return policyApplies(index.meshConfig, p.metadata.namespace, p.spec.selector, proxy);
}

export function authorizationPolicies(index: MeshIndex, proxy: ProxyIdentity): AuthzPolicy[] {
  return index.authorizationPolicies
    .filter((p) => appliesTo(index, p, proxy))
    .map(compilePolicy)
    .sort((a, b) => AUTHZ_ORDER[a.action] - AUTHZ_ORDER[b.action] || a.name.localeCompare(b.name));
}

export function jwtRules(index: MeshIndex, proxy: ProxyIdentity): JwtRule[] {
  const out: JwtRule[] = [];
  for (const ra of index.requestAuthentications) {
    if (!appliesTo(index, ra, proxy)) continue;
    for (const r of ra.spec.jwtRules ?? []) {
      out.push({
        issuer: r.issuer,
        audiences: r.audiences ?? [],
        ...(r.jwksUri ? { jwksUri: r.jwksUri } : {}),
        ...(r.jwks ? { jwks: r.jwks } : {}),
        fromHeaders: (r.fromHeaders ?? []).map((h) => ({
          name: h.name.toLowerCase(),
          prefix: h.prefix ?? '',
        })),
        fromParams: r.fromParams ?? [],
        fromCookies: r.fromCookies ?? [],
        ...(r.outputPayloadToHeader ? { outputPayloadToHeader: r.outputPayloadToHeader.toLowerCase() } : {}),
        outputClaimToHeaders: (r.outputClaimToHeaders ?? []).map((c) => ({
          header: c.header.toLowerCase(),
          claim: c.claim,
        })),
        forwardOriginalToken: r.forwardOriginalToken ?? false,
        timeoutMs: r.timeout ? parseDuration(r.timeout) : 5_000,
        ...(r.presence === 'REQUIRED' ? { required: true } : {}),
        ...(r.spaceDelimitedClaims?.length ? { spaceDelimitedClaims: r.spaceDelimitedClaims } : {}),
      });
    }
  }
  return out;
}

const STATUS_ON_ERROR_DEFAULT = 403;
const DEFAULT_MAX_REQUEST_BYTES = 8192;

/** meshConfig.extensionProviders[].envoyExtAuthzHttp or envoyExtAuthzGrpc that some CUSTOM policy of this
 * proxy names. */
export function extAuthzProviders(index: MeshIndex, policies: AuthzPolicy[]): ExtAuthzProvider[] {
  const wanted = new Set(policies.filter((p) => p.action === 'CUSTOM').map((p) => p.provider));
  const out: ExtAuthzProvider[] = [];
  for (const p of index.meshConfig.extensionProviders ?? []) {
    const h = p.envoyExtAuthzHttp;
    const g = p.envoyExtAuthzGrpc;
    const c = h ?? g;
    if (!c || !wanted.has(p.name)) continue;
    const host = c.service.includes('/') ? c.service.slice(c.service.indexOf('/') + 1) : c.service;
    const meshHost = fqdn(host, 'default', index.mesh.domain);
    const body = c.includeRequestBodyInCheck;
    out.push({
      name: p.name,
      ...(g && !h ? { grpc: true } : {}),
      ...(body
        ? {
            includeRequestBody: {
              // Envoy requires a positive limit; Istio leaves the default to Envoy's validation.
              maxRequestBytes: body.maxRequestBytes || DEFAULT_MAX_REQUEST_BYTES,
              allowPartialMessage: body.allowPartialMessage ?? false,
              packAsBytes: body.packAsBytes ?? false,
            },
          }
        : {}),
      host,
      port: c.port,
      ...(index.services.has(meshHost) ? { viaMesh: true } : {}),
      pathPrefix: h?.pathPrefix ?? '',
      timeoutMs: c.timeout ? parseDuration(c.timeout) : 600_000,
      failOpen: c.failOpen ?? false,
      statusOnError: c.statusOnError ? Number(c.statusOnError) : STATUS_ON_ERROR_DEFAULT,
      includeRequestHeadersInCheck: (h?.includeRequestHeadersInCheck ?? []).map((x) => x.toLowerCase()),
      includeAdditionalHeadersInCheck: Object.entries(h?.includeAdditionalHeadersInCheck ?? {}),
      headersToUpstreamOnAllow: (h?.headersToUpstreamOnAllow ?? []).map((x) => x.toLowerCase()),
      headersToDownstreamOnAllow: (h?.headersToDownstreamOnAllow ?? []).map((x) => x.toLowerCase()),
      headersToDownstreamOnDeny: (h?.headersToDownstreamOnDeny ?? []).map((x) => x.toLowerCase()),
    });
  }
  return out;
}

export function inboundSecurity(index: MeshIndex, proxy: ProxyIdentity): InboundSecurity {
  const policies = authorizationPolicies(index, proxy);
  return {
    mtls: effectiveMtls(index, proxy),
    pathNormalization: index.meshConfig.pathNormalization?.normalization ?? 'BASE',
    jwtRules: jwtRules(index, proxy),
    policies,
    providers: extAuthzProviders(index, policies),
  };
}
