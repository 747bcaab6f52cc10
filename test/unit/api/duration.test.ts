import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../../../src/api/v1alpha1/duration.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;

describe('parseDuration (Go time.ParseDuration semantics, as CEL duration() applies them)', () => {
  const valid: Array<[string, number]> = [
    ['72h', 72 * HOUR],
    ['90m', 90 * MINUTE],
    ['1h30m', 90 * MINUTE],
    ['30m1h', 90 * MINUTE], // Go accepts components in any order
    ['1h1h', 2 * HOUR], // and repeated
    ['10m', 10 * MINUTE],
    ['9m59s', 9 * MINUTE + 59_000],
    ['1.5h', 90 * MINUTE],
    ['.5h', 30 * MINUTE],
    ['1.h', HOUR],
    ['300ms', 300],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1500μs', 1.5],
    ['2000000ns', 2],
    ['0', 0],
    ['+0', 0],
    ['-0', 0],
    ['0s', 0],
    ['-2m', -2 * MINUTE],
    ['+2m', 2 * MINUTE],
    ['8760h', 8760 * HOUR],
    ['2562047h', 2_562_047 * HOUR], // just below the int64-nanosecond limit
  ];
  for (const [text, ms] of valid) {
    it(`parses ${JSON.stringify(text)} as ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  const invalid = [
    '', // empty
    '-', // sign only
    '72', // no unit (only the bare "0" may omit it)
    '3d', // no day unit in Go
    '1w',
    'h', // unit without number
    '.h', // a lone dot is not a number
    '1h 30m', // no spaces
    'three days',
    '1H', // units are case-sensitive
    '9999999999999h', // overflows int64 nanoseconds (CEL rejects it too)
    '2562048h',
  ];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseDuration(text), undefined);
    });
  }

  it('truncates fractions below a nanosecond, as Go does', () => {
    assert.equal(parseDuration('1.0000000009s'), 1000);
  });
});

describe('formatDuration', () => {
  it('writes the shortest h/m/s form', () => {
    assert.equal(formatDuration(90 * MINUTE), '1h30m');
    assert.equal(formatDuration(72 * HOUR), '72h');
    assert.equal(formatDuration(10 * MINUTE), '10m');
    assert.equal(formatDuration(HOUR + 5_000), '1h5s');
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(-2 * MINUTE), '-2m');
  });

  it('drops sub-second parts', () => {
    assert.equal(formatDuration(1_999), '1s');
    assert.equal(formatDuration(999), '0s');
  });

  it('round-trips through parseDuration for whole seconds', () => {
    for (const ms of [1_000, 59_000, 61_000, HOUR, 25 * HOUR + 61_000]) {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
  });
});
