// Virtual hosts: the names a request's Host may carry, each with its ordered routes. Sidecars get one
// per service port; gateways get one per VirtualService bound to the Gateway server.
import type { GatewayListener, Route, VirtualHost } from '../../model/snapshot.js';
import { clusterName } from '../../model/snapshot.js';
import type { Gateway, GatewayServer, VirtualService } from '../types.js';
import { fqdn, hostMatches, serviceAliases } from '../hosts.js';
import { compileHttpRoutes, gatewayRef } from './routes.js';
import { ISTIO_DEFAULT_RETRY } from './http-policies.js';
import { serviceEntryVirtualHosts } from './service-entries.js';
import { labelsMatch, type MeshIndex } from './inputs.js';
import { addGatewayApiListeners, gammaRoutes } from './gateway-api.js';

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

export function sidecarVirtualHosts(
  index: MeshIndex,
  clientNamespace: string,
  clientLabels: Record<string, string>,
): VirtualHost[] {
  const meshVs = ordered(index.virtualServices.filter(boundToMesh));
  const out: VirtualHost[] = [];
  for (const svc of index.services.values()) {
    const { name, namespace } = svc.resource.metadata;
    const aliases = serviceAliases(name, namespace, clientNamespace, index.mesh.domain);
    const vs = meshVs.find((v) =>
      (v.spec.hosts ?? []).some((h) => fqdn(h, v.metadata.namespace, index.mesh.domain) === svc.fqdn),
    );
    svc.resource.spec.ports.forEach((p, i) => {
      const domains = aliases.map((a) => `${a}:${p.port}`);
      if (i === 0) domains.push(...aliases); // a Host without a port means the service's first port
      // A VirtualService wins over Gateway API (GAMMA) routes for the same host, as in Istio.
      const routes: Route[] = vs
        ? compileHttpRoutes(vs, index, { port: p.port, sourceLabels: clientLabels })
        : (gammaRoutes(index, svc, p.port, clientNamespace) ?? [
            {
              name: 'default',
              matches: [],
              action: {
                kind: 'forward',
                clusters: [{ cluster: clusterName(p.port, undefined, svc.fqdn), weight: 100 }],
                retry: ISTIO_DEFAULT_RETRY,
              },
            },
          ]);
      out.push({ name: `${svc.fqdn}:${p.port}`, domains, routes });
    });
  }
  out.push(...serviceEntryVirtualHosts(index, meshVs, clientLabels));
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

function intersects(a: string[], b: string[]): boolean {
  return a.some((x) => b.some((y) => hostMatches(x, y) || hostMatches(y, x)));
}

export function gatewayListeners(index: MeshIndex, labels: Record<string, string>): GatewayListener[] {
  const byPort = new Map<number, GatewayListener>();
  const gateways = index.gateways.filter((g) => g.spec.selector && labelsMatch(g.spec.selector, labels));
  for (const g of gateways) {
    const ref = `${g.metadata.namespace}/${g.metadata.name}`;
    const bound = ordered(
      index.virtualServices.filter((vs) =>
        (vs.spec.gateways ?? []).some((r) => gatewayRef(r, vs.metadata.namespace) === ref),
      ),
    );
    for (const server of g.spec.servers) {
      if (!['HTTP', 'HTTP2', 'GRPC'].includes(server.port.protocol.toUpperCase())) continue;
      const port = server.port.number;
      const listener = byPort.get(port) ?? {
        name: `${ref}:${port}`,
        bind: server.bind ?? '127.0.0.1',
        port,
        virtualHosts: [],
      };
      byPort.set(port, listener);
      for (const vs of bound) {
        const vsHosts = (vs.spec.hosts ?? []).map((h) => h.toLowerCase());
        if (!intersects(vsHosts, serverHostsFor(server, g.metadata.namespace, vs.metadata.namespace)))
          continue;
        listener.virtualHosts.push({
          name: `${vs.metadata.namespace}/${vs.metadata.name}:${port}`,
          domains: vsHosts.flatMap((h) => (h === '*' ? ['*'] : [h, `${h}:${port}`])),
          routes: compileHttpRoutes(vs, index, { port, gateway: ref, sourceLabels: labels }),
        });
      }
    }
  }
  addGatewayApiListeners(byPort, index, labels); // Gateway API Gateways, on the ingress gateway only
  return [...byPort.values()];
}

export type { Gateway };
