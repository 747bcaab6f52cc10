import type { KubeClient } from '../../kube/client.ts';
import type { KubeObject, ObjectRef } from '../../kube/objects.ts';
import { FINALIZER } from './names.ts';

export const hasFinalizer = (o: KubeObject): boolean => (o.metadata.finalizers ?? []).includes(FINALIZER);

/**
 * Finalizer edits are JSON patches guarded by a `test` of the current list (kube-rs style): if someone else changed
 * the finalizers meanwhile, the patch fails with 422 and the retry reads fresh state, instead of clobbering theirs.
 */
export async function addFinalizer(client: KubeClient, ref: ObjectRef, o: KubeObject): Promise<void> {
  const current = o.metadata.finalizers;
  if (!current) {
    await client.jsonPatch(ref, [
      { op: 'test', path: '/metadata/resourceVersion', value: o.metadata.resourceVersion },
      { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] },
    ]);
    return;
  }
  await client.jsonPatch(ref, [
    { op: 'test', path: '/metadata/finalizers', value: current },
    { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER },
  ]);
}

export async function removeFinalizer(client: KubeClient, ref: ObjectRef, o: KubeObject): Promise<void> {
  const current = o.metadata.finalizers ?? [];
  const index = current.indexOf(FINALIZER);
  if (index < 0) return;
  await client.jsonPatch(ref, [
    { op: 'test', path: `/metadata/finalizers/${index}`, value: FINALIZER },
    { op: 'remove', path: `/metadata/finalizers/${index}` },
  ]);
}
