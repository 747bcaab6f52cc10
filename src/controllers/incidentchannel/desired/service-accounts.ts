import type { KubeObject } from '../../../kube/objects.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';
import { COMPONENTS } from './ports.ts';

/**
 * No war-room workload talks to the Kubernetes API, so no pod gets a token: the namespace's `default` account is
 * switched off too, in case anything ever runs under it.
 */
export function buildServiceAccounts(ctx: BuildContext): KubeObject[] {
  const names = ['default', ...Object.values(COMPONENTS)];
  return names.map((name) => ({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name,
      namespace: ctx.namespace,
      labels: channelLabels(ctx.channel.name, name === 'default' ? undefined : name),
    },
    automountServiceAccountToken: false,
  }));
}
