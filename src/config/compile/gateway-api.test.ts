// Gateway API routes compiled for the ingress gateway, checked against the conformance suite's own
// cases (../shared/fixtures/gateway-api-cases.json): each request is routed through the compiled
// snapshot with the proxy's route table, and what the compiled route would do is compared with what
// the suite expects. Timing (timeouts, weights' statistics, mirroring) is left to the end-to-end tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { HeaderMutation, Route, RouteAction } from '../../model/snapshot.js';
import { RouteTable } from '../../proxy/http/router.js';
import { loadPaths } from '../load.js';
import { fixture } from '../testing.js';
import { formatProblem, type Resource } from '../types.js';
import { MeshIndex } from './inputs.js';
import { gatewayListeners } from './virtual-hosts.js';

interface CaseRequest {
  host: string | null;
  path: string;
  headers: Record<string, string>;
  method?: string;
}
interface Expected {
  backend?: string | null;
  namespace?: string | null;
  status: number;
  headers?: Record<string, string>;
  absentHeaders?: string[];
  redirect?: { scheme?: string; host?: string; port?: number; path?: string };
  backendRequest?: {
    path?: string;
    host?: string;
    headers?: Record<string, string>;
    absentHeaders?: string[];
  };
  backendSetResponseHeaders?: Record<string, string>;
  expectedWeights?: Record<string, number>;
}
interface Case {
  test: string;
  manifest: string;
  gateway: string;
  requests: Array<{ request: CaseRequest; expected: Expected }>;
}

const CASES = (JSON.parse(readFileSync(fixture('gateway-api-cases.json'), 'utf8')) as { cases: Case[] })
  .cases;
const INGRESS = { istio: 'ingressgateway' };

async function loadAll(...paths: string[]): Promise<Resource[]> {
  const { resources, problems } = await loadPaths(paths);
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

/** Route one request through the ingress gateway's compiled listener on `port`, as the proxy would. */
function routeFor(resources: Resource[], port: number, req: CaseRequest): Route | undefined {
  const listener = gatewayListeners(new MeshIndex(resources, []), INGRESS).find((l) => l.port === port);
  assert.ok(listener, `no listener on port ${port}`);
  const vh = new RouteTable(listener.virtualHosts).findHost((req.host ?? '127.0.0.1').toLowerCase());
  if (!vh) return undefined;
  const q = req.path.indexOf('?');
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return RouteTable.findRoute(vh, {
    method: req.method ?? 'GET',
    path: q < 0 ? req.path : req.path.slice(0, q),
    query: q < 0 ? '' : req.path.slice(q + 1),
    scheme: 'http',
    authority: req.host ?? '127.0.0.1',
    headers,
  })?.route;
}

/** Header edits in Envoy's order (remove, set, add-with-comma), on lower-case names. */
function edit(headers: Record<string, string>, m: HeaderMutation | undefined): Record<string, string> {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  for (const name of m?.remove ?? []) delete h[name];
  for (const [k, v] of m?.set ?? []) h[k] = v;
  for (const [k, v] of m?.add ?? []) h[k] = h[k] !== undefined ? `${h[k]},${v}` : v;
  return h;
}

/** Gateway API ReplacePrefixMatch, straight from the spec's table (HTTPPathModifier). */
function replacePrefix(path: string, matched: string, replacement: string): string {
  const m = matched.replace(/\/+$/, '');
  const rest = path.slice(m.length);
  const out = replacement.replace(/\/+$/, '') + rest;
  return out.startsWith('/') ? out : `/${out}`;
}

function headersSubset(
  actual: Record<string, string>,
  expected: Record<string, string> | undefined,
  what: string,
) {
  for (const [k, v] of Object.entries(expected ?? {}))
    assert.equal(actual[k.toLowerCase()], v, `${what} ${k}`);
}

function checkForward(
  route: Route,
  a: Extract<RouteAction, { kind: 'forward' }>,
  req: CaseRequest,
  ex: Expected,
) {
  const live = a.clusters.filter((c) => c.weight > 0);
  if (ex.status === 500)
    return assert.ok(
      live.every((c) => c.status === 500),
      'expected a 500 backend',
    );
  if (ex.expectedWeights) {
    const total = live.reduce((s, c) => s + c.weight, 0);
    for (const [svc, share] of Object.entries(ex.expectedWeights)) {
      const w = live.filter((c) => c.cluster.includes(`|${svc}.`)).reduce((s, c) => s + c.weight, 0);
      assert.equal(w / total, share, `share of ${svc}`);
    }
    return;
  }
  if (ex.backend) {
    assert.equal(live.length, 1, `one backend expected, got ${JSON.stringify(live)}`);
    assert.match(
      live[0]!.cluster,
      new RegExp(`^outbound\\|\\d+\\|\\|${ex.backend}\\.${ex.namespace}\\.svc\\.`),
    );
  }
  const c = live[0];
  if (ex.backendRequest) {
    const path = req.path.split('?')[0]!;
    const rw = a.rewrite;
    const newPath =
      rw?.fullPath ?? (rw?.prefix ? replacePrefix(path, rw.prefix.matched, rw.prefix.replacement) : path);
    if (ex.backendRequest.path !== undefined) assert.equal(newPath, ex.backendRequest.path, 'backend path');
    if (ex.backendRequest.host !== undefined)
      assert.equal(rw?.authority, ex.backendRequest.host, 'backend host');
    const sent = edit(edit(req.headers, route.requestHeaders), c?.requestHeaders);
    headersSubset(sent, ex.backendRequest.headers, 'request header');
    for (const h of ex.backendRequest.absentHeaders ?? []) assert.equal(sent[h.toLowerCase()], undefined, h);
  }
  if (ex.backendSetResponseHeaders || ex.absentHeaders) {
    const got = edit(edit(ex.backendSetResponseHeaders ?? {}, c?.responseHeaders), route.responseHeaders);
    headersSubset(got, ex.headers, 'response header');
    for (const h of ex.absentHeaders ?? []) assert.equal(got[h.toLowerCase()], undefined, h);
  }
}

function checkRedirect(a: Extract<RouteAction, { kind: 'redirect' }>, req: CaseRequest, ex: Expected) {
  const r = a.redirect;
  assert.equal(r.status, ex.status);
  const path = req.path.split('?')[0]!;
  const want = ex.redirect ?? {};
  const newPath = r.path ?? (r.prefix ? replacePrefix(path, r.prefix.matched, r.prefix.replacement) : path);
  assert.equal(newPath, want.path ?? path, 'Location path');
  assert.equal(r.host ?? req.host ?? undefined, want.host ?? req.host ?? undefined, 'Location host');
  assert.equal(r.scheme ?? 'http', want.scheme ?? 'http', 'Location scheme');
  const defaultPort = (r.scheme ?? 'http') === 'https' ? 443 : 80;
  assert.equal(r.port === defaultPort ? undefined : r.port, want.port, 'Location port');
}

// Timing and statistics need real traffic; everything else is decided by the compiled routes.
const STATIC = new Set([
  'HTTPRouteRequestMirror',
  'HTTPRouteTimeoutRequest',
  'HTTPRouteTimeoutBackendRequest',
]);

for (const c of CASES.filter((x) => !STATIC.has(x.test))) {
  test(`conformance ${c.test}: compiled routes send each request where the suite expects`, async () => {
    const resources = await loadAll(fixture('gateway-api/base-manifests.yaml'), fixture(c.manifest));
    for (const { request, expected } of c.requests) {
      const what = `${request.method ?? 'GET'} ${request.host ?? ''}${request.path} ${JSON.stringify(request.headers)}`;
      const route = routeFor(resources, 80, request);
      if (expected.status === 404) {
        assert.equal(route, undefined, `${what}: expected no route, got ${route?.name}`);
        continue;
      }
      assert.ok(route, `${what}: no route`);
      const a = route.action;
      if (expected.redirect || (expected.status >= 300 && expected.status < 400)) {
        assert.equal(a.kind, 'redirect', `${what}: ${route.name}`);
        if (a.kind === 'redirect') checkRedirect(a, request, expected);
      } else {
        assert.equal(a.kind, 'forward', `${what}: ${route.name}`);
        if (a.kind === 'forward') checkForward(route, a, request, expected);
      }
    }
  });
}

test('conformance timeouts: request -> route timeout, backendRequest -> per-try timeout, 0s disables', async () => {
  const base = fixture('gateway-api/base-manifests.yaml');
  const req = (path: string) => ({ host: null, path, headers: {} });
  const r1 = await loadAll(base, fixture('gateway-api/tests/httproute-timeout-request.yaml'));
  const t1 = routeFor(r1, 80, req('/request-timeout'))?.action;
  assert.ok(t1?.kind === 'forward' && t1.timeoutMs === 500 && !t1.retry, JSON.stringify(t1));
  const t0 = routeFor(r1, 80, req('/disable-request-timeout'))?.action;
  assert.ok(t0?.kind === 'forward' && t0.timeoutMs === undefined, JSON.stringify(t0));
  const r2 = await loadAll(base, fixture('gateway-api/tests/httproute-timeout-backend-request.yaml'));
  const t2 = routeFor(r2, 80, req('/backend-timeout'))?.action;
  assert.ok(t2?.kind === 'forward', JSON.stringify(t2));
  assert.equal(t2.retry?.perTryTimeoutMs, 500);
  assert.equal(t2.retry?.attempts, 0, 'a backendRequest timeout alone adds no retries');
});

test('conformance mirrors: RequestMirror -> MirrorPolicy on the resolved cluster', async () => {
  const base = fixture('gateway-api/base-manifests.yaml');
  const rs = await loadAll(base, fixture('gateway-api/tests/httproute-request-multiple-mirrors.yaml'));
  const routes = gatewayListeners(new MeshIndex(rs, []), INGRESS).flatMap((l) =>
    l.virtualHosts.flatMap((v) => v.routes),
  );
  const mirrors = routes.flatMap((r) => (r.action.kind === 'forward' ? (r.action.mirrors ?? []) : []));
  assert.ok(mirrors.length >= 2, JSON.stringify(mirrors));
  for (const m of mirrors) {
    assert.match(
      m.cluster,
      /^outbound\|8080\|\|infra-backend-v[23]\.gateway-conformance-infra\.svc\.cluster\.local$/,
    );
    assert.equal(m.percentage, 100);
  }
});
