// Circuit breaking (DestinationRule connectionPool): a cluster takes at most maxConnections active plus
// maxPendingRequests waiting requests (or http2MaxRequests in flight), and maxRetries concurrent retries.
// Over the limit a request fails fast with 503 and flag UO instead of queueing without bound.
import type { ConnectionPoolPolicy } from '../../model/snapshot.js';

export class ClusterLimits {
  private active = 0;
  private retries = 0;
  private readonly maxActive: number;
  private readonly maxRetries: number;

  constructor(p: ConnectionPoolPolicy | undefined) {
    const conns = p?.maxConnections ?? Infinity;
    const pending = p?.maxPendingRequests ?? Infinity;
    this.maxActive = Math.min(p?.maxRequests ?? Infinity, conns + pending);
    this.maxRetries = p?.maxRetries ?? Infinity;
  }

  tryAcquire(): boolean {
    if (this.active >= this.maxActive) return false;
    this.active++;
    return true;
  }

  release(): void {
    this.active = Math.max(0, this.active - 1);
  }

  tryRetry(): boolean {
    if (this.retries >= this.maxRetries) return false;
    this.retries++;
    return true;
  }

  retryDone(): void {
    this.retries = Math.max(0, this.retries - 1);
  }

  get inFlight(): number {
    return this.active;
  }
}
