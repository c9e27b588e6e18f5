// The AuthorizationPolicy engine: Istio's semantics over the compiled policies of one workload.
//
// Everything is compiled once in the constructor (string patterns into sets and prefix/suffix lists,
// CIDRs into numbers or bigints, header names lower-cased, claim paths split, path templates into
// anchored regexes), for HTTP and for TCP separately, so a request only runs predicates. How a field
// compiles follows Istio's generator (pilot/pkg/security/authz/model): a value that cannot be used (an
// HTTP-only field on TCP, an invalid CIDR or port) makes an ALLOW rule never match, and is ignored by a
// DENY, AUDIT or CUSTOM rule (which then matches more, never less). A condition key Istio does not know
// makes Istio skip the rule whatever the action.
//
// Evaluation order is Istio's: CUSTOM (the request goes to the extension provider: customPolicy), then
// DENY, then ALLOW (checkLocal); AUDIT only records (audited). No policy at all allows.
import type {
  AuthzCondition,
  AuthzOperation,
  AuthzPolicy,
  AuthzRule,
  AuthzSource,
  ExtAuthzProvider,
} from '../../../model/security.js';
import {
  cidrContains,
  compileGlob,
  compilePathTemplate,
  compileStringList,
  containsPathTemplate,
  parseCidr,
  parseIp,
  type Cidr,
  type Ip,
} from './match.js';

/** What the engine needs to know about a request (HTTP) or a connection (TCP). */
export interface AuthzRequest {
  /** A TCP connection rather than an HTTP request: HTTP-only fields are treated as Istio does. */
  tcp: boolean;
  /** Verified peer identity without "spiffe://" ("cluster.local/ns/default/sa/sleep"); empty on plaintext. */
  principal?: string;
  /** The direct peer address (ipBlocks, source.ip). */
  sourceIp: string;
  /** The original client (remoteIpBlocks, remote.ip): from X-Forwarded-For, or the peer. */
  remoteIp: string;
  /**
   * Informational only: namespaces and source.namespace match the namespace in the peer's SPIFFE ID, as
   * Istio does, so a plaintext peer has no namespace.
   */
  sourceNamespace?: string;
  /** "iss/sub" of a validated JWT. */
  requestPrincipal?: string;
  /** The validated JWT's payload. */
  claims?: Record<string, unknown>;
  /** Override the JWT's "aud" claim for request.auth.audiences. */
  audiences?: string[];
  /** Override the JWT's "azp" claim for request.auth.presenter. */
  presenter?: string;
  host: string;
  method: string;
  /** Normalized path, without the query. */
  path: string;
  /** Request headers with lower-case names (Node's IncomingHttpHeaders). */
  headers: Record<string, string | string[] | undefined>;
  destinationIp: string;
  destinationPort: number;
  sni?: string;
}

export type AuthzAction = AuthzPolicy['action'];

export interface AuthzDecision {
  readonly allowed: boolean;
  /** Which action decided: DENY or ALLOW policies, CUSTOM (a provider that cannot be used), or NONE. */
  readonly action: 'DENY' | 'ALLOW' | 'CUSTOM' | 'NONE';
  /** The deciding policy ("ns/name"), when one did. */
  readonly policy?: string;
  readonly ruleIndex?: number;
  /** Why, in plain language (an allow builds it when first read). */
  readonly reason: string;
}

export interface CustomMatch {
  policy: AuthzPolicy;
  ruleIndex: number;
  provider: ExtAuthzProvider;
  reason: string;
}

export interface RuleTrace {
  policy: string;
  action: AuthzAction;
  /** -1 for a policy without rules. */
  ruleIndex: number;
  matched: boolean;
  detail: string;
}

export interface AuthzExplanation {
  request: AuthzRequest;
  /** The CUSTOM check the request would be sent to, if any. */
  custom?: { policy: string; ruleIndex: number; provider: string; reason: string };
  /** The local decision (CUSTOM providers that cannot be used, DENY, ALLOW). */
  decision: AuthzDecision;
  audit: string[];
  rules: RuleTrace[];
  /** Compile-time notes: skipped rules, ignored values. */
  warnings: string[];
}

/** Istio normalizes these top-level claims from space-delimited strings into lists (since 1.21). */
const SPACE_DELIMITED_CLAIMS = new Set(['scope', 'permission']);

// ---------------------------------------------------------------------------------------------------------
// The per-request view: derived values computed at most once, and only when a policy asks for them.

const NS_RE = /(?:^|\/)ns\/([^/]+)\//;

class View {
  private p?: string | null;
  private ns?: string | null;
  private src?: Ip | null;
  private remote?: Ip | null;
  private dst?: Ip | null;
  private hostL?: string;
  private is?: [string, string] | null;

  constructor(readonly r: AuthzRequest) {}

  principal(): string | undefined {
    if (this.p === undefined) {
      let p = this.r.principal ?? '';
      if (p.startsWith('spiffe://')) p = p.slice(9);
      this.p = p === '' ? null : p;
    }
    return this.p ?? undefined;
  }

  namespace(): string | undefined {
    if (this.ns === undefined) {
      const p = this.principal();
      this.ns = (p && NS_RE.exec(p)?.[1]) || null;
    }
    return this.ns ?? undefined;
  }

  sourceIp(): Ip | undefined {
    if (this.src === undefined) this.src = parseIp(this.r.sourceIp) ?? null;
    return this.src ?? undefined;
  }

  remoteIp(): Ip | undefined {
    if (this.remote === undefined) this.remote = parseIp(this.r.remoteIp || this.r.sourceIp) ?? null;
    return this.remote ?? undefined;
  }

  destIp(): Ip | undefined {
    if (this.dst === undefined) this.dst = parseIp(this.r.destinationIp) ?? null;
    return this.dst ?? undefined;
  }

  host(): string {
    return (this.hostL ??= this.r.host.toLowerCase());
  }

  /** A header's value; several values are joined with "," as Envoy's header matchers see them. */
  header(name: string): string | undefined {
    const h = this.r.headers[name];
    if (h === undefined) return undefined;
    return Array.isArray(h) ? h.join(',') : h;
  }

  /** [iss, sub] of the validated JWT, from its claims or else from "iss/sub". */
  issSub(): [string, string] | undefined {
    if (this.is === undefined) {
      const c = this.r.claims;
      if (c && typeof c.iss === 'string' && typeof c.sub === 'string') this.is = [c.iss, c.sub];
      else if (this.r.requestPrincipal) {
        const rp = this.r.requestPrincipal;
        const i = rp.lastIndexOf('/');
        this.is = i >= 0 ? [rp.slice(0, i), rp.slice(i + 1)] : [rp, ''];
      } else this.is = null;
    }
    return this.is ?? undefined;
  }

  claim(path: readonly string[]): unknown {
    let cur: unknown = this.r.claims;
    for (const key of path) {
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
      if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
      cur = (cur as Record<string, unknown>)[key];
    }
    return cur;
  }

  /** A claim as Istio's metadata list matcher reads it: a string, or the strings of a list. */
  claimValues(path: readonly string[]): string[] {
    const v = this.claim(path);
    if (typeof v === 'string') {
      if (path.length === 1 && SPACE_DELIMITED_CLAIMS.has(path[0]!)) return v.split(' ').filter((s) => s);
      return [v];
    }
    if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string');
    return [];
  }

  audiences(): string[] {
    return this.r.audiences ?? this.claimValues(['aud']);
  }

  presenter(): string[] {
    if (this.r.presenter !== undefined) return [this.r.presenter];
    return this.claimValues(['azp']);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Attribute kinds: how the values of one field or condition key compile, and how to show the request side.

type Pred = (v: View) => boolean;

interface Compiled {
  test?: Pred;
  kept: string[];
  errors: string[];
}

interface Kind {
  label: string;
  httpOnly: boolean;
  compile(values: readonly string[]): Compiled;
  actual(v: View): string;
  /** Extra words for an explanation of a failed match (explanations only, never on the request path). */
  hint?(v: View, values: readonly string[], negate: boolean): string | undefined;
}

function perValue(values: readonly string[], one: (s: string) => Pred | string): Compiled {
  const preds: Pred[] = [];
  const kept: string[] = [];
  const errors: string[] = [];
  for (const s of values) {
    const p = one(s);
    if (typeof p === 'string') errors.push(p);
    else {
      preds.push(p);
      kept.push(s);
    }
  }
  if (preds.length === 0) return { kept, errors };
  if (preds.length === 1) return { test: preds[0], kept, errors };
  return {
    test: (v) => {
      for (const p of preds) if (p(v)) return true;
      return false;
    },
    kept,
    errors,
  };
}

function stringKind(
  label: string,
  httpOnly: boolean,
  get: (v: View) => string | undefined,
  show: (v: View) => string,
  ignoreCase = false,
): Kind {
  return {
    label,
    httpOnly,
    compile(values) {
      const list = compileStringList(values, ignoreCase);
      return {
        test: (v) => {
          const s = get(v);
          return s !== undefined && list(s);
        },
        kept: [...values],
        errors: [],
      };
    },
    actual: show,
  };
}

/** Envoy's header matcher as Istio builds it: "*" is presence (even empty), otherwise a string match. */
function headerKind(label: string, get: (v: View) => string | undefined, show: (v: View) => string): Kind {
  return {
    label,
    httpOnly: true,
    compile(values) {
      const present = values.includes('*');
      const list = compileStringList(
        values.filter((s) => s !== '*'),
        false,
      );
      return {
        test: (v) => {
          const s = get(v);
          if (s === undefined) return false;
          return present || list(s);
        },
        kept: [...values],
        errors: [],
      };
    },
    actual: show,
  };
}

/** Matched against every string of a list attribute (claims, audiences): any element may match. */
function listKind(label: string, get: (v: View) => string[], show: (v: View) => string): Kind {
  return {
    label,
    httpOnly: true,
    compile(values) {
      const list = compileStringList(values);
      return {
        test: (v) => {
          for (const s of get(v)) if (list(s)) return true;
          return false;
        },
        kept: [...values],
        errors: [],
      };
    },
    actual: show,
  };
}

function ipKind(label: string, get: (v: View) => Ip | undefined, raw: (v: View) => string): Kind {
  return {
    label,
    httpOnly: false,
    compile(values) {
      const cidrs: Cidr[] = [];
      const kept: string[] = [];
      const errors: string[] = [];
      for (const s of values) {
        const c = parseCidr(s);
        if (typeof c === 'string') errors.push(c);
        else {
          cidrs.push(c);
          kept.push(s);
        }
      }
      if (cidrs.length === 0) return { kept, errors };
      return {
        test: (v) => {
          const ip = get(v);
          if (!ip) return false;
          for (const c of cidrs) if (cidrContains(c, ip)) return true;
          return false;
        },
        kept,
        errors,
      };
    },
    actual: (v) => raw(v) || '(none)',
  };
}

const portKind: Kind = {
  label: 'destination port',
  httpOnly: false,
  compile(values) {
    const ports = new Set<number>();
    const kept: string[] = [];
    const errors: string[] = [];
    for (const s of values) {
      const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
      if (!(n >= 0 && n <= 65535)) errors.push(`invalid port ${JSON.stringify(s)}`);
      else {
        ports.add(n);
        kept.push(s);
      }
    }
    if (ports.size === 0) return { kept, errors };
    return { test: (v) => ports.has(v.r.destinationPort), kept, errors };
  },
  actual: (v) => String(v.r.destinationPort),
};

const principalKind = stringKind(
  'peer principal',
  false,
  (v) => v.principal(),
  (v) => v.principal() ?? '(none: no mTLS peer identity)',
);

/** The authority of the peer's SPIFFE ID ("cluster.local" of "cluster.local/ns/default/sa/x"). */
const trustDomainKind = stringKind(
  'peer trust domain',
  false,
  (v) => {
    const p = v.principal();
    if (!p) return undefined;
    const slash = p.indexOf('/');
    return slash < 0 ? p : p.slice(0, slash);
  },
  (v) => v.principal()?.split('/')[0] ?? '(none: no mTLS peer identity)',
);

const namespaceKind: Kind = {
  label: 'peer namespace',
  httpOnly: false,
  compile(values) {
    return perValue(values, (s) => {
      if (!s.includes('*')) return (v) => v.namespace() === s;
      const re = compileGlob(s);
      return (v) => {
        const ns = v.namespace();
        return ns !== undefined && re.test(ns);
      };
    });
  },
  actual: (v) => v.namespace() ?? '(none: no mTLS peer identity)',
};

const MATCH_ANY = (s: string) => s.length > 0;

/** Istio's requestPrincipalGenerator: "iss/sub" split at the last "/", each side matched on its own. */
function compileRequestPrincipal(value: string): Pred {
  const idx = value.lastIndexOf('/');
  const found = idx >= 0;
  const iss = found ? value.slice(0, idx) : value;
  const sub = found ? value.slice(idx + 1) : '';
  let mi: (s: string) => boolean;
  let ms: (s: string) => boolean;
  const exact = (x: string) => (s: string) => s === x;
  if (value === '*') {
    mi = MATCH_ANY;
    ms = MATCH_ANY;
  } else if (value.startsWith('*')) {
    if (found) {
      const suffix = iss.slice(1);
      mi = iss === '*' ? MATCH_ANY : (s) => s.endsWith(suffix);
      ms = exact(sub);
    } else {
      const suffix = value.slice(1);
      mi = MATCH_ANY;
      ms = (s) => s.endsWith(suffix);
    }
  } else if (value.endsWith('*')) {
    if (found) {
      const prefix = sub.slice(0, -1);
      mi = exact(iss);
      ms = sub === '*' ? MATCH_ANY : (s) => s.startsWith(prefix);
    } else {
      const prefix = value.slice(0, -1);
      mi = (s) => s.startsWith(prefix);
      ms = MATCH_ANY;
    }
  } else {
    mi = exact(iss);
    ms = exact(sub);
  }
  return (v) => {
    const is = v.issSub();
    return is !== undefined && mi(is[0]) && ms(is[1]);
  };
}

const requestPrincipalKind: Kind = {
  label: 'request principal',
  httpOnly: true,
  compile: (values) => perValue(values, compileRequestPrincipal),
  actual: (v) => {
    const is = v.issSub();
    return is ? `${is[0]}/${is[1]}` : '(none: no validated JWT)';
  },
};

const hostKind: Kind = {
  ...stringKind(
    'host',
    true,
    (v) => v.host(),
    (v) => v.r.host,
    true,
  ),
  // Istio matches hosts against the whole authority, port included: say so when that is why.
  hint(v, values, negate) {
    const host = v.host();
    const colon = host.lastIndexOf(':');
    if (negate || colon < 0 || host.endsWith(']')) return undefined;
    const bare = host.slice(0, colon);
    if (!compileStringList(values, true)(bare)) return undefined;
    return `Istio compares the whole authority, port included; add "${bare}:*" to match any port`;
  },
};

const methodKind = headerKind(
  'method',
  (v) => v.r.method,
  (v) => v.r.method,
);

const pathKind: Kind = {
  label: 'path',
  httpOnly: true,
  compile(values) {
    const plain = values.filter((s) => !containsPathTemplate(s));
    const templates: RegExp[] = [];
    const kept = [...plain];
    const errors: string[] = [];
    for (const s of values) {
      if (!containsPathTemplate(s)) continue;
      const re = compilePathTemplate(s);
      if (typeof re === 'string') errors.push(re);
      else {
        templates.push(re);
        kept.push(s);
      }
    }
    if (plain.length === 0 && templates.length === 0) return { kept, errors };
    const list = plain.length ? compileStringList(plain) : undefined;
    return {
      test: (v) => {
        const p = v.r.path;
        if (list && list(p)) return true;
        for (const re of templates) if (re.test(p)) return true;
        return false;
      },
      kept,
      errors,
    };
  },
  actual: (v) => v.r.path,
};

function showHeader(name: string, get: (v: View) => string | undefined) {
  return (v: View) => {
    const h = get(v);
    return h === undefined ? `${name} (absent)` : `${name}=${JSON.stringify(h)}`;
  };
}

function requestHeaderKind(name: string): Kind {
  let get: (v: View) => string | undefined;
  if (name === ':authority' || name === 'host') get = (v) => v.r.host;
  else if (name === ':method') get = (v) => v.r.method;
  else if (name === ':path') get = (v) => v.r.path;
  else get = (v) => v.header(name);
  return headerKind('header', get, showHeader(name, get));
}

function claimKind(path: string[]): Kind {
  const name = path.map((p) => `[${p}]`).join('');
  return listKind(
    `claim ${name}`,
    (v) => v.claimValues(path),
    (v) => {
      const c = v.claim(path);
      return c === undefined ? '(absent)' : JSON.stringify(c);
    },
  );
}

const audiencesKind = listKind(
  'audiences',
  (v) => v.audiences(),
  (v) => JSON.stringify(v.audiences()),
);

const presenterKind = listKind(
  'presenter',
  (v) => v.presenter(),
  (v) => JSON.stringify(v.presenter()),
);

const sniKind = stringKind(
  'SNI',
  false,
  (v) => v.r.sni ?? '',
  (v) => v.r.sni || '(none)',
);

/** Always failing, with the same message for every value (Istio's generator errors). */
function brokenKind(label: string, httpOnly: boolean, error: string): Kind {
  return {
    label,
    httpOnly,
    compile: (values) => ({ kept: [], errors: values.map(() => error) }),
    actual: () => '(n/a)',
  };
}

/** experimental.envoy.filters.a.b[c]: Envoy dynamic metadata, which Weft does not have: always absent. */
function envoyFilterKind(key: string): Kind {
  const rest = key.slice('experimental.'.length);
  const open = rest.indexOf('[');
  if (!(rest.endsWith(']') && open > 0 && open < rest.length - 2)) {
    return brokenKind('Envoy metadata', false, `invalid key ${JSON.stringify(key)}`);
  }
  return {
    label: `Envoy metadata ${rest}`,
    httpOnly: false,
    compile: (values) => ({ test: () => false, kept: [...values], errors: [] }),
    actual: () => '(absent: Weft has no Envoy filter metadata)',
  };
}

/** "[a][b]" → ["a", "b"]; a name with brackets inside ("[a.b]") is one segment, as Istio parses it. */
function nestedBrackets(s: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] !== '[') return single(s);
    const end = s.indexOf(']', i + 1);
    const nextOpen = s.indexOf('[', i + 1);
    if (end < 0 || (nextOpen >= 0 && nextOpen < end)) return single(s);
    out.push(s.slice(i + 1, end));
    i = end + 1;
  }
  return out.length ? out : undefined;
}

function single(s: string): string[] | undefined {
  return s.startsWith('[') && s.endsWith(']') ? [s.slice(1, -1)] : undefined;
}

/** The kind for a `when` key, or undefined for a key Istio does not know (the rule is skipped). */
function conditionKind(key: string): Kind | undefined {
  switch (key) {
    case 'source.ip':
      return ipKind(
        'source ip',
        (v) => v.sourceIp(),
        (v) => v.r.sourceIp,
      );
    case 'remote.ip':
      return ipKind(
        'remote ip',
        (v) => v.remoteIp(),
        (v) => v.r.remoteIp || v.r.sourceIp,
      );
    case 'destination.ip':
      return ipKind(
        'destination ip',
        (v) => v.destIp(),
        (v) => v.r.destinationIp,
      );
    case 'destination.port':
      return portKind;
    case 'connection.sni':
      return sniKind;
    case 'source.namespace':
      return namespaceKind;
    case 'source.principal':
      return principalKind;
    case 'request.auth.principal':
      return requestPrincipalKind;
    case 'request.auth.audiences':
      return audiencesKind;
    case 'request.auth.presenter':
      return presenterKind;
  }
  if (key.startsWith('experimental.envoy.filters.')) return envoyFilterKind(key);
  if (key.startsWith('request.headers')) {
    const rest = key.slice('request.headers'.length);
    if (!(rest.startsWith('[') && rest.endsWith(']') && rest.length > 2)) {
      return brokenKind('header', true, `expecting format [<NAME>], found ${JSON.stringify(rest)}`);
    }
    return requestHeaderKind(rest.slice(1, -1).toLowerCase());
  }
  if (key.startsWith('request.auth.claims')) {
    const path = nestedBrackets(key.slice('request.auth.claims'.length));
    if (!path) return brokenKind('claim', true, `expecting format [<NAME>] in ${JSON.stringify(key)}`);
    return claimKind(path);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Compiled rules.

interface Check {
  /** The policy field as written: "paths", "notPrincipals", "when request.headers[X-Foo]". */
  field: string;
  label: string;
  values: readonly string[];
  negate: boolean;
  test: Pred;
  kind: Kind;
}

interface CompiledRule {
  index: number;
  /** Why the rule never matches (Istio skips it), or undefined. */
  skipped?: string;
  from: Check[][];
  to: Check[][];
  when: Check[];
  /** What Istio ignores in this rule (values it cannot use, HTTP-only fields of a DENY rule on TCP). */
  ignored: string[];
}

interface CompiledPolicy {
  source: AuthzPolicy;
  name: string;
  action: AuthzAction;
  http: CompiledRule[];
  tcp: CompiledRule[];
}

type Pair = [field: string, values: string[] | undefined, notField: string, notValues: string[] | undefined];

function sourcePairs(s: AuthzSource): Array<[Kind, Pair]> {
  return [
    [principalKind, ['principals', s.principals, 'notPrincipals', s.notPrincipals]],
    [
      requestPrincipalKind,
      ['requestPrincipals', s.requestPrincipals, 'notRequestPrincipals', s.notRequestPrincipals],
    ],
    [namespaceKind, ['namespaces', s.namespaces, 'notNamespaces', s.notNamespaces]],
    [trustDomainKind, ['trustDomains', s.trustDomains, 'notTrustDomains', s.notTrustDomains]],
    [conditionKind('source.ip')!, ['ipBlocks', s.ipBlocks, 'notIpBlocks', s.notIpBlocks]],
    [
      conditionKind('remote.ip')!,
      ['remoteIpBlocks', s.remoteIpBlocks, 'notRemoteIpBlocks', s.notRemoteIpBlocks],
    ],
  ];
}

function operationPairs(o: AuthzOperation): Array<[Kind, Pair]> {
  return [
    [hostKind, ['hosts', o.hosts, 'notHosts', o.notHosts]],
    [methodKind, ['methods', o.methods, 'notMethods', o.notMethods]],
    [pathKind, ['paths', o.paths, 'notPaths', o.notPaths]],
    [portKind, ['ports', o.ports, 'notPorts', o.notPorts]],
  ];
}

function compileRule(rule: AuthzRule, index: number, action: AuthzAction, forTcp: boolean): CompiledRule {
  const out: CompiledRule = { index, from: [], to: [], when: [], ignored: [] };
  const strict = action === 'ALLOW';

  const build = (kind: Kind, [field, values, notField, notValues]: Pair): Check[] => {
    const checks: Check[] = [];
    for (const [name, vals, negate] of [
      [field, values, false],
      [notField, notValues, true],
    ] as const) {
      if (!vals || vals.length === 0) continue;
      let compiled: Compiled;
      if (forTcp && kind.httpOnly) compiled = { kept: [], errors: [`"${name}" is HTTP only`] };
      else compiled = kind.compile(vals);
      if (compiled.errors.length) {
        if (strict) {
          out.skipped ??=
            forTcp && kind.httpOnly
              ? `it uses the HTTP-only field ${name}, and Istio ignores such ALLOW rules on TCP traffic`
              : `${name}: ${compiled.errors[0]}`;
          continue;
        }
        out.ignored.push(
          forTcp && kind.httpOnly
            ? `${name} (HTTP-only, ignored on TCP)`
            : `${name}: ${compiled.errors.join('; ')} (ignored)`,
        );
      }
      if (compiled.test && compiled.kept.length) {
        checks.push({
          field: name,
          label: kind.label,
          values: compiled.kept,
          negate,
          test: compiled.test,
          kind,
        });
      }
    }
    return checks;
  };

  for (const c of rule.when ?? []) {
    const kind = conditionKind(c.key);
    if (!kind) {
      // model.New fails on an unknown attribute: Istio skips the rule for every action.
      out.skipped = `unknown condition key ${JSON.stringify(c.key)}`;
      return out;
    }
    out.when.push(...build(kind, whenPair(c)));
  }
  for (const s of rule.from ?? []) {
    const clause: Check[] = [];
    for (const [kind, pair] of sourcePairs(s)) clause.push(...build(kind, pair));
    out.from.push(clause);
  }
  for (const o of rule.to ?? []) {
    const clause: Check[] = [];
    for (const [kind, pair] of operationPairs(o)) clause.push(...build(kind, pair));
    out.to.push(clause);
  }
  return out;
}

function whenPair(c: AuthzCondition): Pair {
  return [`when ${c.key}`, c.values, `when ${c.key} notValues`, c.notValues];
}

function holds(c: Check, v: View): boolean {
  return c.test(v) !== c.negate;
}

function clauseHolds(clause: Check[], v: View): boolean {
  for (const c of clause) if (!holds(c, v)) return false;
  return true;
}

function anyClause(clauses: Check[][], v: View): Check[] | undefined {
  for (const cl of clauses) if (clauseHolds(cl, v)) return cl;
  return undefined;
}

function ruleMatches(r: CompiledRule, v: View): boolean {
  if (r.skipped !== undefined) return false;
  // All three must hold; the usually most selective and cheapest (who is calling) is checked first.
  if (r.from.length && !anyClause(r.from, v)) return false;
  if (r.to.length && !anyClause(r.to, v)) return false;
  for (const c of r.when) if (!holds(c, v)) return false;
  return true;
}

function list(values: readonly string[]): string {
  return `[${values.join(', ')}]`;
}

function describeHeld(c: Check, v: View): string {
  const verb = c.negate ? 'does not match' : 'matches';
  return `${c.label} ${c.kind.actual(v)} ${verb} ${c.field} ${list(c.values)}`;
}

function describeFailed(c: Check, v: View): string {
  const verb = c.negate ? 'matches' : 'does not match';
  const hint = c.kind.hint?.(v, c.values, c.negate);
  return `${c.label} ${c.kind.actual(v)} ${verb} ${c.field} ${list(c.values)}${hint ? ` (${hint})` : ''}`;
}

/** Why a matching rule matched: every condition of the first matching source and operation. */
function describeMatch(r: CompiledRule, v: View): string {
  const parts: string[] = [];
  const from = r.from.length ? anyClause(r.from, v) : undefined;
  const to = r.to.length ? anyClause(r.to, v) : undefined;
  for (const c of from ?? []) parts.push(describeHeld(c, v));
  for (const c of to ?? []) parts.push(describeHeld(c, v));
  for (const c of r.when) parts.push(describeHeld(c, v));
  const what = v.r.tcp ? 'connection' : 'request';
  if (parts.length === 0) {
    if (!r.ignored.length) return `the rule has no conditions, so it matches every ${what}`;
    return `nothing is left to check once Istio ignores ${r.ignored.join('; ')}, so it matches every ${what}`;
  }
  const text = parts.join(', ');
  return r.ignored.length ? `${text} (Istio ignores: ${r.ignored.join('; ')})` : text;
}

/** Why a rule did not match: the first condition that failed. */
function describeMiss(r: CompiledRule, v: View): string {
  if (r.skipped !== undefined) return `never matches: ${r.skipped}`;
  for (const c of r.when) if (!holds(c, v)) return describeFailed(c, v);
  const clauses = (name: string, cls: Check[][]): string => {
    const each = cls.map((cl, i) => {
      const failed = cl.find((c) => !holds(c, v));
      return `${name}[${i}]: ${failed ? describeFailed(failed, v) : 'matches'}`;
    });
    return each.join('; ');
  };
  if (r.from.length && !anyClause(r.from, v)) return clauses('from', r.from);
  if (r.to.length && !anyClause(r.to, v)) return clauses('to', r.to);
  return 'matches';
}

// ---------------------------------------------------------------------------------------------------------

/**
 * A decision whose reason is built when first read; a denial builds it at once, so what is logged describes
 * the request as it was decided even if later filters edit its headers.
 */
class Decision implements AuthzDecision {
  private text?: string;
  constructor(
    readonly allowed: boolean,
    readonly action: AuthzDecision['action'],
    readonly policy: string | undefined,
    readonly ruleIndex: number | undefined,
    private readonly explain: () => string,
  ) {
    if (!allowed) this.text = explain();
  }

  get reason(): string {
    return (this.text ??= this.explain());
  }

  toJSON(): object {
    return {
      allowed: this.allowed,
      action: this.action,
      policy: this.policy,
      ruleIndex: this.ruleIndex,
      reason: this.reason,
    };
  }
}

function protocolNote(req: AuthzRequest): string {
  return req.tcp ? ' (TCP connection)' : '';
}

export class AuthzEngine {
  private readonly custom: CompiledPolicy[] = [];
  private readonly deny: CompiledPolicy[] = [];
  private readonly allow: CompiledPolicy[] = [];
  private readonly audit: CompiledPolicy[] = [];
  private readonly providers = new Map<string, ExtAuthzProvider>();
  /** Set when CUSTOM policies name a provider that cannot be used: requests they match are denied. */
  private readonly customProblem?: string;
  private readonly allowNames: string;
  /** Compile-time notes for `weft authz check`: skipped rules and ignored values (HTTP view). */
  readonly warnings: string[] = [];

  constructor(policies: readonly AuthzPolicy[], providers: readonly ExtAuthzProvider[] = []) {
    for (const p of providers) this.providers.set(p.name, p);
    for (const p of policies) {
      const rules = p.rules ?? [];
      const compiled: CompiledPolicy = {
        source: p,
        name: p.name,
        action: p.action,
        http: rules.map((r, i) => compileRule(r, i, p.action, false)),
        tcp: rules.map((r, i) => compileRule(r, i, p.action, true)),
      };
      for (const r of compiled.http) {
        if (r.skipped !== undefined)
          this.warnings.push(`${p.action} ${p.name} rule ${r.index} never matches: ${r.skipped}`);
        for (const note of r.ignored) this.warnings.push(`${p.action} ${p.name} rule ${r.index}: ${note}`);
      }
      if (rules.length === 0 && p.action !== 'ALLOW') {
        this.warnings.push(`${p.action} ${p.name} has no rules and matches nothing`);
      }
      ({ CUSTOM: this.custom, DENY: this.deny, ALLOW: this.allow, AUDIT: this.audit })[p.action].push(
        compiled,
      );
    }
    this.allowNames = this.allow.map((p) => p.name).join(', ');
    // Istio's builder: one extension provider per workload, and it must exist; otherwise the requests the
    // CUSTOM policies match are denied (getBadCustomDenyRules).
    const names = [...new Set(this.custom.map((p) => p.source.provider ?? ''))];
    if (names.length > 1) {
      this.customProblem = `CUSTOM policies use ${names.length} different providers (${names.join(', ')}); Istio allows one per workload`;
    } else if (names.length === 1 && !this.providers.has(names[0]!)) {
      this.customProblem = `extension provider ${JSON.stringify(names[0])} is not defined`;
    }
    if (this.customProblem)
      this.warnings.push(`${this.customProblem}: requests matching CUSTOM policies are denied`);
  }

  /** No policy applies: every request is allowed without evaluation. */
  get empty(): boolean {
    return !this.custom.length && !this.deny.length && !this.allow.length && !this.audit.length;
  }

  /**
   * The CUSTOM rule that sends this request to its extension provider, or undefined. HTTP providers do not
   * apply to TCP connections (Istio ignores the CUSTOM action with an HTTP provider on TCP filter chains).
   * A provider that cannot be used is not returned here: checkLocal denies those requests.
   */
  customPolicy(req: AuthzRequest): CustomMatch | undefined {
    if (!this.custom.length || this.customProblem || req.tcp) return undefined;
    const v = new View(req);
    const hit = this.firstMatch(this.custom, v);
    if (!hit) return undefined;
    const [p, r] = hit;
    const provider = this.providers.get(p.source.provider ?? '')!;
    return {
      policy: p.source,
      ruleIndex: r.index,
      provider,
      reason: `CUSTOM policy ${p.name} rule ${r.index} sends the request to provider ${provider.name}: ${describeMatch(r, v)}`,
    };
  }

  /**
   * The local decision, in Istio's order: CUSTOM policies whose provider cannot be used deny what they match,
   * then any matching DENY rule denies, then if any ALLOW policy applies the request must match one of its
   * rules. Call after the CUSTOM check (customPolicy + checkExternal) allowed the request.
   */
  checkLocal(req: AuthzRequest): AuthzDecision {
    return this.decide(new View(req));
  }

  /** The AUDIT policies with a rule matching the request (Istio only records these). */
  audited(req: AuthzRequest): string[] {
    if (!this.audit.length) return [];
    const v = new View(req);
    const out: string[] = [];
    for (const p of this.audit) {
      for (const r of req.tcp ? p.tcp : p.http) {
        if (ruleMatches(r, v)) {
          out.push(p.name);
          break;
        }
      }
    }
    return out;
  }

  /** Everything about one request, rule by rule, for `weft authz check`. */
  explain(req: AuthzRequest): AuthzExplanation {
    const v = new View(req);
    const rules: RuleTrace[] = [];
    for (const group of [this.custom, this.deny, this.allow, this.audit]) {
      for (const p of group) {
        const compiled = req.tcp ? p.tcp : p.http;
        if (compiled.length === 0) {
          rules.push({
            policy: p.name,
            action: p.action,
            ruleIndex: -1,
            matched: false,
            detail:
              p.action === 'ALLOW'
                ? 'the policy has no rules: it matches nothing, so it denies every request'
                : 'the policy has no rules and matches nothing',
          });
        }
        for (const r of compiled) {
          const matched = ruleMatches(r, v);
          rules.push({
            policy: p.name,
            action: p.action,
            ruleIndex: r.index,
            matched,
            detail: matched ? describeMatch(r, v) : describeMiss(r, v),
          });
        }
      }
    }
    const c = this.customPolicy(req);
    return {
      request: req,
      custom: c && {
        policy: c.policy.name,
        ruleIndex: c.ruleIndex,
        provider: c.provider.name,
        reason: c.reason,
      },
      decision: this.decide(v),
      audit: this.audited(req),
      rules,
      warnings: [...this.warnings],
    };
  }

  private firstMatch(group: CompiledPolicy[], v: View): [CompiledPolicy, CompiledRule] | undefined {
    const tcp = v.r.tcp;
    for (const p of group) {
      for (const r of tcp ? p.tcp : p.http) if (ruleMatches(r, v)) return [p, r];
    }
    return undefined;
  }

  private decide(v: View): AuthzDecision {
    const req = v.r;
    if (this.customProblem) {
      const hit = this.firstMatch(this.custom, v);
      if (hit) {
        const [p, r] = hit;
        const problem = this.customProblem;
        return new Decision(
          false,
          'CUSTOM',
          p.name,
          r.index,
          () => `denied by CUSTOM policy ${p.name} rule ${r.index}: ${problem}; ${describeMatch(r, v)}`,
        );
      }
    }
    const denied = this.firstMatch(this.deny, v);
    if (denied) {
      const [p, r] = denied;
      return new Decision(
        false,
        'DENY',
        p.name,
        r.index,
        () => `denied by DENY policy ${p.name} rule ${r.index}${protocolNote(req)}: ${describeMatch(r, v)}`,
      );
    }
    if (!this.allow.length) {
      const some = this.deny.length || this.custom.length || this.audit.length;
      return new Decision(true, 'NONE', undefined, undefined, () =>
        some
          ? 'allowed: no DENY policy matched and no ALLOW policy applies to the workload'
          : 'allowed: no authorization policy applies to the workload',
      );
    }
    const allowed = this.firstMatch(this.allow, v);
    if (allowed) {
      const [p, r] = allowed;
      return new Decision(
        true,
        'ALLOW',
        p.name,
        r.index,
        () => `allowed by ALLOW policy ${p.name} rule ${r.index}${protocolNote(req)}: ${describeMatch(r, v)}`,
      );
    }
    return new Decision(false, 'ALLOW', undefined, undefined, () => {
      let text = `no ALLOW policy matched (policies: ${this.allowNames})${protocolNote(req)}`;
      const skipped: string[] = [];
      for (const p of this.allow) {
        if ((req.tcp ? p.tcp : p.http).length === 0) skipped.push(`${p.name} has no rules`);
        for (const r of req.tcp ? p.tcp : p.http) {
          if (r.skipped !== undefined) skipped.push(`${p.name} rule ${r.index} never matches: ${r.skipped}`);
        }
      }
      if (skipped.length) text += `; ${skipped.join('; ')}`;
      return text;
    });
  }
}
