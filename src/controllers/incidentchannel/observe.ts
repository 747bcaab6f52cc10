import type { KubeClient } from '../../kube/client.ts';
import { type KubeObject, refOf } from '../../kube/objects.ts';
import { LABEL_COMPONENT } from './names.ts';

export interface ComponentCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** Which condition each workload's component reports into. */
const CONDITION_OF_COMPONENT: Record<string, string> = {
  synapse: 'SynapseReady',
  postgres: 'SynapseReady',
  element: 'ElementReady',
  coturn: 'TurnReady',
  provisioner: 'UsersProvisioned',
};

interface WorkloadStatus {
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  succeeded?: number;
  failed?: number;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
}

/**
 * Reads back the workloads this reconcile applied and says, per component, whether it is up: StatefulSets and
 * Deployments by ready replicas, the provisioning Job by completion. One GET per workload, at reconcile time only.
 */
export async function observeWorkloads(client: KubeClient, desired: KubeObject[]): Promise<ComponentCondition[]> {
  const workloads = desired.filter((o) => ['StatefulSet', 'Deployment', 'Job'].includes(o.kind));
  const results = await Promise.all(
    workloads.map(async (w) => {
      const live = await client.get<KubeObject & { status?: WorkloadStatus; spec?: { replicas?: number } }>(refOf(w));
      const cond = describe(w, live);
      if (cond.status !== 'True' && cond.reason !== 'ProvisioningFailed') {
        const stuck = await podTrouble(client, w);
        if (stuck)
          return {
            w,
            live,
            cond: { status: 'False' as const, reason: stuck.reason, message: `${cond.message}; ${stuck.message}` },
          };
      }
      return { w, live, cond };
    }),
  );
  const byType = new Map<string, ComponentCondition>();
  for (const { w, cond } of results) {
    const type = CONDITION_OF_COMPONENT[w.metadata.labels?.[LABEL_COMPONENT] ?? ''];
    if (!type) continue;
    const prev = byType.get(type);
    // Several workloads in one condition (Synapse + Postgres): the worst one speaks.
    if (!prev || (prev.status === 'True' && cond.status !== 'True')) byType.set(type, { ...cond, type });
  }
  return [...byType.values()];
}

function describe(
  w: KubeObject,
  live: (KubeObject & { status?: WorkloadStatus; spec?: { replicas?: number } }) | undefined,
): Omit<ComponentCondition, 'type'> {
  const what = `${w.kind} ${w.metadata.name}`;
  if (!live) return { status: 'Unknown', reason: 'NotFound', message: `${what} does not exist yet` };
  const s = live.status ?? {};
  if (w.kind === 'Job') {
    const failed = s.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
    if (failed) {
      return {
        status: 'False',
        reason: 'ProvisioningFailed',
        message: `${what} failed: ${failed.message ?? failed.reason ?? ''}`,
      };
    }
    if ((s.succeeded ?? 0) > 0) return { status: 'True', reason: 'Completed', message: `${what} completed` };
    return { status: 'False', reason: 'Provisioning', message: `${what} is running` };
  }
  const want = live.spec?.replicas ?? 1;
  const ready = w.kind === 'Deployment' ? (s.availableReplicas ?? 0) : (s.readyReplicas ?? 0);
  if (ready >= want) return { status: 'True', reason: 'Ready', message: `${what}: ${ready}/${want} ready` };
  return { status: 'False', reason: 'NotReady', message: `${what}: ${ready}/${want} ready` };
}

/** Waiting reasons that will not fix themselves: a human has to act, so they go into the condition verbatim. */
const STUCK_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

async function podTrouble(client: KubeClient, w: KubeObject): Promise<{ reason: string; message: string } | undefined> {
  const component = w.metadata.labels?.[LABEL_COMPONENT];
  if (!component || !w.metadata.namespace) return undefined;
  const pods = await client.list<
    KubeObject & {
      status?: {
        conditions?: { type: string; status: string; reason?: string; message?: string }[];
        containerStatuses?: {
          name: string;
          image?: string;
          state?: { waiting?: { reason?: string; message?: string } };
        }[];
        initContainerStatuses?: {
          name: string;
          image?: string;
          state?: { waiting?: { reason?: string; message?: string } };
        }[];
      };
    }
  >('v1', 'Pod', { namespace: w.metadata.namespace, labelSelector: `${LABEL_COMPONENT}=${component}` });
  for (const pod of pods) {
    const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    if (unscheduled?.reason === 'Unschedulable') {
      return {
        reason: 'Unschedulable',
        message: `pod ${pod.metadata.name} cannot be scheduled: ${(unscheduled.message ?? '').slice(0, 300)}`,
      };
    }
    for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = c.state?.waiting;
      if (waiting?.reason && STUCK_REASONS.has(waiting.reason)) {
        return {
          reason: waiting.reason,
          message: `pod ${pod.metadata.name} container ${c.name} (${c.image ?? 'unknown image'}): ${waiting.reason}${waiting.message ? `: ${waiting.message.slice(0, 300)}` : ''}`,
        };
      }
    }
  }
  return undefined;
}
