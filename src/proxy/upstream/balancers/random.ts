import type { Endpoint } from '../../../model/snapshot.js';
import type { Balancer } from './balancer.js';

export class RandomBalancer implements Balancer {
  constructor(private readonly random: () => number = Math.random) {}
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    if (endpoints.length === 0) return undefined;
    return endpoints[Math.floor(this.random() * endpoints.length)];
  }
}
