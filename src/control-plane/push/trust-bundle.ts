// The trust-bundle message of the push protocol. The control plane sends it on every stream it accepts and
// whenever the CA's bundle changes, so a root rotation reaches proxies at once instead of at their next
// half-life renewal; when the signing root changed it also asks them to renew, spread over a window.
import { createHash } from 'node:crypto';
import type { TrustBundleMessage } from '../../model/discovery.js';

/** Content-addressed, like snapshot versions: the same roots give the same version. */
export function trustBundleMessage(bundle: string[], reissueWithinMs?: number): TrustBundleMessage {
  const trustBundle = bundle.map((p) => p.trim() + '\n');
  const version = createHash('sha256').update(trustBundle.join('')).digest('hex').slice(0, 12);
  return {
    type: 'trust-bundle',
    version,
    trustBundle,
    ...(reissueWithinMs !== undefined ? { reissueWithinMs } : {}),
  };
}

/** How long a fleet of `proxies` gets to renew after a rotation: about 20 signings a second, which keeps
 * the control plane responsive, and never more than a minute. */
export function reissueWindowMs(proxies: number): number {
  return Math.min(60_000, 500 + 50 * proxies);
}
