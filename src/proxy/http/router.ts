// Routing tables compiled once per snapshot: a Host -> virtual host map (exact names first, then
// wildcard suffixes, then "*"), and per route a list of prebuilt matcher functions. Nothing here
// compiles or allocates per request beyond reading headers.
import type { IncomingHttpHeaders } from 'node:http';
import type { Route, RouteMatch, StringMatcher, VirtualHost } from '../../model/snapshot.js';

export interface RequestView {
  method: string;
  path: string; // path only, without the query
  authority: string; // lower-case Host, with port when given
  headers: IncomingHttpHeaders;
}

type Test = (v: string | undefined) => boolean;

export function compileStringMatcher(m: StringMatcher, ignoreCase = false): Test {
  if (m.exact !== undefined) {
    const want = ignoreCase ? m.exact.toLowerCase() : m.exact;
    return ignoreCase ? (v) => v !== undefined && v.toLowerCase() === want : (v) => v === want;
  }
  if (m.prefix !== undefined) {
    const want = ignoreCase ? m.prefix.toLowerCase() : m.prefix;
    return ignoreCase
      ? (v) => v !== undefined && v.toLowerCase().startsWith(want)
      : (v) => v !== undefined && v.startsWith(want);
  }
  if (m.regex !== undefined) {
    // Istio regexes are RE2 full matches; anchor them. Compiled here, once per snapshot.
    const re = new RegExp(`^(?:${m.regex})$`, ignoreCase ? 'i' : '');
    return (v) => v !== undefined && re.test(v);
  }
  return () => true;
}

function headerValue(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

export type CompiledMatch = (req: RequestView) => boolean;

export function compileMatch(m: RouteMatch): CompiledMatch {
  const tests: CompiledMatch[] = [];
  if (m.path) {
    const t = compileStringMatcher(m.path, m.ignoreCase);
    tests.push((r) => t(r.path));
  }
  if (m.method) {
    const t = compileStringMatcher(m.method);
    tests.push((r) => t(r.method));
  }
  if (m.authority) {
    const t = compileStringMatcher(m.authority);
    tests.push((r) => t(r.authority));
  }
  for (const h of m.headers ?? []) {
    const t = compileStringMatcher(h.match);
    tests.push((r) => t(headerValue(r.headers, h.name)));
  }
  return (r) => tests.every((t) => t(r));
}

export interface CompiledRoute {
  route: Route;
  matches: CompiledMatch[];
}

export interface CompiledVirtualHost {
  vhost: VirtualHost;
  routes: CompiledRoute[];
}

export class RouteTable {
  private readonly exact = new Map<string, CompiledVirtualHost>();
  private readonly suffixes: Array<[string, CompiledVirtualHost]> = [];
  private catchAll: CompiledVirtualHost | undefined;

  constructor(vhosts: VirtualHost[]) {
    for (const vh of vhosts) {
      const compiled: CompiledVirtualHost = {
        vhost: vh,
        routes: vh.routes.map((route) => ({ route, matches: route.matches.map(compileMatch) })),
      };
      for (const d of vh.domains) {
        if (d === '*') this.catchAll ??= compiled;
        else if (d.startsWith('*.')) this.suffixes.push([d.slice(1), compiled]);
        else if (!this.exact.has(d)) this.exact.set(d, compiled);
      }
    }
    // Longest wildcard suffix wins, as in Envoy.
    this.suffixes.sort((a, b) => b[0].length - a[0].length);
  }

  findHost(authority: string): CompiledVirtualHost | undefined {
    const hit = this.exact.get(authority);
    if (hit) return hit;
    const host = stripPort(authority);
    if (host !== authority) {
      const h = this.exact.get(host);
      if (h) return h;
    }
    for (const [suffix, vh] of this.suffixes) if (host.endsWith(suffix)) return vh;
    return this.catchAll;
  }

  static findRoute(vh: CompiledVirtualHost, req: RequestView): Route | undefined {
    for (const r of vh.routes) {
      if (r.matches.length === 0 || r.matches.some((m) => m(req))) return r.route;
    }
    return undefined;
  }
}

export function stripPort(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end > 0 ? authority.slice(0, end + 1) : authority;
  }
  const i = authority.lastIndexOf(':');
  return i >= 0 ? authority.slice(0, i) : authority;
}
