import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashInputs, treeInputs } from '../../../hack/images/inputs-hash.ts';

describe('hashInputs: the cache key of an image', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warroom-hash-'));
    await mkdir(join(dir, 'src', 'sub'), { recursive: true });
    await writeFile(join(dir, 'src', 'a.ts'), 'a');
    await writeFile(join(dir, 'src', 'sub', 'b.ts'), 'b');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the same inputs in any order give the same key', async () => {
    const inputs = [...(await treeInputs(dir, 'src')), { key: 'version', value: '1' }];
    assert.equal(await hashInputs(inputs), await hashInputs([...inputs].reverse()));
    assert.deepEqual((await treeInputs(dir, 'src')).map((i) => i.key).sort(), ['src/a.ts', 'src/sub/b.ts']);
  });

  test('a changed byte, mode, pinned value or file name gives a new key', async () => {
    const key = async () => hashInputs([...(await treeInputs(dir, 'src')), { key: 'version', value: '1' }]);
    const first = await key();
    await writeFile(join(dir, 'src', 'sub', 'b.ts'), 'B');
    const second = await key();
    assert.notEqual(second, first);
    await chmod(join(dir, 'src', 'a.ts'), 0o755);
    const third = await key();
    assert.notEqual(third, second);
    assert.notEqual(await hashInputs([...(await treeInputs(dir, 'src')), { key: 'version', value: '2' }]), third);
    // A value that spells a file's content under the same key is not the same input.
    assert.notEqual(
      await hashInputs([{ key: 'k', value: 'a' }]),
      await hashInputs([{ key: 'k', file: join(dir, 'src', 'a.ts') }]),
    );
  });
});
