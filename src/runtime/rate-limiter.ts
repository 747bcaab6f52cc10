import type { Clock } from './clock.ts';

/** client-go's RateLimiter: how long to wait before handing a key out again. */
export interface RateLimiter {
  /** Delay in ms before the key may be processed again. Counts as one more failure for per-item limiters. */
  when(key: string): number;
  /** The key succeeded: its failure history starts over. */
  forget(key: string): void;
  /** How many times the key has failed since it was last forgotten. */
  retries(key: string): number;
}

export interface ExponentialBackoffOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export const DEFAULT_BASE_DELAY_MS = 5;
/** client-go caps at 1000 s; for a war room, 5 min between retries is already a long time to look broken. */
export const DEFAULT_MAX_DELAY_MS = 300_000;
export const DEFAULT_QPS = 10;
export const DEFAULT_BURST = 100;

/** Per-key base·2^failures, capped: a persistently failing key backs off without slowing the others. */
export class ItemExponentialFailureRateLimiter implements RateLimiter {
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #failures = new Map<string, number>();

  constructor(opts: ExponentialBackoffOptions = {}) {
    this.#baseDelayMs = opts.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.#maxDelayMs = opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    if (!(this.#baseDelayMs > 0) || !Number.isFinite(this.#baseDelayMs)) {
      throw new RangeError(`baseDelayMs must be a finite number > 0, got ${this.#baseDelayMs}`);
    }
    if (!(this.#maxDelayMs >= this.#baseDelayMs) || !Number.isFinite(this.#maxDelayMs)) {
      throw new RangeError(`maxDelayMs must be finite and >= baseDelayMs, got ${this.#maxDelayMs}`);
    }
  }

  when(key: string): number {
    const exponent = this.#failures.get(key) ?? 0;
    this.#failures.set(key, exponent + 1);
    // 2 ** exponent reaches Infinity long before the counter could overflow; min() turns that into the cap.
    return Math.min(this.#baseDelayMs * 2 ** exponent, this.#maxDelayMs);
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

export interface TokenBucketOptions {
  clock: Clock;
  /** Sustained rate, tokens per second. */
  qps?: number;
  /** Bucket size: how many requests may go through back to back before the rate applies. */
  burst?: number;
}

/**
 * Overall limiter shared by all keys (golang.org/x/time/rate semantics as used by client-go's BucketRateLimiter):
 * every call reserves a token; when the bucket is empty the balance goes negative and the caller is told how long
 * until its token exists. It protects the apiserver from a thundering herd of retries.
 */
export class TokenBucketRateLimiter implements RateLimiter {
  readonly #clock: Clock;
  readonly #qps: number;
  readonly #burst: number;
  #tokens: number;
  #lastMs: number;

  constructor(opts: TokenBucketOptions) {
    this.#clock = opts.clock;
    this.#qps = opts.qps ?? DEFAULT_QPS;
    this.#burst = opts.burst ?? DEFAULT_BURST;
    if (!(this.#qps > 0) || !Number.isFinite(this.#qps)) throw new RangeError(`qps must be > 0, got ${this.#qps}`);
    if (!Number.isInteger(this.#burst) || this.#burst < 1) {
      throw new RangeError(`burst must be an integer >= 1, got ${this.#burst}`);
    }
    this.#tokens = this.#burst;
    this.#lastMs = this.#clock.now().getTime();
  }

  when(_key: string): number {
    const nowMs = this.#clock.now().getTime();
    // A wall clock stepping backwards must not mint or destroy tokens.
    const elapsedMs = Math.max(0, nowMs - this.#lastMs);
    this.#lastMs = Math.max(this.#lastMs, nowMs);
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsedMs * this.#qps) / 1000);
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#qps;
  }

  forget(_key: string): void {}

  retries(_key: string): number {
    return 0;
  }
}

/** The strictest of several limiters wins; every limiter still records the attempt. */
export function maxOf(...limiters: RateLimiter[]): RateLimiter {
  if (limiters.length === 0) throw new RangeError('maxOf needs at least one rate limiter');
  return {
    when(key) {
      let delay = 0;
      for (const l of limiters) delay = Math.max(delay, l.when(key));
      return delay;
    },
    forget(key) {
      for (const l of limiters) l.forget(key);
    },
    retries(key) {
      let n = 0;
      for (const l of limiters) n = Math.max(n, l.retries(key));
      return n;
    },
  };
}

export interface ControllerRateLimiterOptions extends ExponentialBackoffOptions {
  clock: Clock;
  qps?: number;
  burst?: number;
}

/** client-go's DefaultControllerRateLimiter: per-key exponential backoff combined with an overall token bucket. */
export function defaultControllerRateLimiter(opts: ControllerRateLimiterOptions): RateLimiter {
  return maxOf(
    new ItemExponentialFailureRateLimiter({ baseDelayMs: opts.baseDelayMs, maxDelayMs: opts.maxDelayMs }),
    new TokenBucketRateLimiter({ clock: opts.clock, qps: opts.qps, burst: opts.burst }),
  );
}
