// Routing cost with 1 versus 1,000 routes configured: the proxy's RouteTable is compiled once per
// snapshot (host map, prebuilt matchers, anchored regexes), so a lookup should not grow with the size of
// the config. Measures host lookup + first-match route selection in-process, no network, and prints
// requests per second for each size and the ratio. Run: npm run build && node dist/bench/routing.js
import { performance } from 'node:perf_hooks';
import { RouteTable } from '../src/proxy/http/router.js';
import type { Route, VirtualHost } from '../src/model/snapshot.js';

function route(i: number): Route {
  return {
    name: `r${i}`,
    matches: [
      {
        path: { prefix: `/api/v${i}/` },
        headers: [{ name: 'x-tenant', match: { regex: `tenant-${i}-[a-z]+` } }],
      },
    ],
    action: {
      kind: 'forward',
      clusters: [{ cluster: `outbound|8080||svc-${i}.default.svc.cluster.local`, weight: 100 }],
    },
  };
}

/** `n` routes spread over n/10 services (10 rules each), so both the host map and the rule list grow. */
function config(n: number): VirtualHost[] {
  const hosts = Math.max(1, Math.floor(n / 10));
  const perHost = Math.ceil(n / hosts);
  return Array.from({ length: hosts }, (_, h) => ({
    name: `svc-${h}`,
    domains: [`svc-${h}`, `svc-${h}:8080`, `svc-${h}.default.svc.cluster.local`],
    routes: Array.from({ length: perHost }, (_, i) => route(i)),
  }));
}

function measure(n: number, iterations: number): { rps: number; routesPerHost: number } {
  const vhosts = config(n);
  const table = new RouteTable(vhosts);
  const target = vhosts[vhosts.length - 1]!;
  const last = target.routes.length - 1; // the worst case inside a host: the last rule matches
  const req = {
    method: 'GET',
    path: `/api/v${last}/items`,
    query: '',
    scheme: 'http',
    authority: `${target.name}:8080`,
    headers: { 'x-tenant': `tenant-${last}-acme` },
  };
  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (RouteTable.findRoute(table.findHost(req.authority)!, req)) hits++; // warm-up
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) if (RouteTable.findRoute(table.findHost(req.authority)!, req)) hits++;
  const ms = performance.now() - t0;
  if (hits !== iterations + 10_000) throw new Error('route did not match');
  return { rps: (iterations / ms) * 1000, routesPerHost: target.routes.length };
}

const iterations = 500_000;
const rows = [1, 10, 1000].map((n) => ({ n, ...measure(n, iterations) }));
const base = rows[0]!.rps;
const ten = rows[1]!.rps;
console.log('| routes configured | rules in the matched host | lookups/s | vs 1 route | vs 10 routes |');
console.log('|---:|---:|---:|---:|---:|');
for (const r of rows)
  console.log(
    `| ${r.n.toLocaleString('en')} | ${r.routesPerHost} | ${Math.round(r.rps).toLocaleString('en')} | ${(r.rps / base).toFixed(2)} | ${(r.rps / ten).toFixed(2)} |`,
  );
console.log(
  '\nThe matched request hits the last rule of its host (the worst case). Host lookup is one map hit whatever\n' +
    'the config size; only the rules of the matched host are tried, so 1,000 routes over 100 hosts cost the\n' +
    'same per request as 10 routes on one host.',
);
