import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { acquireRealNodeLock, type LockHolder } from '../../../hack/cluster/real-node-lock.ts';

const work = await mkdtemp(join(tmpdir(), 'warroom-lock-'));
after(() => rm(work, { recursive: true, force: true }));

let n = 0;
const lockPath = () => join(work, `lock-${++n}`);
const holder = (dir: string, pid = process.pid): LockHolder => ({ pid, dir, startedAt: new Date().toISOString() });
const read = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as LockHolder;
/** The PID of a process that has exited (and was reaped), as a SIGKILLed harness leaves in the lock. */
const deadPid = () => spawnSync('true').pid as number;

describe('the one-real-node-per-machine lock', () => {
  test('a free lock is taken and released; update rewrites the record', async () => {
    const path = lockPath();
    const lock = await acquireRealNodeLock(holder('/run/a'), {
      waitMs: 0,
      reapStale: async () => {},
      log: () => {},
      path,
    });
    assert.equal((await read(path)).dir, '/run/a');
    await lock.update({ bridge: 'wr-1', pid: 1 });
    assert.deepEqual([(await read(path)).bridge, (await read(path)).pid], ['wr-1', 1]);
    await lock.release();
    assert.equal(existsSync(path), false, 'released after the pid was handed on (as kind hands it to dockerd)');
  });

  test('a live holder is waited for, then named in the error', async () => {
    const path = lockPath();
    await writeFile(path, JSON.stringify(holder('/run/live')));
    const said: string[] = [];
    await assert.rejects(
      acquireRealNodeLock(holder('/run/b'), { waitMs: 600, reapStale: async () => {}, log: (m) => said.push(m), path }),
      new RegExp(`another real-node cluster is running \\(pid ${process.pid}, dir /run/live`),
    );
    assert.equal(said.length, 1, 'the wait is said once');
    assert.equal((await read(path)).dir, '/run/live', "the live holder's lock is untouched");
  });

  test('a dead holder is reaped once, by a run that holds the lock while it reaps; the others wait their turn', async () => {
    const path = lockPath();
    const dead = holder('/run/dead', deadPid());
    await writeFile(path, JSON.stringify(dead));
    const reaped: LockHolder[] = [];
    const seenWhileReaping: (LockHolder | undefined)[] = [];
    let inside = 0;
    let most = 0;
    const run = async (i: number) => {
      const me = holder(`/run/run-${i}`);
      const lock = await acquireRealNodeLock(me, {
        waitMs: 30_000,
        log: () => {},
        path,
        reapStale: async (h) => {
          reaped.push(h);
          for (let k = 0; k < 5; k++) {
            await new Promise((r) => setTimeout(r, 20));
            seenWhileReaping.push(await read(path).catch(() => undefined));
          }
        },
      });
      inside++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 30));
      inside--;
      await lock.release();
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map(run));
    assert.deepEqual(reaped, [dead], 'the dead holder is reaped exactly once');
    assert.equal(most, 1, 'never two holders at once');
    assert.equal(seenWhileReaping.length, 5);
    for (const seen of seenWhileReaping) {
      assert.ok(seen && seen.pid === process.pid && seen.dir.startsWith('/run/run-'), 'the reaper holds the lock');
    }
    assert.equal(new Set(seenWhileReaping.map((s) => s?.dir)).size, 1, 'one reaper throughout');
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(`${path}.takeover`), false, 'no take-over guard is left');
  });

  test('a failed clean-up releases the lock it took over, and says why', async () => {
    const path = lockPath();
    await writeFile(path, JSON.stringify(holder('/run/dead', deadPid())));
    await assert.rejects(
      acquireRealNodeLock(holder('/run/c'), {
        waitMs: 0,
        log: () => {},
        path,
        reapStale: async () => {
          throw new Error('umount: target is busy');
        },
      }),
      /target is busy/,
    );
    assert.equal(existsSync(path), false);
  });

  test('a take-over guard left by a run killed inside it does not block the lock', async () => {
    const path = lockPath();
    await writeFile(path, JSON.stringify(holder('/run/dead', deadPid())));
    await writeFile(`${path}.takeover`, String(deadPid()));
    const reaped: string[] = [];
    const lock = await acquireRealNodeLock(holder('/run/d'), {
      waitMs: 5_000,
      log: () => {},
      path,
      reapStale: async (h) => {
        reaped.push(h.dir);
      },
    });
    assert.deepEqual(reaped, ['/run/dead']);
    assert.equal((await read(path)).dir, '/run/d');
    await lock.release();
  });
});
