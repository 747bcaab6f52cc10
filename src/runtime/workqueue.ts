import { type Clock, clampDelayMs, realClock, type TimerHandle } from './clock.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts';

export interface UnfinishedWork {
  /** Sum over keys being processed of how long each has been processing. Grows steadily when a worker is stuck. */
  unfinishedWorkSeconds: number;
  longestRunningProcessorSeconds: number;
}

/**
 * client-go's workqueue MetricsProvider, bound to one queue. Implemented by observability/metrics.ts; the queue
 * itself knows nothing about Prometheus.
 */
export interface WorkqueueMetrics {
  setDepth(depth: number): void;
  add(): void;
  /** Called for every delayed add (client-go counts AddAfter, which AddRateLimited goes through). */
  retry(): void;
  observeQueueLatency(seconds: number): void;
  observeWorkDuration(seconds: number): void;
  /** The queue registers a probe once; the metrics side reads it at scrape time, so no polling timer is needed. */
  trackUnfinishedWork(probe: () => UnfinishedWork): void;
}

export interface WorkQueueOptions {
  /** Metric label and log field; usually the controller name. */
  name: string;
  clock?: Clock;
  rateLimiter?: RateLimiter;
  metrics?: WorkqueueMetrics;
}

interface DelayedAdd {
  readyAtMs: number;
  timer: TimerHandle;
}

/** FIFO of keys with amortised O(1) shift; a plain array's shift() is O(n). */
class KeyFifo {
  #items: string[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(key: string): void {
    this.#items.push(key);
  }

  shift(): string | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const key = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return key;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/**
 * Rate-limited, delaying, de-duplicating work queue with client-go semantics:
 * - a key waiting in the queue (the dirty set) is queued once, however often it is added;
 * - a key handed out by get() is never handed out again until done(key); if it was re-added meanwhile it is queued
 *   once more at done(), so the latest state is always processed after the change that triggered it;
 * - addAfter keeps the earliest pending ready time per key and never fires early, even beyond Node's timer range.
 *
 * Unlike client-go, after shutDown() get() stops handing out keys at once (queued keys are dropped: the controller is
 * level-triggered and the next process resyncs them). shutDownWithDrain() keeps handing them out until empty.
 */
export class WorkQueue {
  readonly name: string;
  readonly #clock: Clock;
  readonly #rateLimiter: RateLimiter;
  readonly #metrics: WorkqueueMetrics | undefined;

  readonly #queue = new KeyFifo();
  readonly #dirty = new Set<string>();
  /** key → when get() handed it out (ms). */
  readonly #processing = new Map<string, number>();
  /** key → when it entered the dirty set (ms), for queue latency. */
  readonly #addedAt = new Map<string, number>();
  readonly #delayed = new Map<string, DelayedAdd>();
  readonly #getters: Array<(key: string | undefined) => void> = [];
  readonly #drainWaiters: Array<() => void> = [];
  #shuttingDown = false;
  #draining = false;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.#clock = opts.clock ?? realClock;
    this.#rateLimiter = opts.rateLimiter ?? defaultControllerRateLimiter({ clock: this.#clock });
    this.#metrics = opts.metrics;
    this.#metrics?.trackUnfinishedWork(() => this.unfinishedWork());
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Keys waiting to be handed out (not the ones being processed, nor those waiting on addAfter). */
  len(): number {
    return this.#queue.length;
  }

  /** Keys waiting on addAfter timers. */
  delayedLen(): number {
    return this.#delayed.size;
  }

  /** Keys handed out by get() and not yet done(). */
  processingKeys(): string[] {
    return [...this.#processing.keys()];
  }

  add(key: string): void {
    if (this.#shuttingDown) return;
    if (this.#dirty.has(key)) return;
    this.#metrics?.add();
    this.#dirty.add(key);
    if (!this.#addedAt.has(key)) this.#addedAt.set(key, this.#nowMs());
    // Re-queued by done(); handing it out now would let two workers process the same key.
    if (this.#processing.has(key)) return;
    this.#queue.push(key);
    this.#reportDepth();
    this.#dispatch();
  }

  /** Adds key once delayMs has passed. If the key is already waiting, the earlier of the two ready times wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    this.#metrics?.retry();
    if (Number.isNaN(delayMs) || delayMs <= 0) {
      this.add(key);
      return;
    }
    const readyAtMs = this.#nowMs() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending) {
      if (pending.readyAtMs <= readyAtMs) return;
      this.#clock.clearTimeout(pending.timer);
    }
    this.#armDelayed(key, readyAtMs);
  }

  /** Adds key after the rate limiter's delay for it; each call counts as one more failure. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.#rateLimiter.when(key));
  }

  /** Resets the key's backoff. It does not remove the key from the queue. */
  forget(key: string): void {
    this.#rateLimiter.forget(key);
  }

  retries(key: string): number {
    return this.#rateLimiter.retries(key);
  }

  /**
   * Resolves with the next key, waiting if the queue is empty, or with undefined once the queue is shut down.
   * The caller owns the key until it calls done(key).
   */
  get(): Promise<string | undefined> {
    if (this.#queue.length > 0 && (!this.#shuttingDown || this.#draining)) return Promise.resolve(this.#take());
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  /** Marks processing of key finished; a key re-added while it was processing goes back in the queue now. */
  done(key: string): void {
    const startedMs = this.#processing.get(key);
    if (startedMs === undefined) return;
    this.#processing.delete(key);
    this.#metrics?.observeWorkDuration(this.#secondsSince(startedMs));
    if (this.#dirty.has(key)) {
      this.#queue.push(key);
      this.#reportDepth();
      this.#dispatch();
    }
    this.#settleDrain();
  }

  /**
   * Stops accepting keys; waiting and future get() calls resolve undefined. Queued and delayed keys are dropped.
   * Keys being processed may still call done().
   */
  shutDown(): void {
    this.#shuttingDown = true;
    this.#draining = false;
    this.#cancelDelayed();
    this.#queue.clear();
    for (const key of this.#dirty) if (!this.#processing.has(key)) this.#addedAt.delete(key);
    this.#dirty.clear();
    this.#reportDepth();
    this.#releaseGetters();
    this.#settleDrain();
  }

  /**
   * Stops accepting keys but keeps handing out the ones already queued; resolves when none is queued or processing.
   * Delayed keys are dropped. It only resolves if something keeps calling get() and done().
   */
  shutDownWithDrain(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      this.#draining = true;
      this.#cancelDelayed();
      // Getters only wait while the queue is empty, and nothing can be added any more.
      this.#releaseGetters();
    }
    const drained = new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    this.#settleDrain();
    return drained;
  }

  unfinishedWork(): UnfinishedWork {
    const nowMs = this.#nowMs();
    let total = 0;
    let longest = 0;
    for (const startedMs of this.#processing.values()) {
      const seconds = Math.max(0, nowMs - startedMs) / 1000;
      total += seconds;
      longest = Math.max(longest, seconds);
    }
    return { unfinishedWorkSeconds: total, longestRunningProcessorSeconds: longest };
  }

  #take(): string {
    const key = this.#queue.shift();
    if (key === undefined) throw new Error('workqueue invariant broken: take() on an empty queue');
    const nowMs = this.#nowMs();
    this.#processing.set(key, nowMs);
    this.#dirty.delete(key);
    const addedMs = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (addedMs !== undefined) this.#metrics?.observeQueueLatency(Math.max(0, nowMs - addedMs) / 1000);
    this.#reportDepth();
    return key;
  }

  /** Hands queued keys to waiting get() calls, marking them processing synchronously so no add can slip in twice. */
  #dispatch(): void {
    while (this.#getters.length > 0 && this.#queue.length > 0) {
      const resolve = this.#getters.shift();
      resolve?.(this.#take());
    }
  }

  #armDelayed(key: string, readyAtMs: number): void {
    const timer = this.#clock.setTimeout(() => this.#onDelayedTimer(key), clampDelayMs(readyAtMs - this.#nowMs()));
    this.#delayed.set(key, { readyAtMs, timer });
  }

  #onDelayedTimer(key: string): void {
    const pending = this.#delayed.get(key);
    if (!pending) return;
    // The timer was clamped to Node's maximum (about 24.8 days): wait out the rest instead of firing early.
    if (this.#nowMs() < pending.readyAtMs) {
      this.#armDelayed(key, pending.readyAtMs);
      return;
    }
    this.#delayed.delete(key);
    this.add(key);
  }

  #cancelDelayed(): void {
    for (const pending of this.#delayed.values()) this.#clock.clearTimeout(pending.timer);
    this.#delayed.clear();
  }

  #releaseGetters(): void {
    for (const resolve of this.#getters.splice(0)) resolve(undefined);
  }

  #settleDrain(): void {
    if (!this.#shuttingDown || this.#queue.length > 0 || this.#processing.size > 0) return;
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }

  #reportDepth(): void {
    this.#metrics?.setDepth(this.#queue.length);
  }

  #nowMs(): number {
    return this.#clock.now().getTime();
  }

  #secondsSince(startMs: number): number {
    return Math.max(0, this.#nowMs() - startMs) / 1000;
  }
}
