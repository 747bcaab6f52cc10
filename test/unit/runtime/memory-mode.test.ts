import assert from 'node:assert/strict';
import { test } from 'node:test';
import { optimizeForSizeWhileIdle } from '../../../src/runtime/memory-mode.ts';

test('--optimize-for-size goes on after two idle checks in a row, off at the first busy one, and off on stop', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const flags: string[] = [];
  let idle = false;
  const stop = optimizeForSizeWhileIdle(
    () => idle,
    1000,
    (f) => flags.push(f),
  );
  t.mock.timers.tick(3000);
  assert.deepEqual(flags, [], 'busy: never switched');
  idle = true;
  t.mock.timers.tick(1000);
  assert.deepEqual(flags, [], 'one idle check is not enough');
  t.mock.timers.tick(1000);
  assert.deepEqual(flags, ['--optimize-for-size']);
  t.mock.timers.tick(3000);
  assert.deepEqual(flags, ['--optimize-for-size'], 'switched once, not at every check');
  idle = false;
  t.mock.timers.tick(1000);
  assert.deepEqual(flags, ['--optimize-for-size', '--no-optimize-for-size']);
  idle = true;
  t.mock.timers.tick(2000);
  stop();
  assert.deepEqual(flags, [
    '--optimize-for-size',
    '--no-optimize-for-size',
    '--optimize-for-size',
    '--no-optimize-for-size',
  ]);
  t.mock.timers.tick(5000);
  assert.equal(flags.length, 4, 'nothing after stop');
});
