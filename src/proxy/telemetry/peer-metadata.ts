// Peer metadata exchange (Istio's x-envoy-peer-metadata, simplified): the client's sidecar tells the
// server's sidecar which workload, app and version is calling, so server-side metrics can name the
// source. The server trusts it only as far as the mTLS identity goes: the header is dropped before the
// app sees it, and the caller's namespace always comes from its certificate.
import type { ProxyIdentity } from '../../model/snapshot.js';

export const PEER_METADATA_HEADER = 'x-weft-peer-metadata';

export interface PeerMetadata {
  workload: string;
  app?: string;
  version?: string;
}

/** Encoded once per snapshot. */
export function encodePeerMetadata(p: ProxyIdentity): string {
  const parts = [`workload=${encodeURIComponent(p.workload)}`];
  if (p.labels.app) parts.push(`app=${encodeURIComponent(p.labels.app)}`);
  if (p.labels.version) parts.push(`version=${encodeURIComponent(p.labels.version)}`);
  return parts.join(';');
}

// A sidecar sends its callers the same header value on every request: decoding it once per distinct value
// saves a split, URI decoding and two objects per inbound request. Bounded: a plaintext (PERMISSIVE)
// client may send any value, so the cache is dropped whenever it fills.
const CACHE_MAX = 256;
const cache = new Map<string, PeerMetadata | undefined>();

export function decodePeerMetadata(v: string | string[] | undefined): PeerMetadata | undefined {
  if (typeof v !== 'string' || v.length > 512) return undefined;
  if (cache.has(v)) return cache.get(v);
  const decoded = decode(v);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(v, decoded === undefined ? undefined : Object.freeze(decoded));
  return decoded;
}

function decode(v: string): PeerMetadata | undefined {
  const out: Record<string, string> = {};
  for (const part of v.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try {
      out[part.slice(0, eq)] = decodeURIComponent(part.slice(eq + 1));
    } catch {
      return undefined;
    }
  }
  if (!out.workload) return undefined;
  return {
    workload: out.workload,
    ...(out.app ? { app: out.app } : {}),
    ...(out.version ? { version: out.version } : {}),
  };
}
