import { parseQuantity } from '../../../api/v1alpha1/quantity.ts';
import type { KubeObject } from '../../../kube/objects.ts';
import { channelLabels } from '../names.ts';
import type { BuildContext } from './context.ts';

/**
 * A war room is small and fixed-size: the quota caps what a compromised pod could spawn, and the LimitRange gives
 * every container requests/limits so the quota never rejects a sidecar that forgot them.
 */
export function buildQuota(ctx: BuildContext): KubeObject[] {
  const relayPorts = ctx.calls.enabled ? ctx.calls.relayPortMax - ctx.calls.relayPortMin + 1 : 0;
  const sfuServices = ctx.calls.enabled && ctx.calls.sfu ? 1 : 0;
  // coturn's Service, and the SFU's media Service when the war room runs MatrixRTC calls.
  const loadBalancers = ctx.calls.enabled ? 1 + sfuServices : 0;
  // TURN needs one node port per relay port plus the listening port (UDP and TCP share one Service); the SFU one for
  // its TCP port and one for its UDP port.
  const nodePorts = ctx.calls.enabled ? relayPorts + 2 + 2 * sfuServices : 0;
  const labels = channelLabels(ctx.channel.name);
  return [
    {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'warroom', namespace: ctx.namespace, labels },
      spec: {
        hard: {
          pods: '20',
          'requests.cpu': '4',
          'requests.memory': '8Gi',
          'limits.cpu': '8',
          'limits.memory': '16Gi',
          persistentvolumeclaims: '4',
          'requests.storage': storageQuota(ctx),
          // Twice what the Services use. The apiserver charges a Service's node ports (and its load balancer) to the
          // quota before it stores the Service, and a create cut short (the operator killed mid-request) keeps its
          // charge until the quota controller's next full recount, 5 min by default: with no room for one such
          // charge, the war room's retry after a crash was refused until then.
          'services.loadbalancers': String(2 * loadBalancers),
          'services.nodeports': String(2 * nodePorts),
          'count/secrets': '30',
          'count/configmaps': '30',
          'count/jobs.batch': '5',
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'warroom-defaults', namespace: ctx.namespace, labels },
      spec: {
        limits: [
          {
            type: 'Container',
            defaultRequest: { cpu: '50m', memory: '64Mi' },
            default: { cpu: '1', memory: '1Gi' },
            max: { cpu: '4', memory: '8Gi' },
          },
        ],
      },
    },
  ];
}

/**
 * Room for every claim the channel makes (Synapse's data, the recorder's transcript, Postgres), each of the spec's
 * size, and at least the 100Gi the quota always allowed; a fixed cap would refuse a large volume's PVC outright.
 */
function storageQuota(ctx: BuildContext): string {
  const claims = 1 + (ctx.recording.enabled ? 1 : 0) + (ctx.database === 'postgres' ? 1 : 0);
  const gib = Math.ceil((claims * parseQuantity(ctx.storage.size)) / 2 ** 30);
  return `${Math.max(100, gib)}Gi`;
}
