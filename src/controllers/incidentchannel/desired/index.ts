import type { KubeObject } from '../../../kube/objects.ts';
import type { BuildContext } from './context.ts';
import { buildNamespace } from './namespace.ts';
import { buildNetworkPolicies } from './network-policies.ts';
import { buildQuota } from './quota.ts';
import { buildServiceAccounts } from './service-accounts.ts';

/**
 * The whole desired state of one channel, in apply order: the Namespace, then the NetworkPolicies (so no workload
 * ever runs unfenced), then quota and accounts, then (environment builders) secrets, config and workloads.
 */
export function buildDesired(ctx: BuildContext): KubeObject[] {
  return [buildNamespace(ctx), ...buildNetworkPolicies(ctx), ...buildQuota(ctx), ...buildServiceAccounts(ctx)];
}

/** Kinds the prune step lists by label: anything of these kinds we labelled but no longer build is deleted. */
export const PRUNABLE_KINDS: { apiVersion: string; kind: string }[] = [
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
  { apiVersion: 'v1', kind: 'ResourceQuota' },
  { apiVersion: 'v1', kind: 'LimitRange' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
];
