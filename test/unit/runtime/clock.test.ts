import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clampDelayMs,
  FAKE_CLOCK_EPOCH,
  FakeClock,
  MAX_TIMER_DELAY_MS,
  realClock,
} from '../../../src/runtime/clock.ts';

const DAY_MS = 86_400_000;

describe('clampDelayMs', () => {
  it('keeps delays inside Node timer range unchanged', () => {
    assert.equal(clampDelayMs(0), 0);
    assert.equal(clampDelayMs(1.5), 1.5);
    assert.equal(clampDelayMs(MAX_TIMER_DELAY_MS), MAX_TIMER_DELAY_MS);
  });

  it('turns negative and NaN delays into 0', () => {
    assert.equal(clampDelayMs(-5), 0);
    assert.equal(clampDelayMs(Number.NaN), 0);
    assert.equal(clampDelayMs(Number.NEGATIVE_INFINITY), 0);
  });

  it('caps delays above 2^31-1 ms, Infinity included', () => {
    assert.equal(MAX_TIMER_DELAY_MS, 2_147_483_647);
    assert.equal(clampDelayMs(2 ** 31), MAX_TIMER_DELAY_MS);
    assert.equal(clampDelayMs(30 * DAY_MS), MAX_TIMER_DELAY_MS);
    assert.equal(clampDelayMs(Number.POSITIVE_INFINITY), MAX_TIMER_DELAY_MS);
  });
});

describe('FakeClock', () => {
  it('starts at a fixed epoch or the given time, and only moves in advance()', () => {
    assert.equal(new FakeClock().now().getTime(), FAKE_CLOCK_EPOCH);
    assert.equal(new FakeClock(new Date('2030-05-06T07:08:09Z')).now().toISOString(), '2030-05-06T07:08:09.000Z');
    const clock = new FakeClock(1000);
    assert.equal(clock.now().getTime(), 1000);
    assert.equal(clock.now().getTime(), 1000);
    clock.advance(250);
    assert.equal(clock.now().getTime(), 1250);
    assert.throws(() => new FakeClock(Number.NaN), RangeError);
  });

  it('fires due timers in due order, ties in creation order, with now() equal to each due time', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const record = (name: string) => () => fired.push(`${name}@${clock.now().getTime()}`);
    clock.setTimeout(record('c'), 30);
    clock.setTimeout(record('a'), 10);
    clock.setTimeout(record('b1'), 20);
    clock.setTimeout(record('b2'), 20);
    clock.setTimeout(record('late'), 100);

    assert.equal(clock.advance(9), 0);
    assert.deepEqual(fired, []);
    assert.equal(clock.advance(21), 4);
    assert.deepEqual(fired, ['a@10', 'b1@20', 'b2@20', 'c@30']);
    assert.equal(clock.now().getTime(), 30);
    assert.equal(clock.pendingTimers(), 1);
    assert.equal(clock.nextDueAt()?.getTime(), 100);
  });

  it('fires zero-delay timers on advance(0) / runDue()', () => {
    const clock = new FakeClock(0);
    let fired = 0;
    clock.setTimeout(() => fired++, 0);
    clock.setTimeout(() => fired++, -10);
    assert.equal(clock.runDue(), 2);
    assert.equal(fired, 2);
    assert.equal(clock.now().getTime(), 0);
  });

  it('clearTimeout prevents firing, and ignores handles it did not issue', () => {
    const clock = new FakeClock(0);
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 10);
    clock.clearTimeout(handle);
    clock.clearTimeout(handle);
    clock.clearTimeout(new FakeClock(0).setTimeout(() => {}, 1));
    clock.advance(100);
    assert.equal(fired, false);
    assert.equal(clock.pendingTimers(), 0);
    assert.equal(clock.nextDueAt(), undefined);
  });

  it('fires timers scheduled by a firing timer within the same advance when they fall due in it', () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now().getTime());
      clock.setTimeout(() => fired.push(clock.now().getTime()), 15);
      clock.setTimeout(() => fired.push(clock.now().getTime()), 500);
    }, 10);
    clock.advance(100);
    assert.deepEqual(fired, [10, 25]);
    clock.advance(410);
    assert.deepEqual(fired, [10, 25, 510]);
  });

  it('clamps a 30-day timer like realClock does: it fires at 2^31-1 ms, never immediately', () => {
    const clock = new FakeClock(0);
    let firedAt: number | undefined;
    clock.setTimeout(() => {
      firedAt = clock.now().getTime();
    }, 30 * DAY_MS);
    clock.advance(1000);
    assert.equal(firedAt, undefined);
    clock.advance(30 * DAY_MS);
    assert.equal(firedAt, MAX_TIMER_DELAY_MS);
  });

  it('rejects a negative or non-finite advance', () => {
    const clock = new FakeClock(0);
    assert.throws(() => clock.advance(-1), RangeError);
    assert.throws(() => clock.advance(Number.POSITIVE_INFINITY), RangeError);
    assert.throws(() => clock.advance(Number.NaN), RangeError);
  });

  it('stops a timer that re-arms itself forever instead of hanging', () => {
    const clock = new FakeClock(0);
    const rearm = () => {
      clock.setTimeout(rearm, 0);
    };
    clock.setTimeout(rearm, 0);
    assert.throws(() => clock.advance(1), /timer loop/);
  });
});

describe('realClock', () => {
  it('reports the wall clock', () => {
    const before = Date.now();
    const now = realClock.now().getTime();
    assert.ok(now >= before && now <= Date.now());
  });

  it('does not let a 30-day delay overflow into an immediate firing', async () => {
    let fired = false;
    const handle = realClock.setTimeout(() => {
      fired = true;
    }, 30 * DAY_MS);
    // Unclamped, Node would replace the overflowing delay with 1 ms and fire within this wait.
    await new Promise((resolve) => globalThis.setTimeout(resolve, 20));
    realClock.clearTimeout(handle);
    assert.equal(fired, false);
  });

  it('fires a short timer and honours clearTimeout', async () => {
    const fired: string[] = [];
    realClock.setTimeout(() => fired.push('kept'), 1);
    const cancelled = realClock.setTimeout(() => fired.push('cancelled'), 1);
    realClock.clearTimeout(cancelled);
    await new Promise((resolve) => globalThis.setTimeout(resolve, 15));
    assert.deepEqual(fired, ['kept']);
  });
});
