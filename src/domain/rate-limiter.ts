/** Options of {@link TenantRateLimiter}. */
export interface RateLimiterOptions {
  /** Calls allowed per tenant per window (also the burst). */
  readonly limit: number;
  /** Window length; default 60_000 ms (a per-minute limit). */
  readonly windowMs?: number;
  /** Clock; default `Date.now`. */
  readonly now?: () => number;
}

/** Buckets kept before full (idle) ones are dropped. */
const PRUNE_ABOVE_BUCKETS = 10_000;

/**
 * A token bucket per tenant: `limit` calls at once, refilled continuously at `limit` per window,
 * so a tenant at its limit recovers as time passes without waiting for a window boundary.
 * In memory, per process.
 */
export class TenantRateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: RateLimiterOptions) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The configured calls per window. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Takes one call from the tenant's bucket: 0 when allowed, else how many milliseconds until
   * one call is available again.
   */
  take(tenant: string): number {
    const now = this.#now();
    const bucket = this.#buckets.get(tenant) ?? { tokens: this.#limit, at: now };
    const refill = ((now - bucket.at) * this.#limit) / this.#windowMs;
    bucket.tokens = Math.min(this.#limit, bucket.tokens + refill);
    bucket.at = now;
    if (this.#buckets.size > PRUNE_ABOVE_BUCKETS) this.#prune(now);
    this.#buckets.set(tenant, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) * this.#windowMs) / this.#limit);
  }

  /** Drops buckets that have refilled completely (they hold no information). */
  #prune(now: number): void {
    for (const [tenant, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) * this.#limit) / this.#windowMs >= this.#limit)
        this.#buckets.delete(tenant);
    }
  }
}
