import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TtlCache } from '../../../src/http/ttl-cache.ts';

describe('TtlCache', () => {
  it('returns a value until its own TTL passes', () => {
    let now = 0;
    const cache = new TtlCache<string>({ maxEntries: 10, now: () => now });
    cache.set('long', 'L', 10_000);
    cache.set('short', 'S', 2_000);
    now = 1_999;
    assert.equal(cache.get('short'), 'S');
    now = 2_000;
    assert.equal(cache.get('short'), undefined);
    assert.equal(cache.get('long'), 'L');
    now = 10_000;
    assert.equal(cache.get('long'), undefined);
    assert.equal(cache.size, 0, 'expired entries are dropped when read');
  });

  it('evicts the oldest write when full; a rewrite makes an entry young again', () => {
    const cache = new TtlCache<number>({ maxEntries: 2 });
    cache.set('a', 1, 60_000);
    cache.set('b', 2, 60_000);
    cache.set('a', 3, 60_000);
    cache.set('c', 4, 60_000);
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), 3);
    assert.equal(cache.get('c'), 4);
    assert.equal(cache.size, 2);
  });

  it('does not store an entry with no lifetime, and clears', () => {
    const cache = new TtlCache<number>({ maxEntries: 2 });
    cache.set('zero', 1, 0);
    assert.equal(cache.get('zero'), undefined);
    cache.set('x', 1, 1_000);
    cache.clear();
    assert.equal(cache.size, 0);
    assert.throws(() => new TtlCache({ maxEntries: 0 }), RangeError);
  });
});
