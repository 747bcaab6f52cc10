import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareQuantities, isQuantity, parseQuantity } from '../../../src/api/v1alpha1/quantity.ts';

describe('quantities', () => {
  it('parses decimal, binary and exponent suffixes into base units', () => {
    assert.equal(parseQuantity('1'), 1);
    assert.equal(parseQuantity('250m'), 0.25);
    assert.equal(parseQuantity('1k'), 1000);
    assert.equal(parseQuantity('1Ki'), 1024);
    assert.equal(parseQuantity('5Gi'), 5 * 2 ** 30);
    assert.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30);
    assert.equal(parseQuantity('2e3'), 2000);
    assert.equal(parseQuantity('2E3'), 2000);
    assert.equal(parseQuantity('1E'), 1e18, 'a bare E is exa, not an exponent');
    assert.equal(parseQuantity('.5'), 0.5);
    assert.equal(parseQuantity('100n'), 1e-7);
  });

  it('rejects what the CRD pattern rejects', () => {
    for (const bad of ['', 'lots', '1 Gi', '1gi', '-1Gi', '1Gb', '1e', '1e100', 'Gi']) {
      assert.equal(isQuantity(bad), false, bad);
      assert.throws(() => parseQuantity(bad), /invalid quantity/);
    }
  });

  it('compares exactly, across suffixes', () => {
    assert.equal(compareQuantities('1Gi', '1073741824'), 0);
    assert.equal(compareQuantities('0.1G', '100M'), 0, 'floating point would get this wrong');
    assert.equal(compareQuantities('1000m', '1'), 0);
    assert.equal(compareQuantities('1G', '1Gi'), -1);
    assert.equal(compareQuantities('2Gi', '1Gi'), 1);
    assert.equal(compareQuantities('512Mi', '1Gi'), -1);
    assert.equal(compareQuantities('1e3', '1k'), 0);
    assert.equal(compareQuantities('1500m', '2'), -1);
  });
});
