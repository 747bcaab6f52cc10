import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../../src/runtime/clock.ts';
import {
  DEFAULT_MAX_DELAY_MS,
  defaultControllerRateLimiter,
  ItemExponentialFailureRateLimiter,
  maxOf,
  type RateLimiter,
  TokenBucketRateLimiter,
} from '../../../src/runtime/rate-limiter.ts';

describe('ItemExponentialFailureRateLimiter', () => {
  it('doubles from 5 ms per failure of the same key', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    const delays = Array.from({ length: 6 }, () => limiter.when('a'));
    assert.deepEqual(delays, [5, 10, 20, 40, 80, 160]);
    assert.equal(limiter.retries('a'), 6);
  });

  it('caps at 300 s by default and at the configured maximum otherwise', () => {
    const byDefault = new ItemExponentialFailureRateLimiter();
    let last = 0;
    for (let i = 0; i < 40; i++) last = byDefault.when('a');
    assert.equal(last, DEFAULT_MAX_DELAY_MS);
    assert.equal(DEFAULT_MAX_DELAY_MS, 300_000);

    const custom = new ItemExponentialFailureRateLimiter({ baseDelayMs: 100, maxDelayMs: 1000 });
    assert.deepEqual(
      Array.from({ length: 6 }, () => custom.when('a')),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it('stays at the cap after thousands of failures instead of overflowing to Infinity or NaN', () => {
    const limiter = new ItemExponentialFailureRateLimiter({ maxDelayMs: 60_000 });
    let last = 0;
    for (let i = 0; i < 5000; i++) last = limiter.when('a');
    assert.equal(last, 60_000);
  });

  it('tracks keys independently and forget() restarts a key from the base delay', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    limiter.when('a');
    limiter.when('a');
    limiter.when('a');
    assert.equal(limiter.when('b'), 5);
    assert.equal(limiter.retries('a'), 3);
    assert.equal(limiter.retries('b'), 1);
    limiter.forget('a');
    assert.equal(limiter.retries('a'), 0);
    assert.equal(limiter.when('a'), 5);
    assert.equal(limiter.retries('b'), 1);
    assert.equal(limiter.retries('never-seen'), 0);
  });

  it('rejects nonsensical settings', () => {
    assert.throws(() => new ItemExponentialFailureRateLimiter({ baseDelayMs: 0 }), RangeError);
    assert.throws(() => new ItemExponentialFailureRateLimiter({ baseDelayMs: 10, maxDelayMs: 5 }), RangeError);
    assert.throws(() => new ItemExponentialFailureRateLimiter({ maxDelayMs: Number.POSITIVE_INFINITY }), RangeError);
  });
});

describe('TokenBucketRateLimiter', () => {
  it('lets a burst through, then spaces requests at 1/qps', () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucketRateLimiter({ clock });
    for (let i = 0; i < 100; i++) assert.equal(bucket.when(`k${i}`), 0);
    assert.equal(bucket.when('k100'), 100);
    assert.equal(bucket.when('k101'), 200);
    assert.equal(bucket.when('k102'), 300);
  });

  it('refills with time and never holds more than the burst', () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucketRateLimiter({ clock, qps: 2, burst: 3 });
    assert.deepEqual([bucket.when('x'), bucket.when('x'), bucket.when('x'), bucket.when('x')], [0, 0, 0, 500]);
    // The 4th request borrowed a token; 1.5 s later 3 tokens were minted, one repays the debt.
    clock.advance(1500);
    assert.deepEqual([bucket.when('x'), bucket.when('x'), bucket.when('x')], [0, 0, 500]);

    clock.advance(3_600_000);
    assert.deepEqual([bucket.when('x'), bucket.when('x'), bucket.when('x'), bucket.when('x')], [0, 0, 0, 500]);
  });

  it('does not mint tokens when the clock steps backwards', () => {
    let nowMs = 10_000;
    const bucket = new TokenBucketRateLimiter({
      clock: { now: () => new Date(nowMs), setTimeout: () => assert.fail('unused'), clearTimeout: () => {} },
      qps: 1,
      burst: 1,
    });
    assert.equal(bucket.when('x'), 0);
    nowMs = 0;
    assert.equal(bucket.when('x'), 1000);
    nowMs = 10_500;
    // Only the 0.5 s since the latest time seen counts; the bucket is still in debt.
    assert.equal(bucket.when('x'), 1500);
  });

  it('has no per-key memory', () => {
    const bucket = new TokenBucketRateLimiter({ clock: new FakeClock(0) });
    bucket.when('a');
    assert.equal(bucket.retries('a'), 0);
    bucket.forget('a');
  });

  it('rejects nonsensical settings', () => {
    const clock = new FakeClock(0);
    assert.throws(() => new TokenBucketRateLimiter({ clock, qps: 0 }), RangeError);
    assert.throws(() => new TokenBucketRateLimiter({ clock, burst: 0 }), RangeError);
    assert.throws(() => new TokenBucketRateLimiter({ clock, burst: 1.5 }), RangeError);
  });
});

describe('maxOf', () => {
  const fixed = (delay: number, retries: number, forgotten: string[]): RateLimiter => ({
    when: () => delay,
    retries: () => retries,
    forget: (key) => forgotten.push(key),
  });

  it('returns the largest delay and retry count, and forgets in every limiter', () => {
    const forgotten: string[] = [];
    const combined = maxOf(fixed(5, 2, forgotten), fixed(50, 1, forgotten), fixed(7, 9, forgotten));
    assert.equal(combined.when('k'), 50);
    assert.equal(combined.retries('k'), 9);
    combined.forget('k');
    assert.deepEqual(forgotten, ['k', 'k', 'k']);
  });

  it('records the attempt in every limiter, not only the winning one', () => {
    const a = new ItemExponentialFailureRateLimiter({ baseDelayMs: 1 });
    const b = new ItemExponentialFailureRateLimiter({ baseDelayMs: 100 });
    const combined = maxOf(a, b);
    combined.when('k');
    combined.when('k');
    assert.equal(a.retries('k'), 2);
    assert.equal(b.retries('k'), 2);
  });

  it('needs at least one limiter', () => {
    assert.throws(() => maxOf(), RangeError);
  });
});

describe('defaultControllerRateLimiter', () => {
  it('backs off per key while the shared bucket has tokens', () => {
    const limiter = defaultControllerRateLimiter({ clock: new FakeClock(0) });
    assert.deepEqual([limiter.when('a'), limiter.when('a'), limiter.when('a'), limiter.when('b')], [5, 10, 20, 5]);
    assert.equal(limiter.retries('a'), 3);
    limiter.forget('a');
    assert.equal(limiter.retries('a'), 0);
    assert.equal(limiter.when('a'), 5);
  });

  it('lets the bucket dominate when many keys fail at once', () => {
    const limiter = defaultControllerRateLimiter({ clock: new FakeClock(0), qps: 10, burst: 100 });
    for (let i = 0; i < 100; i++) assert.equal(limiter.when(`k${i}`), 5);
    assert.equal(limiter.when('k100'), 100);
  });

  it('passes the backoff cap through', () => {
    const limiter = defaultControllerRateLimiter({ clock: new FakeClock(0), maxDelayMs: 8 });
    assert.deepEqual([limiter.when('a'), limiter.when('a'), limiter.when('a')], [5, 8, 8]);
  });
});
