import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ListStreamParser } from '../../../src/kube/list-stream.ts';

/** Feeds `text` in chunks of `size` bytes; returns the items seen and the envelope. */
function parse(text: string, size: number) {
  const items: unknown[] = [];
  const parser = new ListStreamParser((item) => items.push(item));
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) parser.push(bytes.subarray(i, i + size));
  return { items, envelope: parser.end() };
}

const list = {
  kind: 'PodList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', continue: 'abc' },
  items: [
    // Strings holding brackets, braces, quotes, backslashes and multi-byte characters must not move the scanner.
    { metadata: { name: 'a', annotations: { x: '}]{["\\"', ü: '漢字 😀' } }, spec: { items: [{ n: 1 }] } },
    { metadata: { name: 'b' }, status: { conditions: [] } },
    {},
  ],
};

test('every item is handed over on its own, whatever the chunking, and the envelope keeps the rest', () => {
  for (const text of [JSON.stringify(list), JSON.stringify(list, null, 2)]) {
    for (const size of [1, 2, 3, 7, 64, 100_000]) {
      const { items, envelope } = parse(text, size);
      assert.deepEqual(items, list.items, `chunks of ${size}`);
      assert.deepEqual(envelope, { ...list, items: [] }, `chunks of ${size}`);
    }
  }
});

test('metadata after the items, no items, and items: null', () => {
  const after = parse('{"items":[{"a":1}],"metadata":{"resourceVersion":"7"}}', 5);
  assert.deepEqual(after.items, [{ a: 1 }]);
  assert.equal(after.envelope.metadata?.resourceVersion, '7');
  assert.deepEqual(parse('{"kind":"List","items":[]}', 3).items, []);
  assert.deepEqual(parse('{"kind":"List","items":null}', 3).envelope, { kind: 'List', items: null });
});

test('a key named items inside an item, or a nested array, is not taken for the list', () => {
  const { items, envelope } = parse('{"metadata":{"items":[1]},"items":[{"items":[{"x":[]}]}]}', 4);
  assert.deepEqual(items, [{ items: [{ x: [] }] }]);
  assert.deepEqual(envelope, { metadata: { items: [1] }, items: [] });
});

test('a response cut mid-document is an error, not a short list', () => {
  const parser = new ListStreamParser(() => undefined);
  parser.push(Buffer.from('{"items":[{"a":1},{"b":'));
  assert.throws(() => parser.end(), /ended mid-document/);
});
