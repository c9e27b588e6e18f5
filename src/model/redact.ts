// Snapshots shown to people (weft proxy-config, /config_dump) never include private keys, as Envoy's
// config dump redacts secrets: the key material stays in the proxy. Gateway server keys and client keys
// for TLS origination are replaced.
import type { PemSource, ProxySnapshot } from './snapshot.js';

export const REDACTED = '[redacted]';

const hide = (k: PemSource | undefined) => (k?.pem ? { ...k, pem: REDACTED } : k);

export function redactSnapshot(s: ProxySnapshot): ProxySnapshot {
  const gatewayKeys = s.gateways.some((g) =>
    g.tls?.servers.some((t) => t.privateKey?.pem || t.moreCertificates?.some((c) => c.privateKey.pem)),
  );
  const clientKeys = s.clusters.some((c) => c.originateTls?.privateKey?.pem);
  if (!gatewayKeys && !clientKeys) return s;
  return {
    ...s,
    gateways: s.gateways.map((g) =>
      g.tls
        ? {
            ...g,
            tls: {
              ...g.tls,
              servers: g.tls.servers.map((t) => ({
                ...t,
                ...(t.privateKey ? { privateKey: hide(t.privateKey) } : {}),
                ...(t.moreCertificates
                  ? {
                      moreCertificates: t.moreCertificates.map((c) => ({
                        ...c,
                        privateKey: hide(c.privateKey)!,
                      })),
                    }
                  : {}),
              })),
            },
          }
        : g,
    ),
    clusters: s.clusters.map((c) =>
      c.originateTls?.privateKey?.pem
        ? { ...c, originateTls: { ...c.originateTls, privateKey: hide(c.originateTls.privateKey) } }
        : c,
    ),
  };
}
