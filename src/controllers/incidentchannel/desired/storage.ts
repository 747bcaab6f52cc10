import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';

/** A claim of a StatefulSet (`data` by default): the spec's storage class and size (immutable, as the CRD enforces). */
export function dataClaimTemplate(ctx: BuildContext, component: string, name = 'data') {
  return {
    metadata: { name, labels: channelLabels(ctx.channel.name, component) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(ctx.storage.className !== undefined ? { storageClassName: ctx.storage.className } : {}),
      resources: { requests: { storage: ctx.storage.size } },
    },
  };
}
