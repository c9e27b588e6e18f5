// A retry budget (Linkerd's): retries may add at most `ratio` of the requests seen in the last
// `windowMs`, plus a floor of `minPerSecond`, so a failing upstream never gets a retry storm.
export class RetryBudget {
  private readonly buckets: Array<{ at: number; requests: number; retries: number }> = [];

  constructor(
    private readonly ratio: number,
    private readonly minPerSecond: number,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  private bucket() {
    const second = Math.floor(this.now() / 1000);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.at !== second) {
      b = { at: second, requests: 0, retries: 0 };
      this.buckets.push(b);
      const oldest = second - Math.ceil(this.windowMs / 1000);
      while (this.buckets.length && this.buckets[0]!.at <= oldest) this.buckets.shift();
    }
    return b;
  }

  recordRequest(): void {
    this.bucket().requests++;
  }

  /** Takes one retry from the budget if there is room. */
  tryRetry(): boolean {
    const current = this.bucket();
    let requests = 0;
    let retries = 0;
    for (const b of this.buckets) {
      requests += b.requests;
      retries += b.retries;
    }
    const allowed = this.minPerSecond * (this.windowMs / 1000) + this.ratio * requests;
    if (retries + 1 > allowed) return false;
    current.retries++;
    return true;
  }
}
