// What a real-node harness that died without stopping (SIGKILL) leaves on the host, and its removal: the next run
// (a real node or kind, both need the host's network to themselves) calls this before it starts.
import { join } from 'node:path';
import { removeRuntimeLeftovers, taskIdsOnDisk } from './containerd.ts';
import { flushKubeChains, killProcessesUsing, unmountAllUnder } from './host-cleanup.ts';
import { removeLeftoverBridge, restoreForwarding } from './host-net.ts';
import { destroyKubeRouterIpsets } from './kube-router.ts';
import type { LockHolder } from './real-node-lock.ts';

/**
 * Clean-up after a real-node harness that died without stopping (SIGKILL): its daemons died with it (pdeathsig), but
 * containerd shims, container processes, mounts, its bridge, kube-proxy's and kube-router's chains and kube-router's
 * ipsets outlive it.
 */
export async function reapStaleNode(holder: LockHolder): Promise<void> {
  const nodeDir = join(holder.dir, 'node');
  const containerIds = await taskIdsOnDisk(join(nodeDir, 'containerd'));
  await killProcessesUsing(nodeDir, containerIds);
  await unmountAllUnder(nodeDir);
  if (holder.bridge) await removeLeftoverBridge(holder.bridge);
  await flushKubeChains();
  await destroyKubeRouterIpsets();
  await removeRuntimeLeftovers(containerIds);
  if (holder.ipForwardBefore) await restoreForwarding(holder.ipForwardBefore);
}
