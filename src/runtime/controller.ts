import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import { type Clock, realClock, type TimerHandle } from './clock.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { WorkQueue, type WorkqueueMetrics } from './workqueue.ts';

/** What a reconcile asks for next. Returning nothing means "done until something changes". */
export interface ReconcileResult {
  /** Process the key again after this many ms (e.g. at the TTL). Backoff history is reset. */
  requeueAfter?: number;
  /** Process the key again with backoff, without it counting as an error. requeueAfter wins when both are set. */
  requeue?: boolean;
}

export interface ReconcileContext {
  /** Unique per reconcile, in every log line, to follow one pass through interleaved logs. */
  reconcileID: string;
  /** Child logger bound to {controller, name, reconcileID}. */
  log: Logger;
  /** Aborted when the controller's stop deadline passes; pass it to long I/O so shutdown isn't held hostage. */
  signal: AbortSignal;
}

/** A reconcile may be sync or async; returning nothing (void) is the same as success with no requeue. */
export type Reconciler = (
  key: string,
  ctx: ReconcileContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: void is what `async () => {}` returns; here it means "no result".
) => ReconcileResult | void | Promise<ReconcileResult | void>;

/**
 * Throw (or wrap as `cause`) to say retrying cannot help, e.g. an invalid spec: the error is recorded but the key is
 * not requeued. A later change to the object enqueues it again as usual.
 */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

/** Like Go's errors.Is(err, TerminalError): looks through the `cause` chain. */
export function isTerminalError(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 16 && current instanceof Error; depth++) {
    if (current instanceof TerminalError) return true;
    current = current.cause;
  }
  return false;
}

/**
 * The JavaScript analogue of a Go panic: a thrown non-Error, or the error classes raised by programming mistakes
 * (undefined property access, bad call, invalid array length...). TypeError/RangeError carrying a `cause` are
 * excluded because libraries wrap I/O failures that way (undici's fetch throws TypeError('fetch failed', {cause})).
 */
export function isPanic(thrown: unknown): boolean {
  if (!(thrown instanceof Error)) return true;
  if (thrown instanceof ReferenceError || thrown instanceof SyntaxError || thrown instanceof EvalError) return true;
  if (thrown instanceof TypeError || thrown instanceof RangeError) return thrown.cause === undefined;
  return false;
}

export type ReconcileResultLabel = 'success' | 'error' | 'requeue' | 'requeue_after';

/** controller-runtime's controller metrics, bound to one controller. Implemented by observability/metrics.ts. */
export interface ControllerMetrics {
  reconcileTotal(result: ReconcileResultLabel): void;
  reconcileError(): void;
  terminalReconcileError(): void;
  reconcilePanic(): void;
  observeReconcileTime(seconds: number): void;
  setActiveWorkers(count: number): void;
  setMaxConcurrentReconciles(count: number): void;
}

export interface ControllerOptions {
  /** Metric label and log field, e.g. 'incidentchannel'. */
  name: string;
  reconcile: Reconciler;
  logger: Logger;
  /** Concurrent reconciles (different keys only). controller-runtime's default is 1. */
  workers?: number;
  clock?: Clock;
  /** Used when no queue is given. */
  rateLimiter?: RateLimiter;
  /** Used when no queue is given. */
  workqueueMetrics?: WorkqueueMetrics;
  /** Bring your own queue (e.g. to share it with event handlers created first). */
  queue?: WorkQueue;
  metrics?: ControllerMetrics;
  /** How long stop() waits for in-flight reconciles. Below Kubernetes' default 30 s termination grace period. */
  shutdownTimeoutMs?: number;
  newReconcileID?: () => string;
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;

export interface StopResult {
  /** Every in-flight reconcile finished before the deadline. */
  drained: boolean;
  /** Keys still reconciling at the deadline; their signal has been aborted. */
  abandoned: string[];
}

type Outcome = { ok: true; result: ReconcileResult | undefined } | { ok: false; thrown: unknown };

/**
 * controller-runtime's controller: N workers pull keys from a de-duplicating workqueue and reconcile them; the queue
 * guarantees one key is never reconciled by two workers at once. Errors retry with backoff, success resets backoff,
 * requeueAfter schedules the next pass, TerminalError is not retried, and nothing thrown by a reconcile can stop a
 * worker. One-shot: after stop() it cannot be started again.
 */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #reconcile: Reconciler;
  readonly #log: Logger;
  readonly #workers: number;
  readonly #clock: Clock;
  readonly #metrics: ControllerMetrics | undefined;
  readonly #shutdownTimeoutMs: number;
  readonly #newReconcileID: () => string;
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<string>();
  #workerLoops: Promise<void>[] = [];
  #activeWorkers = 0;
  #started = false;
  #stopping: Promise<StopResult> | undefined;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.#reconcile = opts.reconcile;
    this.#workers = opts.workers ?? 1;
    if (!Number.isInteger(this.#workers) || this.#workers < 1) {
      throw new RangeError(`workers must be an integer >= 1, got ${this.#workers}`);
    }
    this.#clock = opts.clock ?? realClock;
    this.#metrics = opts.metrics;
    this.#shutdownTimeoutMs = opts.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    this.#newReconcileID = opts.newReconcileID ?? randomUUID;
    this.#log = opts.logger.child({ controller: opts.name });
    this.queue =
      opts.queue ??
      new WorkQueue({
        name: opts.name,
        clock: this.#clock,
        ...(opts.rateLimiter ? { rateLimiter: opts.rateLimiter } : {}),
        ...(opts.workqueueMetrics ? { metrics: opts.workqueueMetrics } : {}),
      });
  }

  get started(): boolean {
    return this.#started;
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  /** Keys being reconciled right now. */
  inFlight(): string[] {
    return [...this.#inFlight];
  }

  /** Shorthand for queue.add, for event handlers. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    if (this.#started) throw new Error(`controller ${this.name} already started`);
    if (this.#stopping) throw new Error(`controller ${this.name} was stopped and cannot be restarted`);
    this.#started = true;
    this.#metrics?.setMaxConcurrentReconciles(this.#workers);
    this.#metrics?.setActiveWorkers(0);
    this.#log.info({ workerCount: this.#workers }, 'Starting workers');
    this.#workerLoops = Array.from({ length: this.#workers }, () => this.#runWorker());
  }

  /**
   * Stops handing out keys, then waits for in-flight reconciles until the deadline. Keys still queued are dropped:
   * the next leader (or process) lists everything again. Idempotent: later calls return the same result.
   */
  stop(opts: { timeoutMs?: number } = {}): Promise<StopResult> {
    this.#stopping ??= this.#stop(opts.timeoutMs ?? this.#shutdownTimeoutMs);
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<StopResult> {
    this.#log.info({ inFlight: this.#inFlight.size }, 'Shutdown signal received, waiting for all workers to finish');
    this.queue.shutDown();
    let timer: TimerHandle | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const finished = Promise.all(this.#workerLoops).then(() => 'drained' as const);
    const outcome = await Promise.race([finished, deadline]);
    if (timer) this.#clock.clearTimeout(timer);
    if (outcome === 'drained') {
      this.#log.info('All workers finished');
      return { drained: true, abandoned: [] };
    }
    const abandoned = this.inFlight();
    this.#abort.abort(new Error(`controller ${this.name} stopped`));
    this.#log.warn({ abandoned, timeoutMs }, 'Shutdown deadline passed with reconciles still running');
    return { drained: false, abandoned };
  }

  async #runWorker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.#processKey(key);
    }
  }

  /** Never throws and always calls queue.done(key): a worker must survive anything a reconcile does. */
  async #processKey(key: string): Promise<void> {
    this.#inFlight.add(key);
    try {
      this.#setActiveWorkers(this.#activeWorkers + 1);
      const reconcileID = this.#newReconcileID();
      const log = this.#log.child({ name: key, reconcileID });
      const startedMs = this.#clock.now().getTime();
      const outcome = await this.#invoke(key, { reconcileID, log, signal: this.#abort.signal });
      this.#metrics?.observeReconcileTime(Math.max(0, this.#clock.now().getTime() - startedMs) / 1000);
      this.#handleOutcome(key, outcome, log);
    } catch (internal) {
      // Bookkeeping (metrics, logging) failed, not the reconcile: retry the key rather than lose it.
      this.#safely(() => this.#log.error({ err: internal, name: key }, 'Controller bookkeeping failed'));
      this.#safely(() => this.queue.addRateLimited(key));
    } finally {
      this.#inFlight.delete(key);
      this.#safely(() => this.#setActiveWorkers(this.#activeWorkers - 1));
      this.queue.done(key);
    }
  }

  async #invoke(key: string, ctx: ReconcileContext): Promise<Outcome> {
    try {
      const result = await this.#reconcile(key, ctx);
      return { ok: true, result: typeof result === 'object' && result !== null ? result : undefined };
    } catch (thrown) {
      return { ok: false, thrown };
    }
  }

  #handleOutcome(key: string, outcome: Outcome, log: Logger): void {
    if (!outcome.ok) {
      this.#handleFailure(key, outcome.thrown, log);
      return;
    }
    const result = outcome.result;
    if (result?.requeueAfter !== undefined && result.requeueAfter > 0) {
      this.queue.forget(key);
      this.queue.addAfter(key, result.requeueAfter);
      this.#metrics?.reconcileTotal('requeue_after');
      log.debug({ requeueAfterMs: result.requeueAfter }, 'Reconcile done, requeueing after delay');
    } else if (result?.requeue) {
      this.queue.addRateLimited(key);
      this.#metrics?.reconcileTotal('requeue');
      log.debug('Reconcile done, requeueing with backoff');
    } else {
      this.queue.forget(key);
      this.#metrics?.reconcileTotal('success');
      log.debug('Reconcile successful');
    }
  }

  #handleFailure(key: string, thrown: unknown, log: Logger): void {
    const err = thrown instanceof Error ? thrown : new Error(`non-Error thrown: ${describeThrown(thrown)}`);
    if (isPanic(thrown)) {
      this.#metrics?.reconcilePanic();
      log.error({ err, panic: true }, 'Observed a panic in reconciler');
    }
    if (isTerminalError(thrown)) {
      // Nothing will be retried, so there is no backoff worth remembering either.
      this.queue.forget(key);
      this.#metrics?.terminalReconcileError();
      log.error({ err, terminal: true }, 'Reconciler error (terminal, not retried)');
    } else {
      this.queue.addRateLimited(key);
      log.error({ err, retries: this.queue.retries(key) }, 'Reconciler error');
    }
    this.#metrics?.reconcileError();
    this.#metrics?.reconcileTotal('error');
  }

  #setActiveWorkers(count: number): void {
    this.#activeWorkers = count;
    this.#metrics?.setActiveWorkers(count);
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch {
      // Deliberately ignored: this is the last line of defence for the worker loop.
    }
  }
}

function describeThrown(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return `[object ${value.constructor?.name ?? 'Object'}]`;
  return `${typeof value} ${String(value).slice(0, 200)}`;
}
