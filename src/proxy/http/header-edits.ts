// Applies HeaderMutations in Envoy's order: remove, then set (replace), then add (append).
import type { OutgoingHttpHeaders } from 'node:http';
import type { HeaderMutation } from '../../model/snapshot.js';

export function applyHeaderEdits(h: OutgoingHttpHeaders, m: HeaderMutation | undefined): void {
  if (!m) return;
  if (m.remove) for (const k of m.remove) delete h[k];
  if (m.set) for (const [k, v] of m.set) h[k] = v;
  if (m.add) {
    for (const [k, v] of m.add) {
      const cur = h[k];
      if (cur === undefined) h[k] = v;
      else if (Array.isArray(cur)) h[k] = [...cur, v];
      else h[k] = [String(cur), v];
    }
  }
}
