// Istio's Telemetry `accessLogging[].filter.expression`: a CEL expression over Envoy's attributes,
// compiled once per snapshot into a closure tree. Weft understands the subset access-log filters use:
// `&&`, `||`, `!`, `c ? a : b`, parentheses, `==`, `!=`, `<`, `<=`, `>`, `>=`, integer, string and
// boolean literals, the attributes below, `request.headers['x']` / `response.headers['x']`, `string(x)`
// and the string methods `startsWith`, `endsWith`, `contains`. Anything else is a config error, never a
// silent pass. The same compiler gives Telemetry metrics their label values (`compileValue`).
//
// As in CEL, a missing header or unknown value is an error value: comparisons with it are errors,
// `false && error` is false, `true || error` is true, and an expression that ends as an error does not
// log (Envoy's CEL filter treats evaluation errors as "no").
import type { RequestRecord } from '../events.js';
import * as v from './values.js';

export class FilterError extends Error {}
/** An attribute Weft does not have (`upstream_peer.…`, `node.metadata`, a misspelling). */
export class UnknownAttributeError extends FilterError {}

const ERR = Symbol('cel-error');
type Val = string | number | boolean | typeof ERR;
type Node = (r: RequestRecord) => Val;

const str = (x: string | undefined): Val => (x === undefined ? ERR : x);
const int = (x: number | undefined): Val => (x === undefined ? ERR : x);

/** Attributes (Envoy's names) -> value. `response.flags` compares as a bit vector with integers (as in
 *  Envoy) and as Envoy's short string (`'-'`, `'UF'`, `'UF,URX'`) with strings: see `compare`. */
const ATTRIBUTES: Record<string, Node> = {
  'request.method': (r) => r.method,
  'request.path': (r) => r.path,
  'request.url_path': (r) => {
    const q = r.path.indexOf('?');
    return q < 0 ? r.path : r.path.slice(0, q);
  },
  'request.query': (r) => {
    const q = r.path.indexOf('?');
    return q < 0 ? '' : r.path.slice(q + 1);
  },
  'request.host': (r) => str(v.pseudoHeader(r, ':authority')),
  'request.scheme': (r) => str(v.pseudoHeader(r, ':scheme')),
  'request.protocol': (r) => str(v.protocol(r)),
  'request.id': (r) => str(v.requestHeader(r, 'x-request-id')),
  'request.useragent': (r) => str(v.requestHeader(r, 'user-agent')),
  'request.referer': (r) => str(v.requestHeader(r, 'referer')),
  'request.size': (r) => r.requestBytes,
  'request.total_size': (r) => r.requestBytes,
  'request.duration': (r) => r.durationMs,
  'response.code': (r) => r.status,
  'response.code_details': (r) => str(v.responseCodeDetails(r)),
  'response.grpc_status': (r) => int(r.grpcStatus),
  'response.size': (r) => r.responseBytes,
  'response.total_size': (r) => r.responseBytes,
  'source.address': (r) => str(v.downstreamRemote(r)),
  'source.port': (r) => int(v.downstreamRemotePort(r)),
  'destination.address': (r) => str(v.downstreamLocal(r)),
  'destination.port': (r) => int(v.downstreamLocalPort(r)),
  'connection.requested_server_name': (r) => str(v.requestedServerName(r)),
  'connection.tls_version': (r) => str(v.downstreamTlsVersion(r)),
  'connection.mtls': (r) => r.peerIdentity !== undefined && r.peerIdentity !== '',
  'connection.uri_san_peer_certificate': (r) => str(v.downstreamPeerUriSan(r)),
  'upstream.address': (r) => str(r.upstreamHost),
  'xds.cluster_name': (r) => str(v.upstreamCluster(r)),
  'xds.route_name': (r) => str(v.routeName(r)),
};
const FLAGS = 'response.flags';
/** Attributes Envoy's CEL has no value for on a TCP stream (no request headers, no response code):
 *  an error value there, so `response.code >= 400` does not log TCP streams, as in Envoy. */
const HTTP_ONLY = (path: string) =>
  path.includes('headers[') ||
  (path.startsWith('request.') && !/^request\.(size|total_size|duration)$/.test(path)) ||
  path === 'response.code' ||
  path === 'response.code_details' ||
  path === 'response.grpc_status';
const httpOnly =
  (n: Node): Node =>
  (r) =>
    r.tcp ? ERR : n(r);
const NUMERIC = new Set([
  'request.size',
  'request.total_size',
  'request.duration',
  'response.code',
  'response.grpc_status',
  'response.size',
  'response.total_size',
  'source.port',
  'destination.port',
]);
type Kind = 'number' | 'string' | 'boolean' | 'any';
const kindOf = (attr: string): Kind =>
  attr === FLAGS ? 'any' : NUMERIC.has(attr) ? 'number' : attr === 'connection.mtls' ? 'boolean' : 'string';

// ---- Lexer -------------------------------------------------------------------------------------------

type Tok =
  | { k: 'num'; v: number; at: number }
  | { k: 'str'; v: string; at: number }
  | { k: 'id'; v: string; at: number }
  | { k: 'op'; v: string; at: number };

const OPS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '(', ')', '[', ']', '.', ',', '?', ':'];

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      let s = '';
      let j = i + 1;
      for (; j < src.length && src[j] !== c; j++) {
        if (src[j] === '\\' && j + 1 < src.length) {
          j++;
          const e = src[j]!;
          s += e === 'n' ? '\n' : e === 't' ? '\t' : e;
        } else s += src[j];
      }
      if (j >= src.length) throw new FilterError(`unterminated string starting at position ${i}`);
      out.push({ k: 'str', v: s, at: i });
      i = j + 1;
      continue;
    }
    const num = /^-?\d+u?/.exec(src.slice(i));
    if (num && (c !== '-' || out.length === 0 || out[out.length - 1]!.k === 'op')) {
      out.push({ k: 'num', v: parseInt(num[0], 10), at: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      out.push({ k: 'id', v: id[0], at: i });
      i += id[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new FilterError(`unexpected ${JSON.stringify(c)} at position ${i}`);
    out.push({ k: 'op', v: op, at: i });
    i += op.length;
  }
  return out;
}

// ---- Parser ------------------------------------------------------------------------------------------

/** What a primary expression parsed to: a value node, maybe with the attribute name it reads. */
interface Operand {
  node: Node;
  attr?: string;
  literal?: Val;
  kind?: Kind;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  parse(): Node {
    if (this.toks.length === 0) throw new FilterError('the expression is empty');
    const n = this.conditional();
    const t = this.toks[this.i];
    if (t) throw new FilterError(`unexpected ${JSON.stringify(this.text(t))} at position ${t.at}`);
    return n;
  }

  private text(t: Tok): string {
    return t.k === 'str' ? `'${t.v}'` : String(t.v);
  }

  private peek(op: string): boolean {
    const t = this.toks[this.i];
    return t !== undefined && t.k === 'op' && t.v === op;
  }

  private expect(op: string): void {
    if (!this.peek(op)) {
      const t = this.toks[this.i];
      throw new FilterError(
        t
          ? `expected ${op} at position ${t.at}, found ${JSON.stringify(this.text(t))}`
          : `expected ${op} at the end`,
      );
    }
    this.i++;
  }

  /** CEL's `c ? a : b`: an error or non-boolean condition is an error. */
  private conditional(): Node {
    const c = this.or();
    if (!this.peek('?')) return c;
    this.i++;
    const a = this.conditional();
    this.expect(':');
    const b = this.conditional();
    return (r) => {
      const x = c(r);
      return x === true ? a(r) : x === false ? b(r) : ERR;
    };
  }

  private or(): Node {
    let l = this.and();
    while (this.peek('||')) {
      this.i++;
      const a = l;
      const b = this.and();
      l = (r) => {
        const x = a(r);
        if (x === true) return true;
        const y = b(r);
        if (y === true) return true;
        return x === ERR || y === ERR ? ERR : false;
      };
    }
    return l;
  }

  private and(): Node {
    let l = this.unary();
    while (this.peek('&&')) {
      this.i++;
      const a = l;
      const b = this.unary();
      l = (r) => {
        const x = a(r);
        if (x === false) return false;
        const y = b(r);
        if (y === false) return false;
        return x === ERR || y === ERR ? ERR : true;
      };
    }
    return l;
  }

  private unary(): Node {
    if (this.peek('!')) {
      this.i++;
      const inner = this.unary();
      return (r) => {
        const x = inner(r);
        return x === ERR ? ERR : typeof x === 'boolean' ? !x : ERR;
      };
    }
    return this.comparison();
  }

  private comparison(): Node {
    const left = this.operand();
    const t = this.toks[this.i];
    if (t?.k === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      this.i++;
      const right = this.operand();
      return compare(t.v, left, right);
    }
    return left.node;
  }

  private operand(): Operand {
    const t = this.toks[this.i];
    if (!t) throw new FilterError('the expression ends too early');
    if (t.k === 'op' && t.v === '(') {
      this.i++;
      const n = this.conditional();
      this.expect(')');
      return { node: n };
    }
    if (
      t.k === 'id' &&
      t.v === 'string' &&
      this.toks[this.i + 1]?.k === 'op' &&
      this.toks[this.i + 1]!.v === '('
    ) {
      // CEL's string(x): tag values such as string(destination.port).
      this.i += 2;
      const inner = this.conditional();
      this.expect(')');
      return { node: (r) => toText(inner(r)), kind: 'string' };
    }
    this.i++;
    if (t.k === 'num' || t.k === 'str') {
      const lit = t.v;
      return { node: () => lit, literal: lit, kind: typeof lit === 'number' ? 'number' : 'string' };
    }
    if (t.k === 'op') throw new FilterError(`unexpected ${t.v} at position ${t.at}`);
    if (t.v === 'true' || t.v === 'false') {
      const b = t.v === 'true';
      return { node: () => b, literal: b, kind: 'boolean' };
    }
    // An attribute path: a.b.c, then headers['x'], then an optional string method call.
    let path = t.v;
    while (this.peek('.') && this.toks[this.i + 1]?.k === 'id' && !this.isCall(this.i + 1)) {
      path += '.' + this.toks[this.i + 1]!.v;
      this.i += 2;
    }
    let node: Node;
    if (path === 'request.headers' || path === 'response.headers') {
      this.expect('[');
      const key = this.toks[this.i];
      if (key?.k !== 'str')
        throw new FilterError(`${path}[...] takes a quoted header name, e.g. ${path}['x-user']`);
      this.i++;
      this.expect(']');
      const h = key.v.toLowerCase();
      node =
        path === 'request.headers'
          ? h.startsWith(':')
            ? (r) => str(v.pseudoHeader(r, h))
            : (r) => str(v.requestHeader(r, h))
          : (r) => str(v.responseHeader(r, h));
      path = `${path}['${h}']`;
    } else if (path === FLAGS) {
      node = (r) => v.responseFlags(r);
    } else {
      const a = ATTRIBUTES[path];
      if (!a) {
        const near = nearest(path, [...Object.keys(ATTRIBUTES), FLAGS]);
        throw new UnknownAttributeError(
          `unknown attribute ${path} at position ${t.at}${near ? ` (did you mean ${near}?)` : ''} (Weft knows ${[...Object.keys(ATTRIBUTES), FLAGS, "request.headers['x']", "response.headers['x']"].join(', ')})`,
        );
      }
      node = a;
    }
    if (HTTP_ONLY(path)) node = httpOnly(node);
    if (this.peek('.')) return { node: this.call(node, path), kind: 'boolean' };
    return { node, attr: path, kind: path.includes('headers[') ? 'string' : kindOf(path) };
  }

  private isCall(i: number): boolean {
    const next = this.toks[i + 1];
    return next?.k === 'op' && next.v === '(';
  }

  private call(target: Node, path: string): Node {
    this.expect('.');
    const m = this.toks[this.i];
    if (m?.k !== 'id') throw new FilterError(`expected a method name after ${path}.`);
    this.i++;
    this.expect('(');
    const arg = this.toks[this.i];
    if (arg?.k !== 'str') throw new FilterError(`${path}.${m.v}(...) takes one string literal`);
    this.i++;
    this.expect(')');
    const s = arg.v;
    const test =
      m.v === 'startsWith'
        ? (x: string) => x.startsWith(s)
        : m.v === 'endsWith'
          ? (x: string) => x.endsWith(s)
          : m.v === 'contains'
            ? (x: string) => x.includes(s)
            : undefined;
    if (!test)
      throw new FilterError(`unsupported function ${m.v} (Weft supports startsWith, endsWith, contains)`);
    return (r) => {
      const x = target(r);
      return typeof x === 'string' ? test(x) : ERR;
    };
  }
}

/** The known name within two edits of a misspelt one, if any (config errors only). */
function nearest(name: string, known: string[]): string | undefined {
  const dist = (a: string, b: string) => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++)
        cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
    return prev[b.length]!;
  };
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = dist(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function compare(op: string, l: Operand, r: Operand): Node {
  // response.flags against an integer: Envoy's bit vector.
  const flagsBits = (o: Operand, other: Operand): Operand =>
    o.attr === FLAGS && typeof other.literal === 'number' ? { node: (rec) => v.responseFlagBits(rec) } : o;
  const a = flagsBits(l, r).node;
  const b = flagsBits(r, l).node;
  const lk = l.kind ?? 'any';
  const rk = r.kind ?? 'any';
  if (lk !== 'any' && rk !== 'any' && lk !== rk) throw new FilterError(`cannot compare ${lk} with ${rk}`);
  const cmp = (x: Val, y: Val): Val => {
    if (x === ERR || y === ERR || typeof x !== typeof y) return ERR;
    switch (op) {
      case '==':
        return x === y;
      case '!=':
        return x !== y;
      case '<':
        return x < y;
      case '<=':
        return x <= y;
      case '>':
        return x > y;
      default:
        return x >= y;
    }
  };
  return (rec) => cmp(a(rec), b(rec));
}

/** CEL's string(): an error stays an error. */
function toText(x: Val): Val {
  return x === ERR ? ERR : String(x);
}

/** Istio's value for a metric label whose expression fails at request time (a missing header, say). */
export const UNKNOWN_VALUE = 'unknown';

/** Telemetry metrics `tagOverrides[].value`: the expression's value as label text (numbers and booleans
 *  as CEL's string() writes them), or "unknown" when it is an error value, as Istio's stats filter does. */
export function compileValue(expression: string): (r: RequestRecord) => string {
  let node: Node;
  try {
    node = new Parser(lex(expression)).parse();
  } catch (e) {
    // Istio applies a tag value whatever attribute it names and exports "unknown" for one Envoy cannot
    // resolve, so Istio YAML naming an attribute Weft lacks still loads (`weft analyze` warns about it).
    if (e instanceof UnknownAttributeError) return () => UNKNOWN_VALUE;
    if (e instanceof FilterError) throw new FilterError(`value ${JSON.stringify(expression)}: ${e.message}`);
    throw e;
  }
  return (r) => {
    const x = node(r);
    return x === ERR ? UNKNOWN_VALUE : typeof x === 'string' ? x : String(x);
  };
}

/** The text of an expression that is one string or integer literal (a label the same for every
 *  request), else undefined. */
export function constantValue(expression: string): string | undefined {
  try {
    const t = lex(expression);
    return t.length === 1 && (t[0]!.k === 'str' || t[0]!.k === 'num') ? String(t[0]!.v) : undefined;
  } catch {
    return undefined;
  }
}

/** Config validation of a value expression: the problem (a syntax error), or undefined. */
export function valueProblem(expression: string): string | undefined {
  try {
    compileValue(expression);
    return undefined;
  } catch (e) {
    if (e instanceof FilterError) return e.message;
    throw e;
  }
}

/** For `weft analyze`: why a value expression that loads is "unknown" for every request, or undefined. */
export function valueWarning(expression: string): string | undefined {
  try {
    new Parser(lex(expression)).parse();
    return undefined;
  } catch (e) {
    if (e instanceof UnknownAttributeError) return e.message;
    return undefined;
  }
}

/** Compiles a filter expression: a predicate, true when the request is to be logged. */
export function compileFilter(expression: string): (r: RequestRecord) => boolean {
  let node: Node;
  try {
    node = new Parser(lex(expression)).parse();
  } catch (e) {
    if (e instanceof FilterError) throw new FilterError(`filter ${JSON.stringify(expression)}: ${e.message}`);
    throw e;
  }
  return (r) => node(r) === true;
}

/** Config validation: the problem with an expression, or undefined. */
export function filterProblem(expression: string): string | undefined {
  try {
    compileFilter(expression);
    return undefined;
  } catch (e) {
    if (e instanceof FilterError) return e.message;
    throw e;
  }
}
