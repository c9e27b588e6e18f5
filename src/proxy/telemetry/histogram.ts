// A fixed-bucket histogram, Prometheus style. Observing is the hot path (once per request per metric), so
// it only bumps one per-bucket slot, the sum and the count; cumulative bucket counts are computed at
// scrape time, which is rare. No dependency: a client library would add allocation and indirection to
// every request for a format we can write by hand.

/** Istio's istio_request_duration_milliseconds buckets. */
export const ISTIO_DURATION_MS_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** Istio's istio_request_bytes / istio_response_bytes buckets: 1, 10, 100, … 1e9. */
export const ISTIO_BYTES_BUCKETS: readonly number[] = Array.from({ length: 10 }, (_, i) => 10 ** i);

export class Histogram {
  /** Observations per bucket (not cumulative); the last slot is the +Inf bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++)
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error('histogram bounds must be strictly increasing');
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    // Linear scan: most observations land in the first few buckets, and there are at most ~20 of them.
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }

  /** Cumulative counts per bound, then +Inf (equal to count), as the exposition format wants them. */
  cumulative(): number[] {
    const out: number[] = new Array<number>(this.counts.length);
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) out[i] = acc += this.counts[i]!;
    return out;
  }
}
