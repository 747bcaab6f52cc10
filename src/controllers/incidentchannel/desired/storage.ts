import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';

/** The `data` claim of a StatefulSet: the spec's storage class and size (immutable, as the CRD enforces). */
export function dataClaimTemplate(ctx: BuildContext, component: string) {
  return {
    metadata: { name: 'data', labels: channelLabels(ctx.channel.name, component) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(ctx.storage.className !== undefined ? { storageClassName: ctx.storage.className } : {}),
      resources: { requests: { storage: ctx.storage.size } },
    },
  };
}
