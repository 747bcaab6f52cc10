// What kind does when it finds the one-per-machine lock held by a run that died. Its own engine (dir = the engine's
// run dir) needs nothing: the engine just started reuses its data root and network. A dead REAL-NODE harness left
// shims, mounts, its bridge, kube-proxy's and kube-router's chains and ipsets on the host: they are removed with the
// real node's own clean-up (one function, so a step added there is never missing here), so kind never starts next to
// another cluster's leftovers.

import { reapStaleNode } from '../cluster/real-node.ts';
import type { LockHolder } from '../cluster/real-node-lock.ts';
import { ENGINE_RUN_DIR } from './engine.ts';

export async function reapStaleHolder(holder: LockHolder, log: (m: string) => void): Promise<void> {
  if (holder.dir === ENGINE_RUN_DIR) {
    log(`kind's previous engine (pid ${holder.pid}) died holding the lock; this engine takes over`);
    return;
  }
  log(`a real-node run (pid ${holder.pid}, ${holder.dir}) died holding the lock: removing what it left`);
  await reapStaleNode(holder);
}
