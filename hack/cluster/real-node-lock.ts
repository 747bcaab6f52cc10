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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock, waiting up to `waitMs` for a live holder to finish. A dead holder's lock (its harness was SIGKILLed)
 * is handed to `reapStale` first, so its leftovers (mounts, bridge, iptables chains) are removed before we start.
 */
export async function acquireRealNodeLock(
  me: LockHolder,
  opts: { waitMs: number; reapStale: (holder: LockHolder) => Promise<void>; log: (m: string) => void },
): Promise<{ update(patch: Partial<LockHolder>): Promise<void>; release(): Promise<void> }> {
  await mkdir(dirname(REAL_NODE_LOCK), { recursive: true });
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    try {
      await writeFile(REAL_NODE_LOCK, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: LockHolder | undefined;
    try {
      holder = JSON.parse(await readFile(REAL_NODE_LOCK, 'utf8')) as LockHolder;
    } catch {
      holder = undefined; // half-written or just removed: look again
    }
    if (holder && !alive(holder.pid)) {
      // Rename first so two runs never reap (and then both take) the same stale lock.
      const claimed = `${REAL_NODE_LOCK}.stale-${process.pid}`;
      try {
        await rename(REAL_NODE_LOCK, claimed);
      } catch {
        continue;
      }
      opts.log(`the lock's holder (pid ${holder.pid}, ${holder.dir}) died without releasing it: cleaning up after it`);
      await opts.reapStale(holder);
      await rm(claimed, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `another real-node cluster is running (pid ${holder?.pid}, dir ${holder?.dir}, since ${holder?.startedAt}); ` +
          `only one may run at a time because kube-proxy owns the host's global KUBE-* iptables chains. ` +
          `Stop it (npm run cluster:down, or end that test) or remove ${REAL_NODE_LOCK} if that process is gone.`,
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
      await writeFile(REAL_NODE_LOCK, JSON.stringify(current));
    },
    async release() {
      try {
        const holder = JSON.parse(await readFile(REAL_NODE_LOCK, 'utf8')) as LockHolder;
        if (holder.pid === me.pid && holder.dir === me.dir) await rm(REAL_NODE_LOCK, { force: true });
      } catch {
        // already gone
      }
    },
  };
}
