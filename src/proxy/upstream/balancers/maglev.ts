// Maglev consistent hashing (Google's paper, Envoy's MAGLEV): a lookup table of prime size filled from
// each endpoint's permutation, so every endpoint owns an almost equal share and a change of endpoints
// moves few entries. Lookup is one array index.
import type { Endpoint } from '../../../model/snapshot.js';
import { murmur3 } from '../../../lib/hash.js';

export const DEFAULT_TABLE_SIZE = 65537; // Envoy's default, prime

export class Maglev {
  private readonly table: Array<Endpoint | undefined>;

  constructor(endpoints: readonly Endpoint[], size = DEFAULT_TABLE_SIZE) {
    const m = size;
    this.table = new Array<Endpoint | undefined>(m);
    const n = endpoints.length;
    if (n === 0) return;
    const offset = endpoints.map((e) => murmur3(e.instance, 0xdeadbeef) % m);
    const skip = endpoints.map((e) => (murmur3(e.instance, 0x5eed) % (m - 1)) + 1);
    const next = new Array<number>(n).fill(0);
    let filled = 0;
    while (filled < m) {
      for (let i = 0; i < n && filled < m; i++) {
        let c = (offset[i]! + next[i]! * skip[i]!) % m;
        while (this.table[c] !== undefined) {
          next[i]!++;
          c = (offset[i]! + next[i]! * skip[i]!) % m;
        }
        this.table[c] = endpoints[i];
        next[i]!++;
        filled++;
      }
    }
  }

  pick(hash: number): Endpoint | undefined {
    return this.table[hash % this.table.length];
  }
}
