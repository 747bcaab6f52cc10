import type { KubeObject } from '../../../kube/objects.ts';
import { ANNOTATION_CHANNEL_UID, channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';
import { channelOwnerReference } from './owner.ts';

/** PSA `restricted` in all three modes: the apiserver itself refuses any pod that is not locked down. */
export const PSA_LABELS = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/warn-version': 'latest',
  'pod-security.kubernetes.io/audit': 'restricted',
  'pod-security.kubernetes.io/audit-version': 'latest',
} as const;

export function buildNamespace(ctx: BuildContext): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: ctx.namespace,
      labels: { ...channelLabels(ctx.channel.name), ...PSA_LABELS },
      annotations: { [ANNOTATION_CHANNEL_UID]: ctx.channel.uid },
      ownerReferences: [channelOwnerReference(ctx.channel)],
    },
  };
}
