// Observability end to end: the bookinfo demo (a copy whose ingress listens on a free port, so this can
// run beside bookinfo.e2e), traffic through the ingress, and a real Prometheus that finds every proxy
// through the control plane's http_sd endpoint. Users' PromQL and alert rules must work unchanged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { ROOT } from './support/paths.js';
import { hasPrometheus, Prometheus, PROMETHEUS_MISSING } from './support/prometheus.js';
import { freePort } from '../src/local/ports.js';
import { hasPromtool, ISTIO_UNIT_LINT, promtoolCheck } from '../src/proxy/telemetry/testing.js';

const PROXIES = 7; // productpage, details, reviews v1-v3, ratings, ingress gateway
const SERVICES = ['productpage', 'reviews', 'details', 'ratings'].map(
  (s) => `${s}.default.svc.cluster.local`,
);

const HIGH_ERROR_RATE =
  '(sum(rate(istio_requests_total{reporter="destination",response_code!~"2.."}[20s])) / ' +
  'sum(rate(istio_requests_total{reporter="destination"}[20s]))) > 0.05';

// productpage's ratings API passes the ratings status through, so aborts at productpage's sidecar
// become 500s that productpage's inbound side (reporter="destination") reports, as in Istio.
const FAULT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
    - fault:
        abort:
          percentage: { value: 50 }
          httpStatus: 500
      route:
        - destination: { host: ratings }
`;

/** Keeps a steady load on the ingress: the page (all four services) and the ratings API. */
class Traffic {
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  readonly statuses = new Map<number, number>();

  constructor(base: string, concurrency = 3) {
    const paths = ['/productpage', '/api/v1/products/0/ratings', '/api/v1/products/0/ratings'];
    for (let i = 0; i < concurrency; i++)
      this.loops.push(
        (async () => {
          for (let n = 0; !this.stopped; n++) {
            try {
              const res = await fetch(base + paths[(n + i) % paths.length], {
                signal: AbortSignal.timeout(5000),
              });
              await res.arrayBuffer();
              this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1);
            } catch {
              this.statuses.set(0, (this.statuses.get(0) ?? 0) + 1);
            }
            await new Promise((r) => setTimeout(r, 40));
          }
        })(),
      );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

describe('observability: Istio metrics scraped by a real Prometheus', { timeout: 300_000 }, () => {
  const skip = !hasPrometheus() && PROMETHEUS_MISSING;
  let work: string;
  let mesh: RunningMesh | undefined;
  let admin: string;
  let traffic: Traffic | undefined;
  let prom: Prometheus | undefined;

  before(async () => {
    if (skip) return;
    work = await tempDir('weft-observability-');
    // The demo's YAML with the Gateway on a free port instead of 8080.
    const ingressPort = await freePort();
    const cfg = join(work, 'bookinfo');
    await mkdir(cfg);
    const src = join(ROOT, 'examples/bookinfo');
    for (const f of (await readdir(src)).filter((f) => f.endsWith('.yaml')))
      await copyFile(join(src, f), join(cfg, f));
    const gw = await readFile(join(cfg, 'gateway.yaml'), 'utf8');
    assert.match(gw, /number: 8080/);
    await writeFile(join(cfg, 'gateway.yaml'), gw.replace(/number: 8080/, `number: ${ingressPort}`));

    mesh = await RunningMesh.up([cfg]);
    admin = (JSON.parse(await readFile(join(mesh.stateDir, 'mesh.json'), 'utf8')) as { admin: string }).admin;
    traffic = new Traffic(`http://127.0.0.1:${ingressPort}`);
    prom = await Prometheus.start(
      join(work, 'prometheus'),
      `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: weft-proxies
    http_sd_configs:
      - url: http://${admin}/prometheus/targets
        refresh_interval: 2s
  - job_name: weft-control-plane
    static_configs:
      - targets: ['${admin}']
`,
      `groups:
  - name: weft
    interval: 1s
    rules:
      - alert: HighErrorRate
        expr: ${HIGH_ERROR_RATE}
        for: 0s
`,
    );
  });

  after(async () => {
    await traffic?.stop();
    await prom?.stop();
    if (mesh) {
      assert.equal(await mesh.stop(), 0);
      await rm(mesh.stateDir, { recursive: true, force: true });
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('proxy-status gives each proxy a metricsUrl that serves Istio metrics', { skip }, async (t) => {
    const r = await mesh!.weft(['proxy-status', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const items = JSON.parse(r.stdout) as Array<{ id: string; metricsUrl?: string }>;
    assert.equal(items.length, PROXIES);
    for (const p of items)
      assert.match(p.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/stats\/prometheus$/, p.id);
    const reviews = items.find((p) => p.id === 'reviews-v2-0.default')!;
    const text = await waitFor('reviews-v2 to report a request', async () => {
      const body = await (await fetch(reviews.metricsUrl!)).text();
      return body.includes('istio_requests_total{reporter="destination"') && body;
    });
    assert.match(
      text,
      /istio_requests_total\{reporter="destination",source_workload="productpage-v1",.*source_workload_namespace="default",source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage",source_app="productpage",source_version="v1",.*destination_workload="reviews-v2",.*destination_app="reviews",destination_version="v2",destination_service="reviews\.default\.svc\.cluster\.local",.*connection_security_policy="mutual_tls"\} \d+/,
    );
    if (hasPromtool()) {
      const check = promtoolCheck(text, [ISTIO_UNIT_LINT]);
      assert.ok(check.ok, `promtool found:\n${check.problems.join('\n')}`);
    } else t.diagnostic('promtool missing: exposition lint skipped');
  });

  test(
    'Prometheus finds every proxy through http_sd and scrapes them (OpenMetrics) and the control plane',
    { skip },
    async () => {
      await waitFor(
        'every proxy target up',
        async () => (await prom!.scalar('count(up{job="weft-proxies"} == 1)')) === PROXIES,
        30_000,
      );
      const targets = await prom!.query('up{job="weft-proxies"}');
      assert.ok(
        targets.some(
          (s) =>
            s.metric.proxy === 'istio-ingressgateway-0.istio-system' && s.metric.namespace === 'istio-system',
        ),
      );
      await waitFor(
        'control plane up',
        async () => (await prom!.scalar('up{job="weft-control-plane"}')) === 1,
        15_000,
      );
      assert.equal(await prom!.scalar('sum(weft_control_plane_proxies_connected)'), PROXIES);
      assert.ok((await prom!.scalar('sum(pilot_xds_pushes)'))! >= PROXIES);
      assert.ok((await prom!.scalar('citadel_server_csr_count'))! >= PROXIES);
      assert.ok((await prom!.scalar('min(weft_proxy_certificate_expiry_seconds)'))! > 3600);
      assert.equal(await prom!.scalar('count(weft_proxy_config_info)'), PROXIES);
      assert.ok((await prom!.scalar('min(weft_proxy_config_acks_total)'))! >= 1);
      assert.equal(await prom!.scalar('sum(weft_proxy_config_nacks_total)'), 0);
    },
  );

  test('request rate per destination service, from the destination side', { skip }, async (t) => {
    const q = 'sum by (destination_service) (rate(istio_requests_total{reporter="destination"}[30s]))';
    const rates = await waitFor(
      'a rate for every bookinfo service',
      async () => {
        const r = new Map(
          (await prom!.query(q)).map((s) => [s.metric.destination_service!, Number(s.value[1])]),
        );
        return SERVICES.every((s) => (r.get(s) ?? 0) > 0) && r;
      },
      45_000,
    );
    t.diagnostic(`req/s: ${[...rates].map(([s, v]) => `${s.split('.')[0]}=${v.toFixed(1)}`).join(' ')}`);
  });

  test('p99 latency from histogram_quantile', { skip }, async (t) => {
    const p99 = await waitFor('a p99', async () => {
      const v = await prom!.scalar(
        'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket[30s])))',
      );
      return v !== undefined && Number.isFinite(v) && v > 0 && v;
    });
    const rps = await prom!.scalar('sum(rate(istio_requests_total{reporter="destination"}[10s]))');
    t.diagnostic(
      `p99 = ${p99.toFixed(1)} ms over all requests; ${rps?.toFixed(1)} req/s at the destination side`,
    );
    assert.ok(p99 < 60_000);
  });

  test(
    'HighErrorRate fires while ratings aborts 50% and clears after the fault is removed',
    { skip },
    async (t) => {
      const firing = async () =>
        (await prom!.alerts()).some((a) => a.labels.alertname === 'HighErrorRate' && a.state === 'firing');
      assert.equal(await firing(), false, 'no alert before the fault');
      await writeFile(join(work, 'fault.yaml'), FAULT);
      const applied = await mesh!.weft(['apply', '-f', join(work, 'fault.yaml')]);
      assert.equal(applied.code, 0, applied.stderr);
      let start = Date.now();
      await waitFor('HighErrorRate to fire', firing, 60_000);
      t.diagnostic(`fired ${((Date.now() - start) / 1000).toFixed(1)} s after the fault was applied`);
      // Hold the fault until the 20 s window is mostly faulty: the ratio settles near its expected ~0.15
      // (one 500 per six destination-side requests with this traffic mix) and the alert keeps firing.
      const ratioExpr = HIGH_ERROR_RATE.replace(/ > 0\.05$/, '');
      const ratio = await waitFor(
        'the error ratio to settle',
        async () => {
          const v = await prom!.scalar(ratioExpr);
          return v !== undefined && v > 0.1 && v;
        },
        40_000,
      );
      assert.ok(await firing(), 'still firing while the fault is in place');
      // The client side reports the aborts it injected, with Envoy's flag.
      const injected = await prom!.scalar(
        'sum(istio_requests_total{reporter="source",source_workload="productpage-v1",destination_service_name="ratings",response_code="500",response_flags="FI"})',
      );
      assert.ok((injected ?? 0) > 0, 'aborts counted with response_flags="FI"');
      t.diagnostic(`error ratio with the fault: ${ratio.toFixed(3)}`);

      const deleted = await mesh!.weft(['delete', 'vs', 'ratings']);
      assert.equal(deleted.code, 0, deleted.stderr);
      start = Date.now();
      await waitFor('HighErrorRate to clear', async () => !(await firing()), 90_000);
      t.diagnostic(`cleared ${((Date.now() - start) / 1000).toFixed(1)} s after the fault was deleted`);
      assert.ok((traffic?.statuses.get(500) ?? 0) > 0, 'the ingress saw the aborts');
    },
  );
});
