import type { Endpoint } from '../../../model/snapshot.js';
import type { Balancer } from './balancer.js';

/** Each endpoint in turn. The cursor survives endpoint-set changes, so a push does not reset the rotation. */
export class RoundRobin implements Balancer {
  private next = 0;
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    if (endpoints.length === 0) return undefined;
    const ep = endpoints[this.next % endpoints.length];
    this.next = (this.next + 1) % 1_000_000_007;
    return ep;
  }
}
