import type { KubeObject } from '../../../kube/objects.ts';
import { buildAccess } from './access.ts';
import type { BuildContext } from './context.ts';
import { buildCoturnConfigMap, buildCoturnDeployment, buildCoturnService } from './coturn.ts';
import { buildElementConfigMap, buildElementDeployment, buildElementService } from './element.ts';
import { buildIngress, buildSfuIngress } from './ingress.ts';
import { buildLiveKitConfigMap, buildLiveKitDeployment, buildLiveKitServices } from './livekit.ts';
import { buildNamespace } from './namespace.ts';
import { buildNetworkPolicies } from './network-policies.ts';
import { buildPostgresService, buildPostgresStatefulSet } from './postgres.ts';
import { buildProvisionerJob } from './provisioner-job.ts';
import { buildQuota } from './quota.ts';
import { buildRtcAuthoriserDeployment, buildRtcAuthoriserService } from './rtc-authoriser.ts';
import { buildServiceAccounts } from './service-accounts.ts';
import { buildSynapseConfigMap, buildSynapseService, buildSynapseStatefulSet } from './synapse.ts';

/**
 * The whole desired state of one channel, in apply order: the Namespace, then the NetworkPolicies (so no workload
 * ever runs unfenced), then quota and accounts, config, Services, the workloads (the database before the homeserver
 * that needs it), the Ingress, the access grant, and last the provisioning Job, which needs everything else.
 * Secrets are not here: their values are random, so the reconciler creates them once from `secretPlan` (secrets.ts).
 */
export function buildDesired(ctx: BuildContext): KubeObject[] {
  const calls = ctx.calls.enabled;
  const postgres = ctx.database === 'postgres';
  // MatrixRTC: the SFU and its authoriser, only in a war room with calls and an `sfu` block.
  const rtc = calls && ctx.calls.sfu !== undefined;
  const ingress = buildIngress(ctx);
  const sfuIngress = buildSfuIngress(ctx);
  return [
    buildNamespace(ctx),
    ...buildNetworkPolicies(ctx),
    ...buildQuota(ctx),
    ...buildServiceAccounts(ctx),
    buildSynapseConfigMap(ctx),
    buildElementConfigMap(ctx),
    ...(calls ? [buildCoturnConfigMap(ctx)] : []),
    ...(rtc ? [buildLiveKitConfigMap(ctx)] : []),
    ...(postgres ? [buildPostgresService(ctx)] : []),
    buildSynapseService(ctx),
    buildElementService(ctx),
    ...(calls ? [buildCoturnService(ctx)] : []),
    ...(rtc ? [...buildLiveKitServices(ctx), buildRtcAuthoriserService(ctx)] : []),
    ...(postgres ? [buildPostgresStatefulSet(ctx)] : []),
    buildSynapseStatefulSet(ctx),
    buildElementDeployment(ctx),
    ...(calls ? [buildCoturnDeployment(ctx)] : []),
    ...(rtc ? [buildLiveKitDeployment(ctx), buildRtcAuthoriserDeployment(ctx)] : []),
    ...(ingress ? [ingress] : []),
    ...(sfuIngress ? [sfuIngress] : []),
    ...buildAccess(ctx),
    buildProvisionerJob(ctx),
  ];
}

/**
 * Kinds the prune step lists by label: anything of these kinds we labelled but no longer build is deleted (calls
 * switched off, an old provisioning Job, access removed). Never PVCs (the homeserver's state) nor Secrets and
 * SealedSecrets, which are created once and live exactly as long as the namespace.
 */
export const PRUNABLE_KINDS: { apiVersion: string; kind: string }[] = [
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
  { apiVersion: 'v1', kind: 'ResourceQuota' },
  { apiVersion: 'v1', kind: 'LimitRange' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'batch/v1', kind: 'Job' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
];
