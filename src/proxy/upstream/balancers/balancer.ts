// The balancer interface: pick one of the healthy endpoints for the next request.
import type { Endpoint } from '../../../model/snapshot.js';

export interface Balancer {
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined;
}
