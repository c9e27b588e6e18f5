// The JSON the dashboard and `weft stat` read: the graph (nodes from the registry and the config store,
// edges from the aggregator), golden metrics per service or workload, config with its problems, proxies
// with sync state and certificate expiry, and authorization decisions.
import type { Registry, Instance } from '../registry/registry.js';
import type { ConfigStore } from '../store/file-store.js';
import type { PushServer } from '../push/server.js';
import type { Service } from '../../config/types.js';
import { analyze } from '../../config/analyze.js';
import { metricsUrl } from '../api/metrics.js';
import {
  UNKNOWN_NODE,
  serviceNode,
  workloadNode,
  type Aggregator,
  type EdgeView,
  type SeriesView,
} from './aggregator.js';
import type { Point } from './series.js';
import type { TcpEdgeView } from './tcp-edges.js';

export interface ViewDeps {
  registry: Registry;
  store: ConfigStore;
  push: PushServer;
  aggregator: Aggregator;
  domain?: string; // cluster.local
}

export interface GraphNode {
  id: string;
  kind: 'workload' | 'service' | 'external';
  name: string;
  namespace: string;
  gateway?: boolean;
  /** Instances (workloads) or endpoints (services), and how many are ready. */
  instances: number;
  ready: number;
  /** Endpoints some proxy has ejected (outlier detection), services only. */
  ejected: number;
  health: 'healthy' | 'degraded' | 'unhealthy' | 'idle' | 'unknown';
}

export interface Graph {
  generatedAt: string;
  /** Where the numbers come from: the proxies' own metrics endpoints, or a Prometheus server. */
  metrics: { source: 'proxies' | 'prometheus'; url?: string; error?: string };
  windowSeconds: number;
  nodes: GraphNode[];
  /** HTTP edges (requests) and TCP edges (`protocol: "tcp"`: bytes and connections). */
  edges: Array<EdgeView | TcpEdgeView>;
}

const selects = (sel: Record<string, string> | undefined, labels: Record<string, string>) =>
  !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);

function health(instances: number, ready: number, ejected = 0): GraphNode['health'] {
  if (instances === 0) return 'idle';
  if (ready === 0) return 'unhealthy';
  return ready < instances || ejected > 0 ? 'degraded' : 'healthy';
}

/** `outbound|9080|v1|reviews.default.svc.cluster.local` → its host. */
const clusterHost = (name: string) => (name.startsWith('outbound|') ? name.split('|')[3] : undefined);

export class DashboardViews {
  constructor(private readonly d: ViewDeps) {}

  private get domain() {
    return this.d.domain ?? 'cluster.local';
  }

  private services(): Array<{ svc: Service; host: string; endpoints: Instance[] }> {
    const instances = this.d.registry.list();
    return (this.d.store.list('Service') as Service[]).map((svc) => ({
      svc,
      host: `${svc.metadata.name}.${svc.metadata.namespace}.svc.${this.domain}`,
      endpoints: instances.filter(
        (i) => i.namespace === svc.metadata.namespace && selects(svc.spec.selector, i.labels),
      ),
    }));
  }

  private ejectionsByHost(): Map<string, number> {
    // Each proxy sees its own ejections; a service's count is the most any one client has ejected.
    const out = new Map<string, number>();
    for (const p of this.d.aggregator.proxyScrapes())
      for (const [cluster, n] of p.ejections) {
        const host = clusterHost(cluster);
        if (host && n > 0) out.set(host, Math.max(out.get(host) ?? 0, n));
      }
    return out;
  }

  graph(ticks = 5): Graph {
    const nodes = new Map<string, GraphNode>();
    const byWorkload = new Map<string, Instance[]>();
    for (const i of this.d.registry.list()) {
      const k = workloadNode(i.namespace, i.workload);
      byWorkload.set(k, [...(byWorkload.get(k) ?? []), i]);
    }
    for (const [id, list] of byWorkload) {
      const ready = list.filter((i) => i.ready).length;
      nodes.set(id, {
        id,
        kind: 'workload',
        name: list[0]!.workload,
        namespace: list[0]!.namespace,
        ...(list[0]!.kind === 'gateway' ? { gateway: true } : {}),
        instances: list.length,
        ready,
        ejected: 0,
        health: health(list.length, ready),
      });
    }
    const ejected = this.ejectionsByHost();
    for (const { svc, host, endpoints } of this.services()) {
      const ready = endpoints.filter((i) => i.ready).length;
      const ej = ejected.get(host) ?? 0;
      nodes.set(serviceNode(host), {
        id: serviceNode(host),
        kind: 'service',
        name: svc.metadata.name,
        namespace: svc.metadata.namespace,
        instances: endpoints.length,
        ready,
        ejected: ej,
        health: health(endpoints.length, ready, ej),
      });
    }
    const edges = this.d.aggregator.graphEdges(ticks);
    const tcp = this.d.aggregator.tcpEdges(ticks);
    for (const e of [...edges, ...tcp])
      for (const id of [e.source, e.target]) {
        if (nodes.has(id)) continue;
        const [kind, rest] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
        const [ns, name] = kind === 'wl' && rest.includes('/') ? rest.split('/') : ['', rest];
        nodes.set(id, {
          id,
          kind: id === UNKNOWN_NODE ? 'external' : kind === 'svc' ? 'service' : 'workload',
          name: id === UNKNOWN_NODE ? 'unknown' : name!,
          namespace: ns!,
          instances: 0,
          ready: 0,
          ejected: ejected.get(rest) ?? 0,
          health: 'unknown',
        });
      }
    const agg = this.d.aggregator;
    return {
      generatedAt: new Date().toISOString(),
      metrics: {
        source: agg.source,
        ...(agg.prometheusUrl ? { url: agg.prometheusUrl } : {}),
        ...(agg.prometheusError ? { error: agg.prometheusError } : {}),
      },
      windowSeconds: (ticks * this.d.aggregator.intervalMs) / 1000,
      nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
      edges: [...edges.filter((e) => e.requests > 0), ...tcp],
    };
  }

  /** Golden metrics per service or workload: the current window and the series over the ring. */
  stats(kind: 'service' | 'workload', ticks = 5) {
    const g = this.graph(ticks);
    const series = new Map<string, SeriesView>(
      this.d.aggregator.nodeSeries(kind, ticks).map((s) => [s.node, s]),
    );
    const zero: Point = { t: Date.now(), rps: 0, successRate: null, p50: null, p95: null, p99: null };
    const items = g.nodes
      .filter((n) => (kind === 'service' ? n.kind === 'service' : n.kind === 'workload'))
      .map((n) => {
        const s = series.get(n.id);
        return {
          name: n.name,
          namespace: n.namespace,
          node: n.id,
          ...(n.gateway ? { gateway: true } : {}),
          meshed: `${n.ready}/${n.instances}`,
          instances: n.instances,
          ready: n.ready,
          ejected: n.ejected,
          ...(s?.current ?? zero),
          series: s?.series ?? [],
        };
      });
    return { kind, windowSeconds: g.windowSeconds, intervalMs: this.d.aggregator.intervalMs, items };
  }

  config() {
    const resources = this.d.store.list();
    const problems = analyze(resources);
    const key = (kind: string | undefined, name: string | undefined) => `${kind}/${name}`;
    const byResource = new Map<string, typeof problems>();
    for (const p of problems) {
      const k = key(p.kind, p.name);
      byResource.set(k, [...(byResource.get(k) ?? []), p]);
    }
    const items = resources.map((r) => {
      const mine = byResource.get(key(r.kind, `${r.metadata.namespace}/${r.metadata.name}`)) ?? [];
      return { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name, problems: mine };
    });
    const known = new Set(items.map((i) => key(i.kind, `${i.namespace}/${i.name}`)));
    return {
      items,
      /** Problems not tied to one stored resource (mesh-wide conflicts). */
      other: problems.filter((p) => !known.has(key(p.kind, p.name))),
      counts: {
        resources: items.length,
        errors: problems.filter((p) => p.severity === 'error').length,
        warnings: problems.filter((p) => p.severity === 'warning').length,
      },
    };
  }

  proxies() {
    const scrapes = new Map(this.d.aggregator.proxyScrapes().map((p) => [p.id, p]));
    return {
      items: this.d.push.statuses().map((s) => {
        const sc = scrapes.get(s.id);
        return {
          ...s,
          ready: this.d.registry.get(s.id)?.ready ?? false,
          synced: s.served !== undefined && s.served === s.acked,
          ...(metricsUrl(s) ? { metricsUrl: metricsUrl(s) } : {}),
          ...(sc?.certExpiry ? { certExpiry: new Date(sc.certExpiry).toISOString() } : {}),
          ...(sc?.error ? { scrapeError: sc.error } : {}),
        };
      }),
    };
  }

  authz() {
    const items = [];
    for (const p of this.d.aggregator.proxyScrapes())
      for (const a of p.authz)
        items.push({ proxy: p.id, workload: p.workload, namespace: p.namespace, ...a });
    return {
      items: items.sort((a, b) => a.proxy.localeCompare(b.proxy) || a.policy.localeCompare(b.policy)),
    };
  }
}
