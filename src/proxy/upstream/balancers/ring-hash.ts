// Ring hash (Ketama-style, Envoy's RING_HASH): each endpoint owns many points on a 32-bit ring; a
// request goes to the first point at or after its hash. When an endpoint joins or leaves, only the keys
// on its arcs move (about 1/N of them).
import type { Endpoint } from '../../../model/snapshot.js';
import { murmur3 } from '../../../lib/hash.js';

export class RingHash {
  private readonly points: Uint32Array;
  private readonly owners: Endpoint[];

  constructor(endpoints: readonly Endpoint[], minRingSize = 1024) {
    // Points per endpoint do not depend on how many endpoints there are: then a join or leave moves only
    // the keys on that endpoint's arcs. minimumRingSize raises the count for everyone.
    const perHost = Math.max(256, Math.ceil(minRingSize / 16));
    const entries: Array<[number, Endpoint]> = [];
    for (const ep of endpoints)
      for (let i = 0; i < perHost; i++) entries.push([murmur3(`${ep.instance}_${i}`), ep]);
    entries.sort((a, b) => a[0] - b[0]);
    this.points = Uint32Array.from(entries.map((e) => e[0]));
    this.owners = entries.map((e) => e[1]);
  }

  pick(hash: number): Endpoint | undefined {
    const pts = this.points;
    if (pts.length === 0) return undefined;
    let lo = 0;
    let hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === pts.length ? 0 : lo];
  }
}
