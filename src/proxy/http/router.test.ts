// The route table: which virtual host a Host picks (exact, then host without port, then longest
// wildcard suffix, then "*"), and which route of it a request picks (first match wins, Istio semantics).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { Route, RouteMatch, StringMatcher, VirtualHost } from '../../model/snapshot.js';
import {
  compileMatch,
  compileRoute,
  compileStringMatcher,
  RouteTable,
  stripPort,
  type RequestView,
} from './router.js';
import { compileIstioRegex } from '../../config/regex.js';

function route(name: string, matches: RouteMatch[] = []): Route {
  return { name, matches, action: { kind: 'direct', status: 200, body: name } };
}

function vh(name: string, domains: string[], routes: Route[] = [route(name)]): VirtualHost {
  return { name, domains, routes };
}

function req(path: string, over: Partial<RequestView> & { headers?: IncomingHttpHeaders } = {}): RequestView {
  return { method: 'GET', path, query: '', scheme: 'http', authority: 'svc', headers: {}, ...over };
}

/** The name of the virtual host the table picks for an authority, or undefined. */
function hostOf(table: RouteTable, authority: string): string | undefined {
  return table.findHost(authority)?.vhost.name;
}

/** The name of the route a single-virtual-host table picks for a request. */
function routeOf(routes: Route[], r: RequestView): string | undefined {
  const table = new RouteTable([vh('vh', ['svc'], routes)]);
  const host = table.findHost('svc');
  assert.ok(host);
  return RouteTable.findRoute(host, r)?.route.name;
}

function matches(m: StringMatcher, v: string | undefined, ignoreCase = false): boolean {
  return compileStringMatcher(m, ignoreCase)(v);
}

// ---- stripPort -----------------------------------------------------------------------------------------

test('stripPort: drops a port from names, IPv4 and bracketed IPv6 addresses', () => {
  assert.equal(stripPort('reviews'), 'reviews');
  assert.equal(stripPort('reviews:9080'), 'reviews');
  assert.equal(stripPort('reviews.default.svc.cluster.local:9080'), 'reviews.default.svc.cluster.local');
  assert.equal(stripPort('127.0.0.1:8080'), '127.0.0.1');
  assert.equal(stripPort('[::1]:8080'), '[::1]');
  assert.equal(stripPort('[::1]'), '[::1]');
  assert.equal(stripPort('[fe80::1%25eth0]:80'), '[fe80::1%25eth0]');
});

// ---- string matchers -----------------------------------------------------------------------------------

test('exact, prefix and regex matchers; a missing value never matches', () => {
  assert.equal(matches({ exact: '/a' }, '/a'), true);
  assert.equal(matches({ exact: '/a' }, '/a/'), false);
  assert.equal(matches({ exact: '/a' }, '/A'), false);
  assert.equal(matches({ exact: '' }, ''), true);
  assert.equal(matches({ exact: '/a' }, undefined), false);
  assert.equal(matches({ prefix: '/api' }, '/api'), true);
  assert.equal(matches({ prefix: '/api' }, '/api/v1'), true);
  assert.equal(matches({ prefix: '/api' }, '/apix'), true); // Istio prefixes are plain string prefixes
  assert.equal(matches({ prefix: '/api' }, '/ap'), false);
  assert.equal(matches({ prefix: '' }, '/anything'), true);
  assert.equal(matches({ prefix: '' }, undefined), false);
  assert.equal(matches({ regex: '/v[0-9]+' }, '/v12'), true);
  assert.equal(matches({ regex: '.*' }, undefined), false);
});

test('regexes are full matches, as RE2 in Envoy: /api/v[0-9] does not match /api/v1/x', () => {
  assert.equal(matches({ regex: '/api/v[0-9]' }, '/api/v1'), true);
  assert.equal(matches({ regex: '/api/v[0-9]' }, '/api/v1/x'), false);
  assert.equal(matches({ regex: '/api/v[0-9]' }, '/x/api/v1'), false);
  // The anchors wrap the whole alternation, not only its first and last branch.
  assert.equal(matches({ regex: '/a|/b' }, '/a'), true);
  assert.equal(matches({ regex: '/a|/b' }, '/b'), true);
  assert.equal(matches({ regex: '/a|/b' }, '/ab'), false);
  assert.equal(matches({ regex: '/a|/b' }, '/a/b'), false);
  assert.equal(matches({ regex: '/a|/b' }, 'x/b'), false);
  // A user's own anchors are harmless.
  assert.equal(matches({ regex: '^/a$' }, '/a'), true);
});

test('ignoreCase applies to exact, prefix and regex', () => {
  assert.equal(matches({ exact: '/ProductPage' }, '/productpage', true), true);
  assert.equal(matches({ exact: '/ProductPage' }, '/PRODUCTPAGE', true), true);
  assert.equal(matches({ exact: '/ProductPage' }, '/productpage'), false);
  assert.equal(matches({ prefix: '/Static' }, '/STATIC/css', true), true);
  assert.equal(matches({ prefix: '/Static' }, '/STATIC/css'), false);
  assert.equal(matches({ regex: '/api/[a-z]+' }, '/API/V', true), true);
  assert.equal(matches({ regex: '/api/[a-z]+' }, '/API/V'), false);
  assert.equal(matches({ exact: '/a' }, undefined, true), false);
});

test('a regex with a leading RE2 flag group, accepted by the config loader, compiles in the router', () => {
  // The loader's schema check accepts it...
  assert.ok(compileIstioRegex('(?i)/api/.*').test('/API/v1'));
  // ...so the proxy must too.
  const t = compileStringMatcher({ regex: '(?i)/api/.*' });
  assert.equal(t('/API/v1'), true);
  assert.equal(t('/other'), false);
});

test('an invalid regex fails the whole table when it is built, not per request', () => {
  assert.throws(
    () => new RouteTable([vh('bad', ['svc'], [route('r', [{ path: { regex: '(' } }])])]),
    /Unterminated group/,
  );
});

// ---- host selection ------------------------------------------------------------------------------------

test('host: exact names first, then the longest wildcard suffix, then "*"', () => {
  const table = new RouteTable([
    vh('catch-all', ['*']),
    vh('example', ['*.example.com']),
    vh('api', ['*.api.example.com']),
    vh('shop', ['shop.example.com', 'shop.example.com:8080']),
    vh('reviews', ['reviews', 'reviews:9080']),
  ]);
  assert.equal(hostOf(table, 'reviews'), 'reviews');
  assert.equal(hostOf(table, 'reviews:9080'), 'reviews');
  assert.equal(hostOf(table, 'shop.example.com'), 'shop');
  assert.equal(hostOf(table, 'shop.example.com:8080'), 'shop');
  assert.equal(hostOf(table, 'www.example.com'), 'example');
  assert.equal(hostOf(table, 'a.b.example.com'), 'example');
  assert.equal(hostOf(table, 'v1.api.example.com'), 'api');
  assert.equal(hostOf(table, 'v1.api.example.com:443'), 'api');
  assert.equal(hostOf(table, 'api.example.com'), 'example'); // "*.api.example.com" needs a label before it
  assert.equal(hostOf(table, 'example.com'), 'catch-all'); // "*.example.com" does not match the bare domain
  assert.equal(hostOf(table, 'notexample.com'), 'catch-all');
  assert.equal(hostOf(table, 'unknown:1234'), 'catch-all');
});

test('host: an exact name wins over a wildcard listed before it', () => {
  const table = new RouteTable([
    vh('wild', ['*.example.com']),
    vh('star', ['*']),
    vh('exact', ['shop.example.com']),
  ]);
  assert.equal(hostOf(table, 'shop.example.com'), 'exact');
  assert.equal(hostOf(table, 'shop.example.com:80'), 'exact');
  assert.equal(hostOf(table, 'cart.example.com'), 'wild');
});

test('host: with a port, the exact host:port wins, else the bare host, else no match', () => {
  const table = new RouteTable([vh('with-port', ['reviews:9080']), vh('bare', ['reviews'])]);
  assert.equal(hostOf(table, 'reviews:9080'), 'with-port');
  assert.equal(hostOf(table, 'reviews:1234'), 'bare');
  assert.equal(hostOf(table, 'reviews'), 'bare');
  // Only "name:9080" is declared: another port, or no port, is not that virtual host.
  const portOnly = new RouteTable([vh('with-port', ['ratings:9080'])]);
  assert.equal(hostOf(portOnly, 'ratings:9081'), undefined);
  assert.equal(hostOf(portOnly, 'ratings'), undefined);
  assert.equal(hostOf(new RouteTable([vh('v6', ['[::1]'])]), '[::1]:8080'), 'v6');
});

test('host: the first owner of a domain (or of "*") keeps it; without "*" an unknown host finds nothing', () => {
  const table = new RouteTable([
    vh('first', ['reviews', '*']),
    vh('second', ['reviews', '*']),
    vh('w1', ['*.example.com']),
    vh('w2', ['*.example.com']),
  ]);
  assert.equal(hostOf(table, 'reviews'), 'first');
  assert.equal(hostOf(table, 'elsewhere'), 'first');
  assert.equal(hostOf(table, 'a.example.com'), 'w1');
  assert.equal(hostOf(new RouteTable([vh('only', ['reviews'])]), 'ratings'), undefined);
  assert.equal(hostOf(new RouteTable([]), 'reviews'), undefined);
});

// ---- route selection -----------------------------------------------------------------------------------

test('route: the first matching route wins, and a route without matches matches everything', () => {
  const routes = [
    route('exact', [{ path: { exact: '/productpage' } }]),
    route('prefix', [{ path: { prefix: '/product' } }]),
    route('all'),
    route('never-reached', [{ path: { prefix: '/' } }]),
  ];
  assert.equal(routeOf(routes, req('/productpage')), 'exact');
  assert.equal(routeOf(routes, req('/products')), 'prefix');
  assert.equal(routeOf(routes, req('/productpage/x')), 'prefix');
  assert.equal(routeOf(routes, req('/')), 'all');
  // A catch-all first shadows everything after it.
  assert.equal(routeOf([route('all'), ...routes], req('/productpage')), 'all');
  // Nothing matches: undefined (the pipeline answers 404 NR).
  assert.equal(routeOf([routes[0]!], req('/other')), undefined);
  assert.equal(routeOf([], req('/')), undefined);
});

test('route: match clauses are ORed, conditions inside one clause are ANDed', () => {
  const routes = [
    route('r', [{ path: { prefix: '/api' }, method: { exact: 'POST' } }, { path: { exact: '/health' } }]),
  ];
  assert.equal(routeOf(routes, req('/api/x', { method: 'POST' })), 'r');
  assert.equal(routeOf(routes, req('/api/x', { method: 'GET' })), undefined);
  assert.equal(routeOf(routes, req('/health', { method: 'DELETE' })), 'r');
  assert.equal(routeOf(routes, req('/other', { method: 'POST' })), undefined);
  // An empty clause has no condition: it matches.
  assert.equal(routeOf([route('empty', [{}])], req('/x')), 'empty');
});

test('route: ignoreCase is for the path only', () => {
  const routes = [
    route('r', [
      {
        path: { exact: '/Login' },
        ignoreCase: true,
        method: { exact: 'GET' },
        headers: [{ name: 'x-env', match: { exact: 'Prod' } }],
      },
    ]),
  ];
  assert.equal(routeOf(routes, req('/LOGIN', { headers: { 'x-env': 'Prod' } })), 'r');
  assert.equal(routeOf(routes, req('/login', { headers: { 'x-env': 'Prod' } })), 'r');
  assert.equal(routeOf(routes, req('/login', { headers: { 'x-env': 'prod' } })), undefined);
  assert.equal(routeOf(routes, req('/login', { method: 'get', headers: { 'x-env': 'Prod' } })), undefined);
  assert.equal(routeOf([route('cs', [{ path: { exact: '/Login' } }])], req('/login')), undefined);
});

test('route: regex paths are full matches', () => {
  const routes = [route('v', [{ path: { regex: '/api/v[0-9]' } }]), route('rest')];
  assert.equal(routeOf(routes, req('/api/v1')), 'v');
  assert.equal(routeOf(routes, req('/api/v1/x')), 'rest');
  assert.equal(routeOf(routes, req('/api/v10')), 'rest');
});

test('route: header matches by exact, prefix and regex; an absent header does not match', () => {
  const routes = [
    route('jason', [{ headers: [{ name: 'end-user', match: { exact: 'jason' } }] }]),
    route('canary', [{ headers: [{ name: 'x-canary', match: { prefix: 'yes' } }] }]),
    route('version', [{ headers: [{ name: 'x-version', match: { regex: 'v[23]' } }] }]),
    route('both', [
      {
        headers: [
          { name: 'a', match: { exact: '1' } },
          { name: 'b', match: { exact: '2' } },
        ],
      },
    ]),
    route('rest'),
  ];
  assert.equal(routeOf(routes, req('/', { headers: { 'end-user': 'jason' } })), 'jason');
  assert.equal(routeOf(routes, req('/', { headers: { 'end-user': 'Jason' } })), 'rest');
  assert.equal(routeOf(routes, req('/', { headers: { 'end-user': 'jason2' } })), 'rest');
  assert.equal(routeOf(routes, req('/', { headers: { 'x-canary': 'yes-please' } })), 'canary');
  assert.equal(routeOf(routes, req('/', { headers: { 'x-version': 'v3' } })), 'version');
  assert.equal(routeOf(routes, req('/', { headers: { 'x-version': 'v3.1' } })), 'rest');
  assert.equal(routeOf(routes, req('/', { headers: { a: '1', b: '2' } })), 'both');
  assert.equal(routeOf(routes, req('/', { headers: { a: '1' } })), 'rest');
  assert.equal(routeOf(routes, req('/', { headers: {} })), 'rest');
  // A repeated header is seen as its values joined with ",".
  assert.equal(
    routeOf(
      [route('multi', [{ headers: [{ name: 'x-tag', match: { exact: 'a,b' } }] }])],
      req('/', { headers: { 'x-tag': ['a', 'b'] } }),
    ),
    'multi',
  );
});

test('route: method and authority matchers', () => {
  const routes = [
    route('post', [{ method: { exact: 'POST' } }]),
    route('admin-host', [{ authority: { prefix: 'admin.' } }]),
    route('rest'),
  ];
  assert.equal(routeOf(routes, req('/', { method: 'POST' })), 'post');
  assert.equal(routeOf(routes, req('/', { authority: 'admin.example.com:8080' })), 'admin-host');
  assert.equal(routeOf(routes, req('/', { authority: 'www.example.com' })), 'rest');
});

test('compileMatch: one function per clause, reusable across requests', () => {
  const m = compileMatch({ path: { prefix: '/a' }, headers: [{ name: 'x', match: { exact: '1' } }] });
  assert.equal(m(req('/a/b', { headers: { x: '1' } })), true);
  assert.equal(m(req('/a/b', { headers: { x: '2' } })), false);
  assert.equal(m(req('/b', { headers: { x: '1' } })), false);
  assert.equal(compileMatch({})(req('/anything')), true);
});

test('route: a header matcher { present: true } needs the header, { present: false } needs it absent', () => {
  const routes = [
    route('has-user', [{ headers: [{ name: 'end-user', match: { present: true } }] }]),
    route('no-debug', [{ headers: [{ name: 'x-debug', match: { present: false } }] }]),
    route('rest'),
  ];
  assert.equal(routeOf(routes, req('/', { headers: { 'end-user': '' } })), 'has-user');
  assert.equal(routeOf(routes, req('/', { headers: { 'end-user': 'jason' } })), 'has-user');
  assert.equal(routeOf(routes, req('/', { headers: {} })), 'no-debug');
  assert.equal(routeOf(routes, req('/', { headers: { 'x-debug': '1' } })), 'rest');
});

test('route: withoutHeaders excludes requests that carry a matching header', () => {
  const routes = [
    route('not-internal', [{ withoutHeaders: [{ name: 'x-internal', match: { exact: 'true' } }] }]),
    route('rest'),
  ];
  assert.equal(routeOf(routes, req('/', { headers: {} })), 'not-internal');
  assert.equal(routeOf(routes, req('/', { headers: { 'x-internal': 'false' } })), 'not-internal');
  assert.equal(routeOf(routes, req('/', { headers: { 'x-internal': 'true' } })), 'rest');
});

test('route: query parameters are matched decoded; scheme is matched as spoken', () => {
  const routes = [
    route('q', [{ queryParams: [{ name: 'user name', match: { exact: 'a b' } }] }]),
    route('flag', [{ queryParams: [{ name: 'debug', match: { present: true } }] }]),
    route('tls', [{ scheme: { exact: 'https' } }]),
    route('rest'),
  ];
  assert.equal(routeOf(routes, req('/', { query: 'x=1&user%20name=a+b' })), 'q');
  assert.equal(routeOf(routes, req('/', { query: 'user+name=a%20b' })), 'q');
  assert.equal(routeOf(routes, req('/', { query: 'user%20name=ab' })), 'rest');
  assert.equal(routeOf(routes, req('/', { query: 'debug' })), 'flag');
  assert.equal(routeOf(routes, req('/', { query: 'debugging=1' })), 'rest');
  assert.equal(routeOf(routes, req('/', { query: '%zz=1' })), 'rest'); // bad escapes do not throw
  assert.equal(routeOf(routes, req('/', { scheme: 'https' })), 'tls');
  assert.equal(routeOf(routes, req('/', { scheme: 'http' })), 'rest');
});

test('segment prefixes (Gateway API PathPrefix) match whole path segments only', () => {
  assert.equal(matches({ segmentPrefix: '/foo' }, '/foo'), true);
  assert.equal(matches({ segmentPrefix: '/foo' }, '/foo/'), true);
  assert.equal(matches({ segmentPrefix: '/foo/' }, '/foo/bar'), true);
  assert.equal(matches({ segmentPrefix: '/foo' }, '/foobar'), false);
  assert.equal(matches({ segmentPrefix: '/' }, '/anything'), true);
  assert.equal(matches({ segmentPrefix: '/Foo' }, '/FOO/x', true), true);
});

test('compileRoute: total weight is summed once per snapshot', () => {
  const rt = compileRoute({
    name: 'w',
    matches: [],
    action: {
      kind: 'forward',
      clusters: [
        { cluster: 'a', weight: 90 },
        { cluster: 'b', weight: 10 },
        { cluster: 'c', weight: 0 },
      ],
    },
  });
  assert.equal(rt.totalWeight, 100);
  assert.equal(compileRoute(route('direct')).totalWeight, 0);
});
