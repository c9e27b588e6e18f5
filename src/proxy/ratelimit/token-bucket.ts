// A token bucket (Envoy's local rate limit): starts full with `maxTokens`; every `fillIntervalMs` it
// gains `tokensPerFill`, never above `maxTokens`. Each request takes one token or is refused. Refill
// is computed lazily from the clock, so an idle bucket costs nothing.
export class TokenBucket {
  private tokens: number;
  private lastFill: number;

  constructor(
    private readonly maxTokens: number,
    private readonly tokensPerFill: number,
    private readonly fillIntervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = maxTokens;
    this.lastFill = now();
  }

  tryTake(): boolean {
    const now = this.now();
    const fills = Math.floor((now - this.lastFill) / this.fillIntervalMs);
    if (fills > 0) {
      this.tokens = Math.min(this.maxTokens, this.tokens + fills * this.tokensPerFill);
      this.lastFill += fills * this.fillIntervalMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }
}
