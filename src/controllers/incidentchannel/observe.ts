import { type Cond, cond, STUCK_POD_REASONS, type StuckPodReason } from '../../api/v1alpha1/conditions.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { PodState, Projected, WorkloadState } from './children.ts';
import { LABEL_COMPONENT } from './names.ts';

type WorkloadCondition = 'SynapseReady' | 'ElementReady' | 'TurnReady' | 'CallsReady' | 'UsersProvisioned';

/** Which condition each workload's component reports into. */
const CONDITION_OF_COMPONENT: Record<string, WorkloadCondition> = {
  synapse: 'SynapseReady',
  postgres: 'SynapseReady',
  element: 'ElementReady',
  coturn: 'TurnReady',
  livekit: 'CallsReady',
  'rtc-authoriser': 'CallsReady',
  provisioner: 'UsersProvisioned',
};

/** What the watch caches hold for one war-room namespace. */
export interface NamespaceChildren {
  workload(kind: string, name: string): Projected<WorkloadState> | undefined;
  pods(): Projected<PodState>[];
}

const isStuck = (reason: string): reason is StuckPodReason => (STUCK_POD_REASONS as readonly string[]).includes(reason);

/**
 * Per component, whether it is up: StatefulSets and Deployments by ready replicas, the provisioning Job by completion,
 * and, when not up, the first reason a pod of it gives that a human must act on (image pull, crash loop, no node).
 * Reads the caches only: no request.
 */
export function observeWorkloads(desired: readonly KubeObject[], live: NamespaceChildren): Cond[] {
  const pods = live.pods();
  const byType = new Map<WorkloadCondition, Cond>();
  for (const w of desired) {
    if (w.kind !== 'StatefulSet' && w.kind !== 'Deployment' && w.kind !== 'Job') continue;
    const component = w.metadata.labels?.[LABEL_COMPONENT] ?? '';
    const type = CONDITION_OF_COMPONENT[component];
    if (!type) continue;
    let c = describe(type, w, live.workload(w.kind, w.metadata.name));
    if (c.status !== 'True' && c.reason !== 'ProvisioningFailed') {
      const stuck = podTrouble(pods, component);
      if (stuck) c = cond(type, 'False', stuck.reason, `${c.message}; ${stuck.message}`);
    }
    const prev = byType.get(type);
    // Several workloads in one condition (Synapse + Postgres): the worst one speaks.
    if (!prev || (prev.status === 'True' && c.status !== 'True')) byType.set(type, c);
  }
  return [...byType.values()];
}

function describe(type: WorkloadCondition, w: KubeObject, live: Projected<WorkloadState> | undefined): Cond {
  const what = `${w.kind} ${w.metadata.name}`;
  if (!live) return cond(type, 'False', 'NotFound', `${what} does not exist yet`);
  const s = live.state;
  if (w.kind === 'Job') {
    const job = 'UsersProvisioned';
    if (s.failed !== undefined) return cond(job, 'False', 'ProvisioningFailed', `${what} failed: ${s.failed}`);
    if (s.succeeded > 0) return cond(job, 'True', 'Completed', `${what} completed`);
    return cond(job, 'False', 'Running', `${what} is running`);
  }
  if (type === 'UsersProvisioned') return cond(type, 'False', 'Running', `${what} is not a Job`);
  const ready = w.kind === 'Deployment' ? s.availableReplicas : s.readyReplicas;
  const c = ready >= s.replicas ? ('Ready' as const) : ('NotReady' as const);
  return cond(type, c === 'Ready' ? 'True' : 'False', c, `${what}: ${ready}/${s.replicas} ready`);
}

function podTrouble(
  pods: Projected<PodState>[],
  component: string,
): { reason: StuckPodReason; message: string } | undefined {
  for (const pod of pods) {
    if (pod.metadata.labels?.[LABEL_COMPONENT] !== component) continue;
    if (pod.state.unschedulable !== undefined) {
      return {
        reason: 'Unschedulable',
        message: `pod ${pod.metadata.name} cannot be scheduled: ${pod.state.unschedulable}`,
      };
    }
    for (const w of pod.state.waiting) {
      if (!isStuck(w.reason)) continue;
      return {
        reason: w.reason,
        message: `pod ${pod.metadata.name} container ${w.container} (${w.image || 'unknown image'}): ${w.reason}${w.message ? `: ${w.message}` : ''}`,
      };
    }
  }
  return undefined;
}
