import type { Endpoint } from '../../../model/snapshot.js';
import type { Balancer } from './balancer.js';

/** Power of two choices on in-flight requests (Envoy's LEAST_REQUEST default). */
export class LeastRequest implements Balancer {
  constructor(
    private readonly active: (ep: Endpoint) => number,
    private readonly random: () => number = Math.random,
  ) {}
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    const n = endpoints.length;
    if (n <= 1) return endpoints[0];
    const a = endpoints[Math.floor(this.random() * n)]!;
    const b = endpoints[Math.floor(this.random() * n)]!;
    return this.active(b) < this.active(a) ? b : a;
  }
}
