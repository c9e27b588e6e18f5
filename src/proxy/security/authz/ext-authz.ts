// The CUSTOM action's check: Envoy's ext_authz filter with an HTTP service, configured the way Istio's
// envoyExtAuthzHttp extension provider configures it (pilot/pkg/security/authz/builder/extauthz.go).
//
// The check request carries the original method and pathPrefix + path + query, the body read for
// includeRequestBodyInCheck (its first maxRequestBytes, as raw bytes) or none (Content-Length 0),
// the original Host and Authorization headers (Envoy always includes Host, Method, Path, Content-Length and
// Authorization), the client headers named by includeRequestHeadersInCheck, and
// includeAdditionalHeadersInCheck (overriding client headers of the same name). A 200 answer allows:
// headersToUpstreamOnAllow response headers are set on the upstream request (overriding), and
// headersToDownstreamOnAllow ones are added to the response. Any other status denies with that status and
// body, and with the response headers named by headersToDownstreamOnDeny (plus WWW-Authenticate and
// Location), or all of them but Host when that list is empty. A timeout or a connection error allows when
// failOpen is set, and otherwise denies with statusOnError (403 by default) and no body.
import { Agent, type Dispatcher } from 'undici';
import type { ExtAuthzProvider } from '../../../model/security.js';
import { compileStringList } from './match.js';
import { CHECK_HOST_HEADER, checkHostValue } from './check-host.js';

export interface ExtAuthzCheckRequest {
  method: string;
  /** The original :authority / Host. */
  host: string;
  /** The (normalized) path, without the query. */
  path: string;
  /** The query string, with or without its leading "?"; empty or absent for none. */
  query?: string;
  /** Client request headers, lower-case names. */
  headers: Record<string, string | string[] | undefined>;
  /** The buffered body (at most maxRequestBytes), and whether it was cut there. */
  body?: { data: Buffer; partial: boolean };
}

/** Envoy's marker of a cut body; a client's own header of that name never reaches the authorizer. */
export const PARTIAL_BODY_HEADER = 'x-envoy-auth-partial-body';

export interface ExtAuthzResult {
  allowed: boolean;
  /** What happened: the provider allowed or denied, or the check failed (timeout, connection error). */
  outcome: 'allowed' | 'denied' | 'error';
  /** 200 when allowed; the provider's status, or statusOnError, when denied. */
  status: number;
  /** The provider's response body on deny (empty on error). */
  body: string;
  /** Headers to set on the upstream request, overriding ones of the same name (on allow). */
  upstreamHeaders: Array<[string, string]>;
  /** Headers to remove from the upstream request (on allow; gRPC providers' headers_to_remove). */
  removeHeaders?: string[];
  /** Headers to add to the response sent to the client (on allow and on deny). */
  responseHeaders: Array<[string, string]>;
  /** Plain language, for logs and `weft authz check`. */
  reason: string;
}

export interface ExtAuthzOptions {
  /** Where to connect instead of provider.host:provider.port (e.g. this proxy's own outbound listener). */
  connectTo?: { host: string; port: number };
  /** The dispatcher to use instead of the shared keep-alive agent. */
  dispatcher?: Dispatcher;
}

type Headers = Record<string, string | string[] | undefined>;

// Hop-by-hop and framing headers never cross from one message to another.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'host',
]);

interface CompiledProvider {
  includeRequest: (name: string) => boolean;
  toUpstreamOnAllow?: (name: string) => boolean;
  toDownstreamOnAllow?: (name: string) => boolean;
  toDownstreamOnDeny?: (name: string) => boolean;
  additional: Array<[string, string]>;
  base: string;
  /**
   * Set when the check goes through another HTTP hop (connectTo: the proxy's own outbound listener): the
   * provider's origin, sent as an absolute-form request target so that hop routes by it. The Host header
   * stays the original request's (Envoy sends it unchanged), so origin form would route the check back
   * to the very service being protected, which would ask again, and so on.
   */
  via?: string;
  prefix: string;
}

const compiledProviders = new WeakMap<ExtAuthzProvider, CompiledProvider>();

function headerList(patterns: readonly string[] | undefined): ((name: string) => boolean) | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  return compileStringList(patterns, true);
}

const origin = (host: string, port: number) =>
  `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;

function compileProvider(p: ExtAuthzProvider, connectTo?: { host: string; port: number }): CompiledProvider {
  const cached = connectTo ? undefined : compiledProviders.get(p);
  if (cached) return cached;
  const host = connectTo?.host ?? p.host;
  const port = connectTo?.port ?? p.port;
  const denyList = headerList(p.headersToDownstreamOnDeny);
  const compiled: CompiledProvider = {
    includeRequest: headerList(p.includeRequestHeadersInCheck) ?? (() => false),
    toUpstreamOnAllow: headerList(p.headersToUpstreamOnAllow),
    toDownstreamOnAllow: headerList(p.headersToDownstreamOnAllow),
    // Envoy's allowed_client_headers: when set, WWW-Authenticate and Location are added automatically.
    toDownstreamOnDeny: denyList && ((n) => n === 'www-authenticate' || n === 'location' || denyList(n)),
    additional: (p.includeAdditionalHeadersInCheck ?? []).map(([k, v]) => [k.toLowerCase(), v]),
    base: origin(host, port),
    ...(connectTo ? { via: origin(p.host, p.port) } : {}),
    prefix: p.pathPrefix ?? '',
  };
  if (!connectTo) compiledProviders.set(p, compiled);
  return compiled;
}

let sharedAgent: Agent | undefined;

/** The keep-alive agent every check shares. */
export function extAuthzAgent(): Agent {
  return (sharedAgent ??= new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: 64,
  }));
}

/** Closes the shared agent (tests, shutdown). The next check makes a new one. */
export async function closeExtAuthzAgent(): Promise<void> {
  const a = sharedAgent;
  sharedAgent = undefined;
  await a?.close();
}

function pairs(headers: Headers, pick: (name: string) => boolean): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || !pick(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.push([name, v]);
    else out.push([name, value]);
  }
  return out;
}

/** A check that could not be made: allowed with failOpen, otherwise denied with statusOnError. */
export function errorResult(provider: ExtAuthzProvider, what: string): ExtAuthzResult {
  if (provider.failOpen) {
    return {
      allowed: true,
      outcome: 'error',
      status: 200,
      body: '',
      upstreamHeaders: [],
      responseHeaders: [],
      reason: `ext_authz provider ${provider.name} ${what}; allowed because failOpen is set`,
    };
  }
  const status = provider.statusOnError || 403;
  return {
    allowed: false,
    outcome: 'error',
    status,
    body: '',
    upstreamHeaders: [],
    responseHeaders: [],
    reason: `ext_authz provider ${provider.name} ${what}; denied with statusOnError ${status}`,
  };
}

/**
 * Asks the provider about one request. On allow, `upstreamHeaders` (if given) receives the
 * headersToUpstreamOnAllow headers, overriding existing ones; they are also in the result.
 */
export async function checkExternal(
  provider: ExtAuthzProvider,
  req: ExtAuthzCheckRequest,
  upstreamHeaders?: Headers,
  options: ExtAuthzOptions = {},
): Promise<ExtAuthzResult> {
  const c = compileProvider(provider, options.connectTo);
  if (req.method === 'CONNECT')
    return errorResult(provider, 'cannot be asked about a CONNECT request over HTTP');

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === PARTIAL_BODY_HEADER) continue;
    if (name === 'authorization' || c.includeRequest(name)) {
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
  }
  for (const [name, value] of c.additional) headers[name] = value;
  headers.host = req.host;
  // Through our outbound listener the absolute-form target would replace Host; this keeps the original.
  if (c.via) headers[CHECK_HOST_HEADER] = checkHostValue(req.host);
  // No body: Content-Length 0 (undici leaves it out for methods that carry no body, which is the same).
  headers['content-length'] = String(req.body?.data.length ?? 0);
  // Like every request header, Envoy's partial-body marker reaches an HTTP authorizer only when it is
  // listed in includeRequestHeadersInCheck.
  if (req.body && c.includeRequest(PARTIAL_BODY_HEADER))
    headers[PARTIAL_BODY_HEADER] = String(req.body.partial);

  const query = req.query ? (req.query.startsWith('?') ? req.query : `?${req.query}`) : '';
  const target = `${c.via ?? ''}${c.prefix}${req.path}${query}`;
  const timeoutMs = provider.timeoutMs > 0 ? provider.timeoutMs : 600_000;
  const signal = AbortSignal.timeout(timeoutMs);

  let res: Dispatcher.ResponseData;
  let body: string;
  try {
    res = await (options.dispatcher ?? extAuthzAgent()).request({
      origin: c.base,
      path: target,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      ...(req.body?.data.length ? { body: req.body.data } : {}),
      signal,
    });
    body = await res.body.text();
  } catch (err) {
    if (signal.aborted) return errorResult(provider, `did not answer within ${timeoutMs} ms`);
    const e = err as { code?: string; message?: string };
    return errorResult(provider, `could not be reached (${e.code ?? e.message ?? String(err)})`);
  }

  const responseHeaders = res.headers as Headers;
  if (res.statusCode === 200) {
    const up = c.toUpstreamOnAllow ? pairs(responseHeaders, c.toUpstreamOnAllow) : [];
    const down = c.toDownstreamOnAllow ? pairs(responseHeaders, c.toDownstreamOnAllow) : [];
    if (upstreamHeaders) {
      const grouped = new Map<string, string[]>();
      for (const [k, v] of up) grouped.set(k, [...(grouped.get(k) ?? []), v]);
      for (const [k, vs] of grouped) upstreamHeaders[k] = vs.length === 1 ? vs[0] : vs;
    }
    return {
      allowed: true,
      outcome: 'allowed',
      status: 200,
      body: '',
      upstreamHeaders: up,
      responseHeaders: down,
      reason: `allowed by ext_authz provider ${provider.name}`,
    };
  }
  return {
    allowed: false,
    outcome: 'denied',
    status: res.statusCode,
    body,
    upstreamHeaders: [],
    responseHeaders: pairs(responseHeaders, c.toDownstreamOnDeny ?? (() => true)),
    reason: `denied by ext_authz provider ${provider.name} with status ${res.statusCode}`,
  };
}
