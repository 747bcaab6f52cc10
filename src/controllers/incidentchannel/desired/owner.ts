import type { OwnerReference } from '../../../kube/objects.ts';
import type { ChannelRef } from './context.ts';

/** The Namespace is owned by its (cluster-scoped) channel, so the GC removes it even if the finalizer is bypassed. */
export function channelOwnerReference(channel: ChannelRef): OwnerReference {
  return {
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    name: channel.name,
    uid: channel.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}
