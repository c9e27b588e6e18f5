// Service host names as Kubernetes and Istio read them: a short name is relative to a namespace.
// `reviews`, `reviews.default`, `reviews.default.svc` and `reviews.default.svc.cluster.local` all name
// one service when seen from namespace `default`.

export const DEFAULT_DOMAIN = 'cluster.local';

/** Expand a host written in `namespace` to its fully-qualified form. Wildcards and external names stay. */
export function fqdn(host: string, namespace: string, domain = DEFAULT_DOMAIN): string {
  const h = host.toLowerCase();
  if (h === '*' || h.startsWith('*.')) return h;
  const parts = h.split('.');
  if (parts.length === 1) return `${h}.${namespace}.svc.${domain}`;
  if (parts.length === 2) return `${h}.svc.${domain}`;
  if (parts.length === 3 && parts[2] === 'svc') return `${h}.${domain}`;
  return h;
}

/** The FQDN of a Kubernetes Service. */
export function serviceFqdn(name: string, namespace: string, domain = DEFAULT_DOMAIN): string {
  return `${name}.${namespace}.svc.${domain}`;
}

/**
 * Every name a client in `clientNamespace` may use for a service: the FQDN always, and the shorter
 * forms that expand to it from that namespace (`name` only from the same namespace, as in Kubernetes DNS).
 */
export function serviceAliases(
  name: string,
  namespace: string,
  clientNamespace: string,
  domain = DEFAULT_DOMAIN,
): string[] {
  const out = [`${name}.${namespace}.svc.${domain}`, `${name}.${namespace}.svc`, `${name}.${namespace}`];
  if (namespace === clientNamespace) out.push(name);
  return out;
}

/** Istio host matching: `*` matches all, `*.example.com` matches any name under it. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}
