// Golden metrics from counter deltas: one Window per tick (requests, errors and a duration histogram),
// kept in a bounded ring per edge, service or workload; rates and quantiles are computed from the sum of
// the ticks asked for, as Prometheus' rate() and histogram_quantile() would.

/** What one edge (or service, or workload) did during one scrape interval. */
export interface Window {
  requests: number;
  errors: number; // 5xx and no response (status 0)
  /** Duration histogram deltas, per upper bound (ms), in the order of `bounds`. */
  buckets: number[];
}

export interface Point {
  t: number; // epoch ms at the end of the interval
  rps: number;
  successRate: number | null; // null when there were no requests
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export const emptyWindow = (n: number): Window => ({
  requests: 0,
  errors: 0,
  buckets: new Array<number>(n).fill(0),
});

export function addInto(into: Window, w: Window): void {
  into.requests += w.requests;
  into.errors += w.errors;
  for (let i = 0; i < w.buckets.length; i++) into.buckets[i] = (into.buckets[i] ?? 0) + (w.buckets[i] ?? 0);
}

/** histogram_quantile over cumulative bucket counts (linear within a bucket; +Inf gives the last bound). */
export function quantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevCount = 0;
  let prevBound = 0;
  for (let i = 0; i < bounds.length; i++) {
    const c = cumulative[i] ?? 0;
    if (c >= rank) {
      const b = bounds[i]!;
      if (!Number.isFinite(b)) return prevBound;
      const inBucket = c - prevCount;
      return inBucket > 0 ? prevBound + ((b - prevBound) * (rank - prevCount)) / inBucket : b;
    }
    prevCount = c;
    prevBound = bounds[i]!;
  }
  return prevBound;
}

const round = (v: number | null, digits = 2): number | null =>
  v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits;

export function toPoint(t: number, seconds: number, w: Window, bounds: readonly number[]): Point {
  return {
    t,
    rps: round(seconds > 0 ? w.requests / seconds : 0)!,
    successRate: w.requests > 0 ? round(1 - w.errors / w.requests, 4) : null,
    p50: round(quantile(0.5, bounds, w.buckets)),
    p95: round(quantile(0.95, bounds, w.buckets)),
    p99: round(quantile(0.99, bounds, w.buckets)),
  };
}

/** A fixed number of ticks, oldest first. */
export class Ring<T> {
  private readonly items: T[] = [];
  constructor(private readonly capacity: number) {}
  push(v: T): void {
    this.items.push(v);
    if (this.items.length > this.capacity) this.items.shift();
  }
  last(n: number): T[] {
    return this.items.slice(Math.max(0, this.items.length - n));
  }
  all(): T[] {
    return this.items.slice();
  }
  clear(): void {
    this.items.length = 0;
  }
  get size(): number {
    return this.items.length;
  }
}
