/**
 * Time as a dependency: everything that schedules or measures goes through a Clock so tests can drive time
 * deterministically with FakeClock instead of sleeping.
 */

declare const timerBrand: unique symbol;

/** Opaque: only the clock that issued a handle knows what it is. */
export type TimerHandle = { readonly [timerBrand]: true };

export interface Clock {
  now(): Date;
  /** Delays are clamped with clampDelayMs, so a very long delay fires late-but-bounded, never immediately. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Node stores timer delays in a signed 32-bit int; anything larger is silently replaced by 1 ms. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Negative and NaN become 0 (fire asap), anything above MAX_TIMER_DELAY_MS (Infinity included) becomes the max. */
export function clampDelayMs(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(ms, MAX_TIMER_DELAY_MS);
}

export const realClock: Clock = {
  now: () => new Date(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, clampDelayMs(ms)) as unknown as TimerHandle,
  clearTimeout: (handle) => globalThis.clearTimeout(handle as unknown as ReturnType<typeof globalThis.setTimeout>),
};

interface FakeTimer {
  readonly id: number;
  readonly dueMs: number;
  readonly fn: () => void;
}

/** A fixed, recognisable start so test output never depends on the machine's date. */
export const FAKE_CLOCK_EPOCH = Date.parse('2026-01-01T00:00:00.000Z');

/**
 * Protects advance() from a timer that keeps re-arming itself with a zero delay, which would otherwise spin forever
 * inside a single call.
 */
const MAX_FIRINGS_PER_ADVANCE = 100_000;

/**
 * Manual clock for tests. Time only moves in advance(); timers fire in due order, ties in creation order, each one
 * seeing now() equal to its own due time. Timers created by a firing timer run in the same advance() if they fall due
 * within it.
 */
export class FakeClock implements Clock {
  #nowMs: number;
  #nextId = 1;
  readonly #timers = new Map<number, FakeTimer>();

  constructor(start: Date | number = FAKE_CLOCK_EPOCH) {
    this.#nowMs = typeof start === 'number' ? start : start.getTime();
    if (!Number.isFinite(this.#nowMs)) throw new RangeError('FakeClock start must be a finite time');
  }

  now(): Date {
    return new Date(this.#nowMs);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { id, dueMs: this.#nowMs + clampDelayMs(ms), fn });
    return { id } as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const id = (handle as unknown as { id?: unknown }).id;
    if (typeof id === 'number') this.#timers.delete(id);
  }

  /** Moves time forward by ms, firing every timer that falls due on the way. Returns how many fired. */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`FakeClock.advance needs a finite ms >= 0, got ${ms}`);
    const targetMs = this.#nowMs + ms;
    let fired = 0;
    for (let next = this.#earliestDueBy(targetMs); next; next = this.#earliestDueBy(targetMs)) {
      if (++fired > MAX_FIRINGS_PER_ADVANCE) {
        throw new Error(`FakeClock.advance fired more than ${MAX_FIRINGS_PER_ADVANCE} timers: a timer loop?`);
      }
      this.#timers.delete(next.id);
      this.#nowMs = Math.max(this.#nowMs, next.dueMs);
      next.fn();
    }
    this.#nowMs = targetMs;
    return fired;
  }

  /** Fires everything already due without moving time. */
  runDue(): number {
    return this.advance(0);
  }

  pendingTimers(): number {
    return this.#timers.size;
  }

  /** When the next timer is due, or undefined if none is pending. */
  nextDueAt(): Date | undefined {
    const next = this.#earliestDueBy(Number.POSITIVE_INFINITY);
    return next ? new Date(next.dueMs) : undefined;
  }

  #earliestDueBy(limitMs: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers.values()) {
      if (t.dueMs > limitMs) continue;
      if (!best || t.dueMs < best.dueMs || (t.dueMs === best.dueMs && t.id < best.id)) best = t;
    }
    return best;
  }
}
