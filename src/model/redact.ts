// Snapshots shown to people (weft proxy-config, /config_dump) never include private keys, as Envoy's
// config dump redacts secrets: the key material stays in the proxy.
import type { ProxySnapshot } from './snapshot.js';

export const REDACTED = '[redacted]';

export function redactSnapshot(s: ProxySnapshot): ProxySnapshot {
  if (!s.gateways.some((g) => g.tls?.servers.some((t) => t.privateKey?.pem))) return s;
  return {
    ...s,
    gateways: s.gateways.map((g) =>
      g.tls
        ? {
            ...g,
            tls: {
              ...g.tls,
              servers: g.tls.servers.map((t) =>
                t.privateKey?.pem ? { ...t, privateKey: { ...t.privateKey, pem: REDACTED } } : t,
              ),
            },
          }
        : g,
    ),
  };
}
