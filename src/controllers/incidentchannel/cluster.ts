import type { JsonPatchOp } from '../../kube/client.ts';
import type { KubeObject, ObjectRef } from '../../kube/objects.ts';
import type { Channel } from './channel.ts';
import type { PodState, Projected, WorkloadState } from './children.ts';
import type { NamespaceChildren } from './observe.ts';
import type { PortBlock } from './relay-ports.ts';
import type { ChannelStatus } from './status.ts';

/** What an apply left on the object: the echo of our own write is recognised by these. */
export interface Applied {
  resourceVersion?: string;
  generation?: number;
  /** status.phase as the apply returned it (a Namespace's Active/Terminating, before the cache has caught up). */
  phase?: string;
}

/**
 * Everything the reconciler needs from the cluster, and nothing more: writes go to the apiserver, reads come from the
 * watch caches (so a reconcile of a settled channel makes no request at all). Production wires it to the KubeClient
 * and the reflectors (kube-cluster.ts); the fast unit tier wires it to an in-memory double that records calls.
 * Every write takes the reconcile's abort signal, so the stop deadline really ends in-flight work.
 */
export interface ChannelCluster {
  channel(name: string): Channel | undefined;
  channels(): Channel[];
  namespace(name: string): Projected<{ phase: string }> | undefined;
  children(namespace: string): NamespaceChildren;
  /** Objects of the prunable kinds in a namespace that carry the channel's label (what prune compares against). */
  labelled(namespace: string, channelLabel: string): KubeObject[];
  /** The relay blocks coturn Services hold, cluster-wide. */
  coturnBlocks(): { namespace: string; block: PortBlock }[];

  apply(obj: KubeObject, signal: AbortSignal): Promise<Applied>;
  applyStatus(name: string, status: ChannelStatus, signal: AbortSignal): Promise<void>;
  patchChannel(name: string, ops: JsonPatchOp[], signal: AbortSignal): Promise<void>;
  delete(ref: ObjectRef, opts: { uid?: string }, signal: AbortSignal): Promise<boolean>;
}

export type { PodState, Projected, WorkloadState };
