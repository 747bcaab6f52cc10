import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucketLimiter } from '../../../src/http/token-bucket.ts';

describe('TokenBucketLimiter', () => {
  it('allows a burst, then refills at the sustained rate', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ burst: 3, perSecond: 2, now: () => now });
    const take = () => limiter.take('c').allowed;
    assert.deepEqual([take(), take(), take(), take()], [true, true, true, false]);
    now += 499;
    assert.equal(take(), false, 'not yet a whole token after 499 ms at 2/s');
    now += 1;
    assert.equal(take(), true);
    assert.equal(take(), false);
    now += 60_000;
    assert.deepEqual([take(), take(), take(), take()], [true, true, true, false], 'refill is capped at the burst');
  });

  it('says how long to wait, rounded up to whole seconds', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ burst: 1, perSecond: 0.2, now: () => now });
    limiter.take('c');
    assert.deepEqual(limiter.take('c'), { allowed: false, retryAfterSeconds: 5 });
    now += 2_500;
    assert.deepEqual(limiter.take('c'), { allowed: false, retryAfterSeconds: 3 });
  });

  it('keeps a bucket per client, and forgets the least recently seen past maxClients', () => {
    const limiter = new TokenBucketLimiter({ burst: 1, perSecond: 0.001, maxClients: 2, now: () => 0 });
    assert.equal(limiter.take('a').allowed, true);
    assert.equal(limiter.take('b').allowed, true);
    assert.equal(limiter.take('a').allowed, false, 'a is empty; b is untouched by a');
    assert.equal(limiter.take('c').allowed, true, 'c evicts b, the least recently seen');
    assert.equal(limiter.trackedClients, 2);
    assert.equal(limiter.take('a').allowed, false, 'a was seen recently and kept its empty bucket');
    assert.equal(limiter.take('b').allowed, true, 'b was forgotten and starts full');
  });

  it('rejects nonsense settings', () => {
    assert.throws(() => new TokenBucketLimiter({ burst: 0, perSecond: 1 }), RangeError);
    assert.throws(() => new TokenBucketLimiter({ burst: 1, perSecond: 0 }), RangeError);
  });
});
