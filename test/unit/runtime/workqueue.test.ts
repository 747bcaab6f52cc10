import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, MAX_TIMER_DELAY_MS } from '../../../src/runtime/clock.ts';
import { ItemExponentialFailureRateLimiter } from '../../../src/runtime/rate-limiter.ts';
import { type UnfinishedWork, WorkQueue, type WorkqueueMetrics } from '../../../src/runtime/workqueue.ts';

const DAY_MS = 86_400_000;

/** Lets resolved promises run their continuations (no time passes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Tracks whether a promise has settled without awaiting it. */
function observe<T>(promise: Promise<T>): { settled: boolean; value: T | undefined } {
  const state: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  void promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

function newQueue(clock = new FakeClock(0), extra: Partial<ConstructorParameters<typeof WorkQueue>[0]> = {}) {
  return new WorkQueue({ name: 'test', clock, ...extra });
}

/** get() that must resolve now: fails the test instead of hanging if the queue has nothing to hand out. */
async function getNow(queue: WorkQueue): Promise<string | undefined> {
  const state = observe(queue.get());
  await settle();
  assert.ok(state.settled, 'get() should have resolved immediately');
  return state.value;
}

describe('WorkQueue basics', () => {
  it('hands keys out in FIFO order', async () => {
    const queue = newQueue();
    queue.add('a');
    queue.add('b');
    queue.add('c');
    assert.equal(queue.len(), 3);
    assert.deepEqual([await queue.get(), await queue.get(), await queue.get()], ['a', 'b', 'c']);
    assert.equal(queue.len(), 0);
    assert.deepEqual(queue.processingKeys().sort(), ['a', 'b', 'c']);
  });

  it('queues a key once however often it is added while waiting', async () => {
    const queue = newQueue();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.add('a');
    assert.equal(queue.len(), 2);
    assert.equal(await queue.get(), 'a');
    assert.equal(await queue.get(), 'b');
    const third = observe(queue.get());
    await settle();
    assert.equal(third.settled, false);
  });

  it('makes get() wait until a key is added', async () => {
    const queue = newQueue();
    const pending = observe(queue.get());
    await settle();
    assert.equal(pending.settled, false);
    queue.add('x');
    await settle();
    assert.deepEqual(pending, { settled: true, value: 'x' });
  });

  it('gives concurrent waiters distinct keys in the order they asked', async () => {
    const queue = newQueue();
    const first = queue.get();
    const second = queue.get();
    queue.add('a');
    queue.add('b');
    assert.deepEqual(await Promise.all([first, second]), ['a', 'b']);
  });
});

describe('WorkQueue: a key is never processed twice at once', () => {
  it('does not hand out a key re-added while it is processing, and queues it once at done()', async () => {
    const queue = newQueue();
    queue.add('a');
    assert.equal(await queue.get(), 'a');

    queue.add('a');
    queue.add('a');
    queue.add('a');
    assert.equal(queue.len(), 0, 'the re-added key must wait for done()');
    const secondWorker = observe(queue.get());
    await settle();
    assert.equal(secondWorker.settled, false, 'a second worker must not receive a key still being processed');

    queue.done('a');
    await settle();
    assert.deepEqual(secondWorker, { settled: true, value: 'a' });
    queue.done('a');

    const nothingMore = observe(queue.get());
    await settle();
    assert.equal(nothingMore.settled, false, 'three re-adds while processing collapse into one');
  });

  it('lets other keys through while one is processing', async () => {
    const queue = newQueue();
    queue.add('a');
    assert.equal(await queue.get(), 'a');
    queue.add('a');
    queue.add('b');
    assert.equal(await getNow(queue), 'b');
  });

  it('forgets a key that was processed without being re-added', async () => {
    const queue = newQueue();
    queue.add('a');
    await queue.get();
    queue.done('a');
    assert.equal(queue.len(), 0);
    assert.deepEqual(queue.processingKeys(), []);
    queue.done('a');
    queue.done('never-seen');
    assert.equal(queue.len(), 0);
  });
});

describe('WorkQueue.addAfter', () => {
  it('adds the key only once the delay has passed', async () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.addAfter('a', 1000);
    assert.equal(queue.len(), 0);
    assert.equal(queue.delayedLen(), 1);
    clock.advance(999);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(queue.len(), 1);
    assert.equal(queue.delayedLen(), 0);
    assert.equal(await queue.get(), 'a');
  });

  it('adds at once for a zero, negative or NaN delay', () => {
    const queue = newQueue();
    queue.addAfter('a', 0);
    queue.addAfter('b', -5);
    queue.addAfter('c', Number.NaN);
    assert.equal(queue.len(), 3);
    assert.equal(queue.delayedLen(), 0);
  });

  it('keeps the earlier ready time when a key is delayed twice (earlier call first)', () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.addAfter('a', 50);
    queue.addAfter('a', 100);
    assert.equal(queue.delayedLen(), 1);
    clock.advance(50);
    assert.equal(queue.len(), 1);
    assert.equal(clock.pendingTimers(), 0, 'the later request must not leave a second timer behind');
  });

  it('keeps the earlier ready time when a key is delayed twice (later call first)', () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.addAfter('a', 100);
    queue.addAfter('a', 50);
    clock.advance(49);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(queue.len(), 1);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('orders different keys by their ready time', async () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.addAfter('slow', 300);
    queue.addAfter('fast', 100);
    queue.addAfter('medium', 200);
    clock.advance(300);
    assert.deepEqual([await queue.get(), await queue.get(), await queue.get()], ['fast', 'medium', 'slow']);
  });

  it('does not fire a 30-day delay early, though Node timers stop at about 24.8 days', () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.addAfter('expiry', 30 * DAY_MS);
    clock.advance(MAX_TIMER_DELAY_MS);
    assert.equal(queue.len(), 0, 'must not fire when the clamped timer expires');
    assert.equal(queue.delayedLen(), 1);
    clock.advance(30 * DAY_MS - MAX_TIMER_DELAY_MS - 1);
    assert.equal(queue.len(), 0, 'must not fire 1 ms early');
    clock.advance(1);
    assert.equal(queue.len(), 1);
    assert.equal(queue.delayedLen(), 0);
  });

  it('is not cancelled by a direct add, so a scheduled requeue survives an unrelated event', async () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.addAfter('a', 1000);
    queue.add('a');
    assert.equal(await queue.get(), 'a');
    queue.done('a');
    clock.advance(1000);
    assert.equal(queue.len(), 1);
  });

  it('can schedule a key again after its previous delay fired', () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.addAfter('a', 10);
    clock.advance(10);
    assert.equal(queue.len(), 1);
    queue.addAfter('a', 500);
    assert.equal(queue.delayedLen(), 1);
  });
});

describe('WorkQueue rate limiting', () => {
  it('delays addRateLimited by the limiter and forget() resets the backoff', () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock, { rateLimiter: new ItemExponentialFailureRateLimiter({ baseDelayMs: 5 }) });
    queue.addRateLimited('a');
    assert.equal(queue.retries('a'), 1);
    clock.advance(4);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(queue.len(), 1);

    queue.addRateLimited('b');
    queue.addRateLimited('b');
    assert.equal(queue.retries('b'), 2);
    // Two rate-limited adds of one key: the earlier ready time (5 ms) wins over the second (10 ms).
    clock.advance(5);
    assert.equal(queue.len(), 2);

    queue.forget('b');
    assert.equal(queue.retries('b'), 0);
  });

  it('uses the default controller limiter when none is given', () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    assert.equal(queue.retries('a'), 3);
    clock.advance(4);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(queue.len(), 1);
  });
});

describe('WorkQueue shutdown', () => {
  it('shutDown releases waiting getters, drops queued and delayed keys and ignores new ones', async () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.add('inflight');
    assert.equal(await queue.get(), 'inflight');
    const idle = observe(queue.get());
    queue.add('inflight');
    queue.addAfter('later', 1000);
    await settle();
    // 'inflight' was re-added while processing; 'idle' is still waiting.
    assert.equal(idle.settled, false);
    queue.add('queued');
    await settle();
    assert.deepEqual(idle, { settled: true, value: 'queued' });
    queue.add('queued-2');

    queue.shutDown();
    assert.equal(queue.shuttingDown, true);
    assert.equal(queue.len(), 0);
    assert.equal(queue.delayedLen(), 0);
    assert.equal(clock.pendingTimers(), 0);
    assert.equal(await queue.get(), undefined);

    queue.add('new');
    queue.addAfter('new-later', 10);
    queue.addRateLimited('new-limited');
    assert.equal(queue.len(), 0);
    assert.equal(queue.delayedLen(), 0);

    queue.done('inflight');
    queue.done('queued');
    assert.equal(queue.len(), 0, 'a key re-added before shutdown is not requeued after it');
    assert.equal(await queue.get(), undefined);
  });

  it('shutDown resolves every getter that was waiting', async () => {
    const queue = newQueue();
    const waiters = [queue.get(), queue.get(), queue.get()];
    queue.shutDown();
    assert.deepEqual(await Promise.all(waiters), [undefined, undefined, undefined]);
  });

  it('shutDownWithDrain keeps handing out queued keys and resolves when all are done', async () => {
    const clock = new FakeClock(0);
    const queue = newQueue(clock);
    queue.add('a');
    queue.add('b');
    assert.equal(await queue.get(), 'a');
    queue.add('a'); // re-added while processing: must still be processed during the drain
    queue.addAfter('delayed', 10);

    const drained = observe(queue.shutDownWithDrain());
    queue.add('after-shutdown');
    assert.equal(queue.delayedLen(), 0);
    await settle();
    assert.equal(drained.settled, false);

    assert.equal(await getNow(queue), 'b');
    queue.done('b');
    queue.done('a');
    assert.equal(await getNow(queue), 'a');
    await settle();
    assert.equal(drained.settled, false, 'a key is still processing');
    queue.done('a');
    await settle();
    assert.equal(drained.settled, true);
    assert.equal(await queue.get(), undefined);
    clock.advance(100);
    assert.equal(queue.len(), 0, 'delayed keys are dropped by a drain');
  });

  it('shutDownWithDrain resolves at once when idle, and releases idle getters', async () => {
    const queue = newQueue();
    const idle = queue.get();
    await queue.shutDownWithDrain();
    assert.equal(await idle, undefined);
  });
});

class RecordingMetrics implements WorkqueueMetrics {
  depths: number[] = [];
  adds = 0;
  retries = 0;
  latencies: number[] = [];
  durations: number[] = [];
  probe: (() => UnfinishedWork) | undefined;
  setDepth(depth: number) {
    this.depths.push(depth);
  }
  add() {
    this.adds++;
  }
  retry() {
    this.retries++;
  }
  observeQueueLatency(seconds: number) {
    this.latencies.push(seconds);
  }
  observeWorkDuration(seconds: number) {
    this.durations.push(seconds);
  }
  trackUnfinishedWork(probe: () => UnfinishedWork) {
    this.probe = probe;
  }
}

describe('WorkQueue metrics hooks', () => {
  it('reports depth, adds (deduplicated), queue latency and work duration', async () => {
    const clock = new FakeClock(0);
    const metrics = new RecordingMetrics();
    const queue = newQueue(clock, { metrics });
    queue.add('a');
    queue.add('a');
    queue.add('b');
    assert.equal(metrics.adds, 2);
    assert.deepEqual(metrics.depths, [1, 2]);

    clock.advance(250);
    assert.equal(await queue.get(), 'a');
    assert.deepEqual(metrics.latencies, [0.25]);
    assert.equal(metrics.depths.at(-1), 1);

    clock.advance(1500);
    queue.done('a');
    assert.deepEqual(metrics.durations, [1.5]);
  });

  it('counts every delayed add as a retry, like client-go', () => {
    const metrics = new RecordingMetrics();
    const queue = newQueue(new FakeClock(0), { metrics });
    queue.addAfter('a', 10);
    queue.addRateLimited('b');
    assert.equal(metrics.retries, 2);
  });

  it('exposes unfinished work and the longest running processor through the registered probe', async () => {
    const clock = new FakeClock(0);
    const metrics = new RecordingMetrics();
    const queue = newQueue(clock, { metrics });
    assert.ok(metrics.probe);
    assert.deepEqual(metrics.probe(), { unfinishedWorkSeconds: 0, longestRunningProcessorSeconds: 0 });

    queue.add('a');
    await queue.get();
    clock.advance(2000);
    queue.add('b');
    await queue.get();
    clock.advance(1000);
    assert.deepEqual(metrics.probe(), { unfinishedWorkSeconds: 4, longestRunningProcessorSeconds: 3 });

    queue.done('a');
    assert.deepEqual(metrics.probe(), { unfinishedWorkSeconds: 1, longestRunningProcessorSeconds: 1 });
  });
});
