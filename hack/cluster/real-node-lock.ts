import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Only one real-node cluster may run on a machine at a time: kube-proxy owns global iptables chains (KUBE-SERVICES,
 * KUBE-POSTROUTING…) in the host's network namespace, and two kube-proxies would keep rewriting each other's rules.
 * The lock file records who holds it, so the next run can say so, or clean up after a holder that was killed.
 */
export const REAL_NODE_LOCK = '/run/lock/warroom-real-node.lock';

export interface LockHolder {
  pid: number;
  dir: string;
  bridge?: string;
  /** net.ipv4.ip_forward before the run turned it on. */
  ipForwardBefore?: string;
  startedAt: string;
}

export interface HeldLock {
  update(patch: Partial<LockHolder>): Promise<void>;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Who holds the lock, as its record says; undefined when it is free (or its record is being written). */
export async function readLockHolder(path = REAL_NODE_LOCK): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockHolder;
  } catch {
    return undefined; // absent, or half-written: look again
  }
}

const sameHolder = (a: LockHolder | undefined, b: LockHolder) =>
  a?.pid === b.pid && a.dir === b.dir && a.startedAt === b.startedAt;

/** Whole-file writes by rename, so a reader never sees a half-written record (and a file is never briefly absent). */
async function writeAtomically(path: string, holder: LockHolder): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, JSON.stringify(holder));
  await rename(tmp, path);
}

/**
 * Takes the lock over from a dead holder, or says it could not (another run got there first). The lock file is
 * replaced in one rename and is never absent on the way: were it removed first, a waiting run would take the free
 * lock and start its cluster while this one still removes the dead holder's leftovers (its chains, its bridge).
 * Replacers are serialized by a second, short-lived file, so two runs that both saw the dead holder never both take
 * it over.
 */
async function takeOver(path: string, dead: LockHolder, me: LockHolder): Promise<boolean> {
  const guard = `${path}.takeover`;
  try {
    await writeFile(guard, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Held for a few milliseconds only; a guard whose process is gone was left by a run killed inside them.
    const pid = Number(await readFile(guard, 'utf8').catch(() => ''));
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) await rm(guard, { force: true });
    return false;
  }
  try {
    if (!sameHolder(await readLockHolder(path), dead)) return false; // released, or taken over already
    await writeAtomically(path, me);
    return true;
  } finally {
    await rm(guard, { force: true });
  }
}

/**
 * Takes the lock, waiting up to `waitMs` for a live holder to finish. A dead holder's lock (its harness was SIGKILLed)
 * is taken over, and the dead holder handed to `reapStale` while this run holds it, so its leftovers (mounts, bridge,
 * iptables chains) are removed before anyone starts.
 */
export async function acquireRealNodeLock(
  me: LockHolder,
  opts: { waitMs: number; reapStale: (holder: LockHolder) => Promise<void>; log: (m: string) => void; path?: string },
): Promise<HeldLock> {
  const path = opts.path ?? REAL_NODE_LOCK;
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    try {
      await writeFile(path, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readLockHolder(path);
    if (holder && !alive(holder.pid)) {
      if (await takeOver(path, holder, me)) {
        opts.log(
          `the lock's holder (pid ${holder.pid}, ${holder.dir}) died without releasing it: cleaning up after it`,
        );
        try {
          await opts.reapStale(holder);
        } catch (err) {
          await releaseIfMine(path, me);
          throw err;
        }
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `another real-node cluster is running (pid ${holder?.pid}, dir ${holder?.dir}, since ${holder?.startedAt}); ` +
          `only one may run at a time because kube-proxy owns the host's global KUBE-* iptables chains. ` +
          `Stop it (npm run cluster:down, or end that test) or remove ${path} if that process is gone.`,
      );
    }
    if (!told) {
      opts.log(`waiting for the real-node cluster of pid ${holder?.pid} to stop (only one at a time)`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  let current = me;
  return {
    async update(patch) {
      current = { ...current, ...patch };
      await writeAtomically(path, current);
    },
    release: () => releaseIfMine(path, current),
  };
}

async function releaseIfMine(path: string, me: LockHolder): Promise<void> {
  const holder = await readLockHolder(path);
  if (holder?.pid === me.pid && holder.dir === me.dir) await rm(path, { force: true });
}
