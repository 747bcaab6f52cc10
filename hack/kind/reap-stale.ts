// What kind does when it finds the one-per-machine lock held by a run that died. Its own engine (dir = the engine's
// run dir) needs nothing: the engine just started reuses its data root and network. A dead REAL-NODE harness left
// shims, mounts, its bridge and kube-proxy's chains on the host: they are removed with the real node's own clean-up
// steps (the same sequence as hack/cluster/real-node.ts's reapStaleNode, which is not exported), so kind never
// starts next to another cluster's leftovers.
import { join } from 'node:path';
import { removeRuntimeLeftovers, taskIdsOnDisk } from '../cluster/containerd.ts';
import { flushKubeChains, killProcessesUsing, unmountAllUnder } from '../cluster/host-cleanup.ts';
import { deleteNodeNetwork, removeForwardGuard, restoreForwarding } from '../cluster/host-net.ts';
import type { LockHolder } from '../cluster/real-node-lock.ts';
import { ENGINE_RUN_DIR } from './engine.ts';

export async function reapStaleHolder(holder: LockHolder, log: (m: string) => void): Promise<void> {
  if (holder.dir === ENGINE_RUN_DIR) {
    log(`kind's previous engine (pid ${holder.pid}) died holding the lock; this engine takes over`);
    return;
  }
  log(`a real-node run (pid ${holder.pid}, ${holder.dir}) died holding the lock: removing what it left`);
  const nodeDir = join(holder.dir, 'node');
  const containerIds = await taskIdsOnDisk(join(nodeDir, 'containerd'));
  await killProcessesUsing(nodeDir, containerIds);
  await unmountAllUnder(nodeDir);
  if (holder.bridge) {
    const net = { bridge: holder.bridge, subnet: '', nodeIp: '' };
    await removeForwardGuard(net);
    await deleteNodeNetwork(net);
  }
  await flushKubeChains();
  await removeRuntimeLeftovers(containerIds);
  if (holder.ipForwardBefore) await restoreForwarding(holder.ipForwardBefore);
}
