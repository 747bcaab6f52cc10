import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  findLookalikeHandles,
  HANDLE_PATTERN,
  handleSkeleton,
  handleSkeletonCel,
  isNumericHandle,
  isReservedHandle,
} from '../../../src/api/v1alpha1/handles.ts';

describe('handles', () => {
  it('accepts Matrix-localpart pseudonyms and refuses the rest', () => {
    const re = new RegExp(HANDLE_PATTERN);
    for (const ok of ['falcon', 'night.owl', 'a=b', 'x-1', 'team_7', '.dot', '-dash']) assert.ok(re.test(ok), ok);
    for (const bad of ['Falcon', '_owl', 'a b', 'owl@corp', 'owl/1', 'ünï', '']) assert.ok(!re.test(bad), bad);
  });

  it("flags what Python's int() accepts as numeric (Synapse's guest-ID rule)", () => {
    for (const numeric of ['1234', '-7', '1_000', '007']) assert.ok(isNumericHandle(numeric), numeric);
    for (const not of ['1234a', '1.5', '1__0', '_1', '1_', '-', '12-3']) assert.ok(!isNumericHandle(not), not);
  });

  it('folds separators and look-alike glyphs into a skeleton', () => {
    assert.equal(handleSkeleton('a.l-i_c=e'), 'alice');
    assert.equal(handleSkeleton('a1ice'), 'alice');
    assert.equal(handleSkeleton('0lga'), 'olga');
    assert.equal(handleSkeleton('rnallory'), 'mallory');
    assert.equal(handleSkeleton('vvren'), 'wren');
    assert.equal(handleSkeleton('r.n'), 'm', 'separators go first, so they cannot hide an rn');
  });

  it('reserves everything that reads as warroom...', () => {
    for (const reserved of ['warroom', 'warroom-admin', 'war.room', 'vvarroom-bot', 'warr0om']) {
      assert.ok(isReservedHandle(reserved), reserved);
    }
    for (const free of ['war', 'room-warroom', 'wardroom']) assert.ok(!isReservedHandle(free), free);
  });

  it('finds look-alike pairs but not exact duplicates', () => {
    assert.deepEqual(findLookalikeHandles(['alice', 'bob', 'a1ice', 'b.o.b']), [
      ['alice', 'a1ice'],
      ['bob', 'b.o.b'],
    ]);
    assert.deepEqual(findLookalikeHandles(['alice', 'alice']), []);
    assert.deepEqual(findLookalikeHandles(['falcon', 'heron', 'owl']), []);
  });

  it('builds the CEL expression from the same steps', () => {
    assert.equal(
      handleSkeletonCel('self'),
      "self.replace('.', '').replace('_', '').replace('-', '').replace('=', '').replace('0', 'o').replace('1', 'l')" +
        ".replace('rn', 'm').replace('vv', 'w')",
    );
  });
});
