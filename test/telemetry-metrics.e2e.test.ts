// Telemetry `metrics` end to end, in one `weft up` mesh: a client sidecar (the test is its app) calling
// an echo service; both proxies' /stats/prometheus scraped as Prometheus would. Config changes while it
// runs, as a user would make them (and, when installed, a real Prometheus scraping both proxies through
// the control plane's http_sd endpoint must see the same):
//  - nothing configured: Istio's standard labels on both sides;
//  - a mesh-wide Telemetry: REQUEST_COUNT loses grpc_response_status and gains user_agent (the request's
//    header, "unknown" without one) and request_host; REQUEST_DURATION is disabled for SERVER only;
//  - a tag value that does not parse is refused by `weft apply`, naming the file and field;
//  - deleting the Telemetry brings Istio's labels back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { changeConfig } from './support/config-sync.js';
import { ECHO_YAML, clientYaml } from './support/mesh-yaml.js';
import { hasPrometheus, Prometheus } from './support/prometheus.js';
import { freePort } from '../src/local/ports.js';
import { hasPromtool, ISTIO_UNIT_LINT, parseLabels, promtoolCheck } from '../src/proxy/telemetry/testing.js';

const CLIENT = 'client-0.default';
const ECHO = 'echo-0.default';

const TELEMETRY = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-metrics, namespace: istio-system }
spec:
  metrics:
    - providers: [{ name: prometheus }]
      reportingInterval: 15s
      overrides:
        - match: { metric: REQUEST_COUNT }
          tagOverrides:
            grpc_response_status: { operation: REMOVE }
            user_agent: { value: "request.headers['user-agent']" }
            request_host: { value: request.host }
        - match: { metric: REQUEST_DURATION, mode: SERVER }
          disabled: true
`;

type Sample = { labels: Record<string, string>; value: number };

function samples(text: string, name: string): Sample[] {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.push({ labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return out;
}

describe('Telemetry metrics: tag overrides and disabled metrics, applied live', { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let dir: string;
  let outbound: number;
  let prom: Prometheus | undefined;
  const urls = new Map<string, string>();

  /** With Prometheus installed: wait until a query gives `want` (undefined = no series, e.g. stale). */
  async function promSees(expr: string, want: number | undefined): Promise<void> {
    if (!prom) return;
    await waitFor(`Prometheus: ${expr} = ${want}`, async () => (await prom!.scalar(expr)) === want, 20_000);
  }

  function call(path: string, userAgent?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: outbound,
          path,
          headers: { host: 'echo:8080', ...(userAgent ? { 'user-agent': userAgent } : {}) },
          agent: false,
          timeout: 15_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  const scrape = async (id: string) => (await fetch(urls.get(id)!)).text();
  const requests = async (id: string, reporter: string) =>
    samples(await scrape(id), 'istio_requests_total').filter((s) => s.labels.reporter === reporter);
  const durations = async (id: string, reporter: string) =>
    samples(await scrape(id), 'istio_request_duration_milliseconds_count').filter(
      (s) => s.labels.reporter === reporter,
    );

  async function apply(args: string[]): Promise<void> {
    assert.ok(await changeConfig(mesh, args, [CLIENT, ECHO]), `weft ${args.join(' ')} reached both proxies`);
  }

  before(async () => {
    dir = await tempDir('weft-telemetry-metrics-');
    outbound = await freePort();
    await writeFile(
      join(dir, 'mesh.yaml'),
      `${clientYaml(outbound)}
---
${ECHO_YAML}
`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
    const r = await mesh.weft(['proxy-status', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    for (const p of JSON.parse(r.stdout) as Array<{ id: string; metricsUrl?: string }>)
      if (p.metricsUrl) urls.set(p.id, p.metricsUrl);
    assert.ok(urls.has(CLIENT) && urls.has(ECHO), [...urls.keys()].join(', '));
    if (hasPrometheus()) {
      const admin = (
        JSON.parse(await readFile(join(mesh.stateDir, 'mesh.json'), 'utf8')) as { admin: string }
      ).admin;
      prom = await Prometheus.start(
        join(dir, 'prometheus'),
        `global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
  - job_name: weft-proxies
    http_sd_configs: [{ url: 'http://${admin}/prometheus/targets', refresh_interval: 2s }]
`,
        'groups: []\n',
      );
    }
  });

  after(async () => {
    await prom?.stop();
    await mesh?.stop();
    if (mesh) await rm(mesh.stateDir, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('without Telemetry: Istio standard labels on both sides', async () => {
    assert.equal(await call('/before', 'metrics-e2e/1'), 200);
    const server = await waitFor('echo to report the request', async () => {
      const s = await requests(ECHO, 'destination');
      return s.length > 0 && s;
    });
    assert.equal(server[0]!.labels.grpc_response_status, '');
    assert.equal(server[0]!.labels.user_agent, undefined);
    assert.equal(server[0]!.labels.source_workload, 'client');
    assert.equal((await requests(CLIENT, 'source'))[0]!.labels.grpc_response_status, '');
    assert.equal((await durations(ECHO, 'destination')).length, 1);
    await promSees('count(istio_request_duration_milliseconds_count{reporter="destination"})', 1);
    const cfg = await mesh.weft(['proxy-config', CLIENT, '-o', 'json']);
    assert.equal((JSON.parse(cfg.stdout) as { metrics?: unknown }).metrics, undefined);
  });

  test('a mesh-wide Telemetry: REMOVE, UPSERT from the request, SERVER-only disable', async (t) => {
    await writeFile(join(dir, 'telemetry.yaml'), TELEMETRY);
    await apply(['apply', '-f', join(dir, 'telemetry.yaml')]);
    // The change starts the series afresh: the request before it is gone with its labels.
    assert.deepEqual(await requests(CLIENT, 'source'), []);
    assert.equal(await call('/a', 'metrics-e2e/2'), 200);
    assert.equal(await call('/b', 'metrics-e2e/2'), 200);
    assert.equal(await call('/c'), 200); // no user-agent: Istio's "unknown"
    const byAgent = async (id: string, reporter: string) =>
      Object.fromEntries((await requests(id, reporter)).map((s) => [s.labels.user_agent!, s]));
    const server = await waitFor('echo to report three requests', async () => {
      const s = await byAgent(ECHO, 'destination');
      return (s['metrics-e2e/2']?.value ?? 0) + (s.unknown?.value ?? 0) === 3 && s;
    });
    assert.equal(server['metrics-e2e/2']!.value, 2);
    assert.equal(server.unknown!.value, 1);
    for (const s of Object.values(server)) {
      assert.equal(s.labels.grpc_response_status, undefined, 'REMOVE dropped the label');
      assert.equal(s.labels.request_host, 'echo:8080');
      assert.equal(s.labels.source_workload, 'client', 'the other labels stay');
    }
    const client = await byAgent(CLIENT, 'source');
    assert.equal(client['metrics-e2e/2']!.value, 2);
    assert.equal(client['metrics-e2e/2']!.labels.grpc_response_status, undefined);
    assert.equal(client['metrics-e2e/2']!.labels.destination_workload, 'echo');
    // REQUEST_DURATION: gone on the server side only; it keeps Istio's labels where it stays.
    assert.deepEqual(await durations(ECHO, 'destination'), []);
    const d = await durations(CLIENT, 'source');
    assert.equal(d.length, 1);
    assert.equal(d[0]!.value, 3);
    assert.equal(d[0]!.labels.grpc_response_status, '');
    assert.equal(d[0]!.labels.user_agent, undefined);
    if (hasPromtool()) {
      for (const id of [CLIENT, ECHO]) {
        const check = promtoolCheck(await scrape(id), [ISTIO_UNIT_LINT]);
        assert.ok(check.ok, `${id}: promtool found:\n${check.problems.join('\n')}`);
      }
    } else t.diagnostic('promtool missing: exposition lint skipped');
    // Prometheus (which asks for OpenMetrics) sees the new labels, and the disabled series go stale.
    await promSees('sum(istio_requests_total{reporter="destination",user_agent="metrics-e2e/2"})', 2);
    await promSees('sum(istio_requests_total{reporter="source",request_host="echo:8080"})', 3);
    await promSees('count(istio_request_duration_milliseconds_count{reporter="destination"})', undefined);
    await promSees('count(istio_request_duration_milliseconds_count{reporter="source"})', 1);
    if (!prom) t.diagnostic('prometheus missing: scrape by Prometheus skipped');
    // proxy-config shows what each proxy got.
    const cfg = await mesh.weft(['proxy-config', ECHO, '-o', 'json']);
    assert.equal(cfg.code, 0, cfg.stderr);
    const metrics = (JSON.parse(cfg.stdout) as { metrics: Record<string, unknown> }).metrics;
    assert.deepEqual(metrics, {
      client: {
        providers: ['prometheus'],
        metrics: {
          REQUEST_COUNT: {
            tags: {
              grpc_response_status: null,
              request_host: 'request.host',
              user_agent: "request.headers['user-agent']",
            },
          },
        },
      },
      server: {
        providers: ['prometheus'],
        metrics: {
          REQUEST_COUNT: {
            tags: {
              grpc_response_status: null,
              request_host: 'request.host',
              user_agent: "request.headers['user-agent']",
            },
          },
          REQUEST_DURATION: { disabled: true },
        },
      },
      reportingInterval: '15s',
    });
  });

  test('a tag value that does not parse is refused at apply, with file and field', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      TELEMETRY.replace('mesh-metrics', 'bad').replace('request.host', `"request.host =="`),
    );
    const r = await mesh.weft(['apply', '-f', file]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr + r.stdout,
      /bad\.yaml:\d+.*spec\.metrics\[0\]\.overrides\[0\]\.tagOverrides\.request_host\.value: value "request\.host =="/,
    );
  });

  test('deleting the Telemetry brings Istio labels and the server duration back', async () => {
    await apply(['delete', '-f', join(dir, 'telemetry.yaml')]);
    assert.deepEqual(await requests(ECHO, 'destination'), [], 'the overridden series are gone at once');
    assert.equal(await call('/after', 'metrics-e2e/3'), 200);
    const server = await waitFor('echo to report the request', async () => {
      const s = await requests(ECHO, 'destination');
      return s.length > 0 && s;
    });
    assert.equal(server.length, 1);
    assert.equal(server[0]!.labels.grpc_response_status, '');
    assert.equal(server[0]!.labels.user_agent, undefined);
    assert.equal((await durations(ECHO, 'destination')).length, 1);
    await promSees('count(istio_requests_total{user_agent!=""})', undefined);
    await promSees('count(istio_request_duration_milliseconds_count{reporter="destination"})', 1);
  });
});
