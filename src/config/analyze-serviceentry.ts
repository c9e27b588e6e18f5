// Istio's ConflictingServiceEntryProtocolAnalyzer (IST0177): ServiceEntries visible in one namespace that
// give the same host and port different protocols. A proxy can speak only one protocol to a host:port,
// so which one wins depends on order and some clients break. Scopes as Istio computes them: "*" when
// exported everywhere (the default), else the namespaces listed ("." = its own), and an entry exported
// everywhere also meets the same host and port in any narrower scope.
import { ErrorCodes } from '../lib/errors.js';
import type { Resource, ServiceEntry } from './types.js';
import type { ResourceReport } from './analyze-routes.js';

type Entry = { se: ServiceEntry; protocol: string; port: number };

export function checkServiceEntryProtocols(resources: Resource[], report: ResourceReport): void {
  const index = new Map<string, { scope: string; host: string; port: number; entries: Entry[] }>();
  for (const se of resources) {
    if (se.kind !== 'ServiceEntry') continue;
    const ns = se.metadata.namespace;
    const exportTo = se.spec.exportTo ?? [];
    const scopes =
      exportTo.length === 0 || exportTo.includes('*')
        ? ['*']
        : [...new Set(exportTo.map((e) => (e === '.' ? ns : e)))];
    for (const scope of scopes)
      for (const host of se.spec.hosts ?? [])
        (se.spec.ports ?? []).forEach((p, i) => {
          if (!p) return;
          const k = `${scope}|${host}|${p.number}`;
          const e = index.get(k) ?? { scope, host, port: p.number, entries: [] };
          e.entries.push({ se, protocol: (p.protocol ?? '').toUpperCase(), port: i });
          index.set(k, e);
        });
  }
  const reported = new Set<ServiceEntry>();
  for (const { scope, host, port, entries } of index.values()) {
    const all = scope === '*' ? entries : [...entries, ...(index.get(`*|${host}|${port}`)?.entries ?? [])];
    const protocols = [...new Set(all.map((e) => e.protocol || '(unset)'))].sort();
    if (protocols.length < 2) continue;
    const names = [...new Set(all.map((e) => `${e.se.metadata.namespace}/${e.se.metadata.name}`))].sort();
    for (const e of all) {
      if (reported.has(e.se)) continue;
      reported.add(e.se);
      report(
        e.se,
        ErrorCodes.ANALYZE_PROTOCOL_CONFLICT,
        `ServiceEntries ${names.join(', ')} define host ${host} port ${port} with different protocols (${protocols.join(', ')}): only one applies, so some clients get the wrong one; use one protocol for the port or keep the host in one ServiceEntry (IST0177 ConflictingServiceEntryProtocol)`,
        ['spec', 'ports', e.port, 'protocol'],
        'warning',
      );
    }
  }
}
