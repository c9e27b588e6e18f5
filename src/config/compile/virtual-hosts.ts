// Virtual hosts: the names a request's Host may carry, each with its ordered routes. Sidecars get one
// per service port; gateways get one per VirtualService bound to the Gateway server.
import type { GatewayListener, Route, VirtualHost } from '../../model/snapshot.js';
import { clusterName } from '../../model/snapshot.js';
import type { Gateway, GatewayServer, VirtualService } from '../types.js';
import { fqdn, serviceAliases } from '../hosts.js';
import { compileHttpRoutes, gatewayRef } from './routes.js';
import { ISTIO_DEFAULT_RETRY } from './http-policies.js';
import { serviceEntryVirtualHosts } from './service-entries.js';
import { labelsMatch, portProtocol, type MeshIndex } from './inputs.js';
import { meshTcpRoute } from './tcp-routes.js';
import { addGatewayApiListeners, gammaRoutes } from './gateway-api.js';
import type { SidecarScope } from './sidecar-scope.js';
import {
  compileServerTls,
  intersectHosts,
  passthroughRoutes,
  plainHosts,
  serverKind,
  serverTls,
  terminatedTcpRoute,
} from './gateway-tls.js';

/** VirtualServices in a stable order (namespace/name), as Istio orders by creation. */
function ordered(vss: VirtualService[]): VirtualService[] {
  return [...vss].sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
}

function boundToMesh(vs: VirtualService): boolean {
  const gws = vs.spec.gateways;
  return !gws || gws.length === 0 || gws.includes('mesh');
}

/**
 * A sidecar's outbound virtual hosts: every service port (and ServiceEntry host) it knows. With a
 * Sidecar resource (`scope`), only what its egress hosts import, and only the VirtualServices it uses;
 * the rest is unknown to this proxy and follows the outbound traffic policy.
 */
export function sidecarVirtualHosts(
  index: MeshIndex,
  clientNamespace: string,
  clientLabels: Record<string, string>,
  scope?: SidecarScope,
): VirtualHost[] {
  const meshVs = ordered(index.virtualServices.filter((vs) => boundToMesh(vs) && (!scope || scope.uses(vs))));
  const out: VirtualHost[] = [];
  for (const svc of index.services.values()) {
    const { name, namespace } = svc.resource.metadata;
    const aliases = serviceAliases(name, namespace, clientNamespace, index.mesh.domain);
    const vs = meshVs.find((v) =>
      (v.spec.hosts ?? []).some((h) => fqdn(h, v.metadata.namespace, index.mesh.domain) === svc.fqdn),
    );
    svc.resource.spec.ports.forEach((p, i) => {
      if (scope && !scope.knows(namespace, svc.fqdn, p.port)) return;
      const domains = aliases.map((a) => `${a}:${p.port}`);
      if (i === 0) domains.push(...aliases); // a Host without a port means the service's first port
      const fallback: Route = {
        name: 'default',
        matches: [],
        action: {
          kind: 'forward',
          clusters: [{ cluster: clusterName(p.port, undefined, svc.fqdn), weight: 100 }],
          retry: ISTIO_DEFAULT_RETRY,
        },
      };
      // A VirtualService wins over Gateway API (GAMMA) routes for the same host, as in Istio. On an
      // opaque TCP port only its tcp rules apply, and without one that fits the connection goes to the
      // service itself.
      const routes: Route[] = vs
        ? portProtocol(p) === 'tcp'
          ? [meshTcpRoute(vs, index, p.port, clientLabels) ?? fallback]
          : compileHttpRoutes(vs, index, { port: p.port, sourceLabels: clientLabels })
        : (gammaRoutes(index, svc, p.port, clientNamespace) ?? [fallback]);
      out.push({ name: `${svc.fqdn}:${p.port}`, domains, routes });
    });
  }
  const entries = serviceEntryVirtualHosts(index, meshVs, clientLabels);
  if (!scope) out.push(...entries);
  else {
    // A ServiceEntry host is known in the namespaces of the ServiceEntries that declare it.
    const nsOf = new Map<string, string[]>();
    for (const se of index.serviceEntries)
      for (const h of se.spec.hosts) {
        const host = index.resolve(h, se.metadata.namespace);
        nsOf.set(host, [...(nsOf.get(host) ?? []), se.metadata.namespace]);
      }
    for (const vh of entries) {
      const colon = vh.name.lastIndexOf(':');
      const host = vh.name.slice(0, colon);
      const port = Number(vh.name.slice(colon + 1));
      if ((nsOf.get(host) ?? []).some((ns) => scope.knows(ns, host, port))) out.push(vh);
    }
  }
  return out;
}

/**
 * Gateway server hosts may be written "namespace/host": only VirtualServices from that namespace may
 * bind to that host ("." = the Gateway's own namespace, "*" or no prefix = any namespace).
 */
function serverHostsFor(server: GatewayServer, gatewayNs: string, vsNs: string): string[] {
  return server.hosts.flatMap((h) => {
    const slash = h.indexOf('/');
    if (slash < 0) return [h.toLowerCase()];
    const ns = h.slice(0, slash);
    const allowed = ns === '*' || ns === vsNs || (ns === '.' && vsNs === gatewayNs);
    return allowed ? [h.slice(slash + 1).toLowerCase()] : [];
  });
}

function domainsOf(hosts: string[], port: number): string[] {
  return hosts.flatMap((h) => (h === '*' ? ['*'] : [h, `${h}:${port}`]));
}

/** The namespace of the gateway proxy with these labels (where its credentialName Secrets live). */
function proxyNamespaceOf(index: MeshIndex, labels: Record<string, string>, fallback: string): string {
  const same = (l: Record<string, string> | undefined) =>
    !!l && Object.keys(l).length === Object.keys(labels).length && labelsMatch(labels, l);
  return (
    index.instances.find((i) => i.kind === 'gateway' && same(i.labels))?.namespace ??
    [...index.workloads.values()].find((w) => same(w.metadata.labels))?.metadata.namespace ??
    fallback
  );
}

/** The hosts one VirtualService serves on one gateway route table, and its routes there. */
interface HostEntry {
  name: string;
  hosts: string[];
  routes: Route[];
}

/** Istio's isCatchAllRoute: no match at all, or only a path prefix "/" (nothing on headers or query). */
function isCatchAll(r: Route): boolean {
  if (r.matches.length === 0) return true;
  return r.matches.every((m) => {
    const { path, ignoreCase: _i, ...rest } = m;
    return (
      Object.keys(rest).length === 0 &&
      (path === undefined || path.prefix === '/' || path.segmentPrefix === '/')
    );
  });
}

/**
 * One route table's virtual hosts. A host claimed by one VirtualService stays in that VirtualService's
 * virtual host; a host several claim gets one virtual host with all their routes, in order, catch-all
 * routes moved last (Istio's vHostDedupMap and SortVHostRoutes), so two VirtualServices on "*" at one
 * gateway (Istio's httpbin and helloworld samples together) both serve.
 */
function mergeSharedHosts(entries: HostEntry[], port: number): VirtualHost[] {
  const claims = new Map<string, HostEntry[]>();
  for (const e of entries)
    for (const h of e.hosts) {
      const list = claims.get(h) ?? [];
      if (!list.includes(e)) list.push(e);
      claims.set(h, list);
    }
  const out: VirtualHost[] = [];
  for (const e of entries) {
    const own = e.hosts.filter((h) => claims.get(h)!.length === 1);
    if (own.length) out.push({ name: e.name, domains: domainsOf(own, port), routes: e.routes });
  }
  for (const [h, list] of claims) {
    if (list.length < 2) continue;
    const routes = list.flatMap((e) => e.routes);
    out.push({
      name: `${h}:${port}`,
      domains: domainsOf([h], port),
      routes: [...routes.filter((r) => !isCatchAll(r)), ...routes.filter(isCatchAll)],
    });
  }
  return out;
}

const HTTPS_REDIRECT: Route = {
  name: 'https-redirect',
  matches: [],
  action: { kind: 'redirect', redirect: { scheme: 'https', status: 301 } },
};

/**
 * Istio Gateway servers selecting this proxy, one listener per port. Plain HTTP servers on a port share
 * one route table (Istio's RDS "http.<port>"); each HTTPS server keeps its own virtual hosts, reached only
 * through a TLS handshake for one of its hosts. A port is plain or TLS: a server of the other kind on a
 * taken port is skipped, as is a TLS server repeating a host another already has on that port (Istio).
 * `proxyNamespace` is where credentialName Secrets are read; by default the namespace of the gateway
 * instance (or Workload) carrying these labels.
 */
export function gatewayListeners(
  index: MeshIndex,
  labels: Record<string, string>,
  proxyNamespace?: string,
): GatewayListener[] {
  const byPort = new Map<number, GatewayListener>();
  const tlsHostsByPort = new Map<number, Set<string>>();
  const plainEntries = new Map<number, HostEntry[]>();
  const gateways = index.gateways.filter((g) => g.spec.selector && labelsMatch(g.spec.selector, labels));
  for (const g of gateways) {
    const ref = `${g.metadata.namespace}/${g.metadata.name}`;
    const bound = ordered(
      index.virtualServices.filter((vs) =>
        (vs.spec.gateways ?? []).some((r) => gatewayRef(r, vs.metadata.namespace) === ref),
      ),
    );
    for (const server of g.spec.servers) {
      const kind = serverKind(server);
      if (kind === 'other') continue;
      const port = server.port.number;
      const existing = byPort.get(port);
      // One kind per port, the first server's (Istio): plain HTTP, TLS, or plain TCP.
      if (existing && (existing.tcpRoute !== undefined || kind === 'tcp')) continue;
      if (existing && (existing.tls !== undefined) !== (kind !== 'http')) continue; // plain vs TLS conflict
      if (kind === 'tcp') {
        // The bytes go where the first matching VirtualService tcp route says; none: connections are closed.
        const route = terminatedTcpRoute(
          server,
          ref,
          bound,
          index,
          (vs) => serverHostsFor(server, g.metadata.namespace, vs.metadata.namespace),
          gatewayRef,
        );
        byPort.set(port, {
          name: `${ref}:${port}`,
          bind: server.bind ?? '127.0.0.1',
          port,
          virtualHosts: [],
          tcpRoute: route ?? { name: `${ref}:${port}`, clusters: [] },
        });
        continue;
      }
      if (kind !== 'http') {
        const taken = tlsHostsByPort.get(port) ?? new Set<string>();
        if (plainHosts(server).some((h) => taken.has(h))) continue; // duplicate SNI host on this port
        for (const h of plainHosts(server)) taken.add(h);
        tlsHostsByPort.set(port, taken);
      }
      const listener: GatewayListener = existing ?? {
        name: `${ref}:${port}`,
        bind: server.bind ?? '127.0.0.1',
        port,
        virtualHosts: [],
        ...(kind === 'http' ? {} : { tls: { servers: [] } }),
      };
      byPort.set(port, listener);
      const hostsFor = (vs: VirtualService) =>
        serverHostsFor(server, g.metadata.namespace, vs.metadata.namespace);

      if (kind === 'http' && serverTls(server)?.httpsRedirect) {
        // Istio's require_tls: every request to this server's hosts is sent to https.
        listener.virtualHosts.push({
          name: `https-redirect:${ref}/${server.port.name ?? port}`,
          domains: domainsOf(plainHosts(server), port),
          routes: [HTTPS_REDIRECT],
        });
        continue;
      }
      if (kind === 'tls-terminate') {
        const t = compileServerTls(server, {
          index,
          gateway: g,
          proxyNamespace: proxyNamespace ?? proxyNamespaceOf(index, labels, g.metadata.namespace),
        });
        const route = terminatedTcpRoute(server, ref, bound, index, hostsFor, gatewayRef);
        if (route) t.tcpRoute = route;
        listener.tls!.servers.push(t);
        continue;
      }
      if (kind === 'passthrough') {
        const t = compileServerTls(server, {
          index,
          gateway: g,
          proxyNamespace: proxyNamespace ?? proxyNamespaceOf(index, labels, g.metadata.namespace),
        });
        if (t.mode === 'PASSTHROUGH')
          t.tlsRoutes = passthroughRoutes(server, ref, bound, index, hostsFor, gatewayRef);
        listener.tls!.servers.push(t);
        continue;
      }
      const entries: HostEntry[] = [];
      for (const vs of bound) {
        if (!vs.spec.http?.length) continue;
        const hosts = intersectHosts(
          hostsFor(vs),
          (vs.spec.hosts ?? []).map((h) => h.toLowerCase()),
        );
        if (hosts.length === 0) continue;
        entries.push({
          name: `${vs.metadata.namespace}/${vs.metadata.name}:${port}`,
          hosts,
          routes: compileHttpRoutes(vs, index, { port, gateway: ref, sourceLabels: labels }),
        });
      }
      if (kind === 'https') {
        const t = compileServerTls(server, {
          index,
          gateway: g,
          proxyNamespace: proxyNamespace ?? proxyNamespaceOf(index, labels, g.metadata.namespace),
        });
        // Each HTTPS server has its own route table: name its virtual hosts after the server.
        const vhosts = mergeSharedHosts(entries, port);
        for (const vh of vhosts) vh.name = `${vh.name}@${t.name}`;
        t.virtualHosts = vhosts.map((vh) => vh.name);
        listener.tls!.servers.push(t);
        listener.virtualHosts.push(...vhosts);
      } else {
        plainEntries.set(port, [...(plainEntries.get(port) ?? []), ...entries]);
      }
    }
  }
  // Plain HTTP servers on one port share one table: redirects first (they win a host), then the rest.
  for (const [port, entries] of plainEntries)
    byPort.get(port)!.virtualHosts.push(...mergeSharedHosts(entries, port));
  addGatewayApiListeners(byPort, index, labels); // Gateway API Gateways, on the ingress gateway only
  return [...byPort.values()];
}

export type { Gateway };
