export interface TokenBucketOptions {
  /** Requests a client may make at once (bucket size). */
  burst: number;
  /** Sustained requests per second per client (refill rate). */
  perSecond: number;
  /** Clients tracked at once; past it the least recently seen client is forgotten (its next request starts full). */
  maxClients?: number;
  now?: () => number;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * One token bucket per client key, refilled lazily on each request (no timers). A client that was idle long enough
 * to refill completely is indistinguishable from a new one, so forgetting it on eviction costs nothing.
 */
export class TokenBucketLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #maxClients: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(opts: TokenBucketOptions) {
    if (!(opts.burst >= 1)) throw new RangeError('burst must be >= 1');
    if (!(opts.perSecond > 0)) throw new RangeError('perSecond must be > 0');
    this.#burst = opts.burst;
    this.#perMs = opts.perSecond / 1000;
    this.#maxClients = Math.max(1, opts.maxClients ?? 10_000);
    this.#now = opts.now ?? Date.now;
  }

  get trackedClients(): number {
    return this.#buckets.size;
  }

  take(key: string): TakeResult {
    const now = this.#now();
    const bucket = this.#buckets.get(key);
    let tokens = this.#burst;
    if (bucket) {
      tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.updatedAt) * this.#perMs);
      // Re-inserted below, which moves it to the young end of the eviction order.
      this.#buckets.delete(key);
    } else {
      while (this.#buckets.size >= this.#maxClients) {
        const oldest = this.#buckets.keys().next();
        if (oldest.done) break;
        this.#buckets.delete(oldest.value);
      }
    }
    // Refills accumulate in floating point (0.998 + 0.002 < 1): a hair of tolerance keeps whole tokens whole.
    const allowed = tokens >= 1 - 1e-9;
    if (allowed) tokens = Math.max(0, tokens - 1);
    this.#buckets.set(key, { tokens, updatedAt: now });
    if (allowed) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.#perMs / 1000)) };
  }
}
