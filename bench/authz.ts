// What AuthorizationPolicy costs: requests per second with 100 authorization rules versus none.
//
// 1. In-process: the engine alone (what a proxy runs per request), 0 vs 1 vs 100 rules, the matching
//    rule last (the worst case: every rule before it is evaluated and misses).
// 2. Through the mesh: `weft up` with client → backend, a closed loop through both sidecars, first with
//    no policy, then with one ALLOW policy of 100 rules applied to the backend (the request matches the
//    last). The ratio is the end-to-end cost a user would see.
//
// Run: npm run bench:authz  (add --quick for shorter runs)
import { performance } from 'node:perf_hooks';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AuthzEngine, type AuthzRequest } from '../src/proxy/security/authz/engine.js';
import type { AuthzPolicy, AuthzRule } from '../src/model/security.js';
import { startBackend } from './lib/backend.js';
import { PROJECT_ROOT, startMesh } from './lib/mesh.js';
import { closedLoop } from './lib/load.js';

const QUICK = process.argv.includes('--quick');
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Rule i allows one caller on one path prefix, with a header condition: realistic, and all distinct. */
function rule(i: number, last: boolean): AuthzRule {
  return {
    from: [
      { principals: [last ? 'cluster.local/ns/default/sa/default' : `cluster.local/ns/team-${i}/sa/app`] },
    ],
    to: [{ methods: ['GET', 'POST'], paths: [last ? '/bench*' : `/api/v${i}/*`] }],
    when: [{ key: 'request.headers[x-tenant]', notValues: [`blocked-${i}`] }],
  };
}

function policy(n: number): AuthzPolicy[] {
  if (n === 0) return [];
  return [
    {
      name: 'default/bench',
      action: 'ALLOW',
      rules: Array.from({ length: n }, (_, i) => rule(i, i === n - 1)),
    },
  ];
}

function engineRate(n: number, iterations: number): number {
  const engine = new AuthzEngine(policy(n));
  const req: AuthzRequest = {
    tcp: false,
    principal: 'cluster.local/ns/default/sa/default',
    sourceIp: '127.0.0.1',
    remoteIp: '127.0.0.1',
    host: 'backend:8080',
    method: 'GET',
    path: '/bench/items',
    headers: { 'x-tenant': 'acme', host: 'backend:8080' },
    destinationIp: '127.0.0.1',
    destinationPort: 8080,
  };
  let allowed = 0;
  for (let i = 0; i < 10_000; i++) if (engine.checkLocal(req).allowed) allowed++;
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) if (engine.checkLocal(req).allowed) allowed++;
  const ms = performance.now() - t0;
  if (allowed !== iterations + 10_000) throw new Error(`the request was denied with ${n} rules`);
  return (iterations / ms) * 1000;
}

function policyYaml(n: number): string {
  const rules = Array.from({ length: n }, (_, i) => {
    const r = rule(i, i === n - 1);
    return `  - from: [{source: {principals: ["${r.from[0]!.principals![0]}"]}}]
    to: [{operation: {methods: [GET, POST], paths: ["${r.to[0]!.paths![0]}"]}}]
    when: [{key: "request.headers[x-tenant]", notValues: ["blocked-${i}"]}]`;
  });
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bench, namespace: default}
spec:
  selector: {matchLabels: {app: backend}}
  action: ALLOW
  rules:
${rules.join('\n')}
`;
}

function weft(args: string[], stateDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, '--state-dir', stateDir, ...args], {
      cwd: PROJECT_ROOT,
      stdio: 'inherit',
    });
    c.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`weft ${args.join(' ')} exited ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const iterations = QUICK ? 200_000 : 1_000_000;
  const engine = [0, 1, 100].map((n) => ({ rules: n, decisionsPerSecond: engineRate(n, iterations) }));
  console.log('In-process engine (matching rule last):');
  for (const e of engine)
    console.log(
      `  ${String(e.rules).padStart(3)} rules: ${Math.round(e.decisionsPerSecond).toLocaleString('en-US')} decisions/s` +
        ` (${((1e9 / e.decisionsPerSecond) | 0).toLocaleString('en-US')} ns each)`,
    );

  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-authz-'));
  const backend = await startBackend();
  const mesh = await startMesh(dir, backend.port);
  const target = {
    origin: `http://127.0.0.1:${mesh.outboundPort}`,
    host: `backend:${backend.port}`,
    path: '/bench/items',
  };
  const durationS = QUICK ? 5 : 15;
  try {
    const none = await closedLoop(target, { connections: 16, warmupS: 2, durationS });
    const file = join(dir, 'policy.yaml');
    await writeFile(file, policyYaml(100));
    await weft(['apply', '-f', file], mesh.stateDir);
    await new Promise((r) => setTimeout(r, 2_000)); // the push is debounced; let the proxies ACK
    const withRules = await closedLoop(target, { connections: 16, warmupS: 2, durationS });
    if (withRules.errors > 0 || none.errors > 0)
      throw new Error(
        `errors: ${none.errors} without policy, ${withRules.errors} with 100 rules (was the request denied?)`,
      );
    console.log('\nThrough two sidecars (closed loop, 16 connections):');
    console.log(
      `  no policy:        ${Math.round(none.rps)} req/s, p50 ${none.latency.p50.toFixed(2)} ms, p99 ${none.latency.p99.toFixed(2)} ms`,
    );
    console.log(
      `  100 ALLOW rules:  ${Math.round(withRules.rps)} req/s, p50 ${withRules.latency.p50.toFixed(2)} ms, p99 ${withRules.latency.p99.toFixed(2)} ms`,
    );
    console.log(`  ratio:            ${(withRules.rps / none.rps).toFixed(3)}`);
  } finally {
    await mesh.stop();
    await backend.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
