import { createHash } from 'node:crypto';
import type { ObjectMeta } from '../../../kube/objects.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';

/** Metadata of a namespaced child: every one carries the channel labels (prune selects on them) and its component. */
export function childMeta(ctx: BuildContext, name: string, component: string): ObjectMeta {
  return { name, namespace: ctx.namespace, labels: channelLabels(ctx.channel.name, component) };
}

/**
 * Pod-template annotation holding a digest of the config a pod mounts: a config change changes the template, so the
 * workload controller rolls the pod (subPath and env-read config would otherwise stay stale until a restart).
 */
export const ANNOTATION_CONFIG_HASH = 'warroom.dev/config-hash';

export function configHash(data: Record<string, string>): string {
  const canonical = JSON.stringify(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash('sha256').update(canonical).digest('hex');
}
