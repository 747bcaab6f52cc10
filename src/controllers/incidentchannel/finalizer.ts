import type { KubeObject } from '../../kube/objects.ts';
import type { ChannelCluster } from './cluster.ts';
import { FINALIZER } from './names.ts';

export const hasFinalizer = (o: KubeObject): boolean => (o.metadata.finalizers ?? []).includes(FINALIZER);

/**
 * Finalizer edits are JSON patches guarded by a `test` of the current list (kube-rs style): if someone else changed
 * the finalizers meanwhile, the patch fails with 422 and the retry reads fresh state, instead of clobbering theirs.
 */
export async function addFinalizer(cluster: ChannelCluster, o: KubeObject, signal: AbortSignal): Promise<void> {
  const current = o.metadata.finalizers;
  await cluster.patchChannel(
    o.metadata.name,
    current
      ? [
          { op: 'test', path: '/metadata/finalizers', value: current },
          { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER },
        ]
      : [
          { op: 'test', path: '/metadata/resourceVersion', value: o.metadata.resourceVersion },
          { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] },
        ],
    signal,
  );
}

/** The object as it is once addFinalizer succeeded: the reconcile goes on with it instead of waiting for the echo. */
export function withFinalizer<T extends KubeObject>(o: T): T {
  return { ...o, metadata: { ...o.metadata, finalizers: [...(o.metadata.finalizers ?? []), FINALIZER] } };
}

export async function removeFinalizer(cluster: ChannelCluster, o: KubeObject, signal: AbortSignal): Promise<void> {
  const current = o.metadata.finalizers ?? [];
  const index = current.indexOf(FINALIZER);
  if (index < 0) return;
  await cluster.patchChannel(
    o.metadata.name,
    [
      { op: 'test', path: `/metadata/finalizers/${index}`, value: FINALIZER },
      { op: 'remove', path: `/metadata/finalizers/${index}` },
    ],
    signal,
  );
}
