// The dashboard on the control plane's admin port: the UI at /dashboard/ (static files from the package,
// the UI libraries from node_modules, nothing from a CDN) and its JSON API under /api/.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Registry } from '../registry/registry.js';
import type { ConfigStore } from '../store/file-store.js';
import type { PushServer } from '../push/server.js';
import type { Logger } from '../../lib/logger.js';
import { Aggregator } from './aggregator.js';
import { DashboardViews } from './views.js';
import { serveTap } from './tap.js';
import { tryParseDuration } from '../../config/duration.js';

export const DASHBOARD_PATH = '/dashboard/';

export interface DashboardDeps {
  registry: Registry;
  store: ConfigStore;
  push: PushServer;
  log: Logger;
  intervalMs?: number;
  /** Read metrics from this Prometheus (base URL) instead of scraping the proxies. */
  prometheusUrl?: string;
}

/** The package root (where package.json is), from this file in src/ or dist/src/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the dashboard module');
    dir = up;
  }
  return dir;
}

/** The UI is plain ES modules kept in the source tree (tsc does not copy them into dist/). */
export const UI_DIR = join(packageRoot(), 'src', 'control-plane', 'dashboard', 'ui');

const VENDOR: Record<string, string> = {
  'preact.mjs': 'preact',
  'hooks.mjs': 'preact/hooks',
  'htm.mjs': 'htm',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** `?window=30s` / `1m` (or a number of seconds) → ticks of the aggregator, at least one. */
function windowTicks(url: URL, intervalMs: number): number {
  const w = url.searchParams.get('window');
  const ms = !w ? 10_000 : /^\d+(\.\d+)?$/.test(w) ? Number(w) * 1000 : (tryParseDuration(w) ?? 10_000);
  return Math.max(1, Math.round(ms / intervalMs));
}

export class Dashboard {
  readonly aggregator: Aggregator;
  private readonly views: DashboardViews;
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly deps: DashboardDeps) {
    this.aggregator = new Aggregator({
      statuses: () => deps.push.statuses(),
      log: deps.log,
      ...(deps.intervalMs ? { intervalMs: deps.intervalMs } : {}),
      ...(deps.prometheusUrl ? { prometheus: deps.prometheusUrl } : {}),
    });
    this.views = new DashboardViews({ ...deps, aggregator: this.aggregator });
  }

  stop(): void {
    this.aggregator.stop();
  }

  /** Serves the request when it is the dashboard's; false lets the admin API go on. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    const p = url.pathname;
    if (p === '/dashboard' || p === '/') {
      res.writeHead(302, { location: DASHBOARD_PATH }).end();
      return true;
    }
    if (p.startsWith(DASHBOARD_PATH)) {
      void this.serveStatic(res, p.slice(DASHBOARD_PATH.length) || 'index.html');
      return true;
    }
    if (p === '/api/metrics-source' && req.method === 'POST') {
      void this.setSource(req, res);
      return true;
    }
    if (!p.startsWith('/api/') || req.method !== 'GET') return false;
    const ticks = windowTicks(url, this.aggregator.intervalMs);
    const api: Record<string, () => Promise<unknown>> = {
      '/api/graph': async () => (await this.aggregator.touch(5000), this.views.graph(ticks)),
      '/api/stats': async () => {
        await this.aggregator.touch(5000);
        const kind = url.searchParams.get('kind') === 'workload' ? 'workload' : 'service';
        return this.views.stats(kind, ticks);
      },
      '/api/config': async () => this.views.config(),
      '/api/proxies': async () => (await this.aggregator.touch(3000), this.views.proxies()),
      '/api/authz': async () => (await this.aggregator.touch(3000), this.views.authz()),
    };
    if (p === '/api/tap') {
      serveTap(req, res, url, () => this.deps.push.statuses());
      return true;
    }
    const h = api[p];
    if (!h) return false;
    h().then(
      (body) => json(res, 200, body),
      (e: Error) => json(res, 500, { message: e.message }),
    );
    return true;
  }

  /** `POST /api/metrics-source {"prometheusUrl": "http://…"}` (empty or absent: scrape the proxies). */
  private async setSource(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let url: string | undefined;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { prometheusUrl?: unknown };
      if (body.prometheusUrl !== undefined && typeof body.prometheusUrl !== 'string')
        throw new Error('prometheusUrl must be a string');
      url = body.prometheusUrl || undefined;
      if (url && !/^https?:$/.test(new URL(url).protocol)) throw new Error(`not an http(s) URL: ${url}`);
    } catch (e) {
      json(res, 400, { message: (e as Error).message });
      return;
    }
    await this.aggregator.setPrometheus(url);
    json(res, 200, { source: this.aggregator.source, ...(url ? { prometheusUrl: url } : {}) });
  }

  private async serveStatic(res: http.ServerResponse, rel: string): Promise<void> {
    let file: string | undefined;
    if (rel.startsWith('vendor/')) {
      const spec = VENDOR[rel.slice('vendor/'.length)];
      if (spec) file = fileURLToPath(import.meta.resolve(spec));
    } else {
      const full = normalize(join(UI_DIR, rel));
      if (full.startsWith(UI_DIR + sep)) file = full;
    }
    const type = file && TYPES[file.slice(file.lastIndexOf('.'))];
    if (!file || !type) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${rel}\n`);
      return;
    }
    try {
      let body = this.cache.get(file);
      if (!body) {
        body = await readFile(file);
        if (rel.startsWith('vendor/')) this.cache.set(file, body);
      }
      res.writeHead(200, {
        'content-type': type,
        'content-length': body.length,
        'cache-control': 'no-cache',
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${rel}\n`);
    }
  }
}
