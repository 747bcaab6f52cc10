// The one-per-machine lock found held by a run that died: what it left is removed before the next cluster starts, by
// whoever finds it. A dead REAL-NODE harness left shims, mounts, its bridge, kube-proxy's and kube-router's chains and
// ipsets (the real node's own clean-up, one function, so a step added there is never missing here). A dead kind ENGINE
// (dockerd killed) left its containerd, shims and the kind node's containers running, their mounts, links and
// cgroups: kind starting again simply takes over (its new engine reuses the same data root), but a real node must not
// start next to a kind node that still routes pods, so for it they are stopped and removed.

import type { LockHolder } from '../cluster/real-node-lock.ts';
import { reapStaleNode } from '../cluster/reap-stale-node.ts';
import { ENGINE_RUN_DIR, reapStaleEngine } from './engine.ts';

export async function reapStaleHolder(
  holder: LockHolder,
  log: (m: string) => void,
  next: 'kind' | 'real-node',
): Promise<void> {
  if (holder.dir === ENGINE_RUN_DIR) {
    if (next === 'kind') {
      log(`kind's previous engine (pid ${holder.pid}) died holding the lock; this engine takes over`);
      return;
    }
    log(`kind's engine (dockerd pid ${holder.pid}) died holding the lock: stopping its containers, removing the rest`);
    await reapStaleEngine(log);
    return;
  }
  log(`a real-node run (pid ${holder.pid}, ${holder.dir}) died holding the lock: removing what it left`);
  await reapStaleNode(holder);
}
