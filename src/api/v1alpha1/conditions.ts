// Condition types and reasons of IncidentChannel status, and the metav1.Condition update rule. Types follow kstatus
// (Ready, plus abnormal-true Reconciling and Stalled) so generic tooling (kubectl wait, Flux, Argo) reads them right.
import type { Condition, ConditionStatus } from './incidentchannel.ts';

export const ConditionType = {
  Ready: 'Ready',
  Reconciling: 'Reconciling',
  Stalled: 'Stalled',
  NamespaceReady: 'NamespaceReady',
  SecretsSealed: 'SecretsSealed',
  SynapseReady: 'SynapseReady',
  ElementReady: 'ElementReady',
  TurnReady: 'TurnReady',
  UsersProvisioned: 'UsersProvisioned',
  Recording: 'Recording',
  EvidenceArchived: 'EvidenceArchived',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** CamelCase reasons (the metav1.Condition reason pattern); one vocabulary for every controller and the UI. */
export const ConditionReason = {
  // Generic progress
  Reconciling: 'Reconciling',
  Progressing: 'Progressing',
  Succeeded: 'Succeeded',
  AllComponentsReady: 'AllComponentsReady',
  ComponentsNotReady: 'ComponentsNotReady',
  ApplyFailed: 'ApplyFailed',
  // Stalled
  InvalidSpec: 'InvalidSpec',
  TTLCapped: 'TTLCapped',
  // Namespace
  NamespaceActive: 'NamespaceActive',
  NamespaceTerminating: 'NamespaceTerminating',
  NamespaceMissing: 'NamespaceMissing',
  // Secrets
  SealedSecretsApplied: 'SealedSecretsApplied',
  PlainSecretsApplied: 'PlainSecretsApplied',
  SealingFailed: 'SealingFailed',
  SealedSecretsControllerMissing: 'SealedSecretsControllerMissing',
  // Workloads
  RolloutInProgress: 'RolloutInProgress',
  RolloutComplete: 'RolloutComplete',
  CallsDisabled: 'CallsDisabled',
  // Provisioning job
  ProvisioningJobRunning: 'ProvisioningJobRunning',
  ProvisioningJobSucceeded: 'ProvisioningJobSucceeded',
  ProvisioningJobFailed: 'ProvisioningJobFailed',
  // Recording
  RecorderRunning: 'RecorderRunning',
  RecorderNotReady: 'RecorderNotReady',
  RecordingDisabled: 'RecordingDisabled',
  // Teardown and evidence
  CaseClosed: 'CaseClosed',
  TTLExpired: 'TTLExpired',
  ArchiveInProgress: 'ArchiveInProgress',
  ArchiveVerified: 'ArchiveVerified',
  ArchiveVerificationFailed: 'ArchiveVerificationFailed',
  ArchiveForced: 'ArchiveForced',
} as const;
export type ConditionReason = (typeof ConditionReason)[keyof typeof ConditionReason];

/** A condition as a controller states it; `setCondition` decides its lastTransitionTime. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

/** metav1.Time: RFC 3339 in UTC with second precision, as the apiserver itself writes it. */
export function toMetaTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Returns a new list with `update` in place of the condition of the same type (appended when new). lastTransitionTime
 * moves to `now` only when the status flips, so it tells how long the condition has held; reason, message and
 * observedGeneration always take the new values. The input is not modified and the other conditions keep their order.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: Date,
): Condition[] {
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === update.type);
  const lastTransitionTime =
    existing && existing.status === update.status ? existing.lastTransitionTime : toMetaTime(now);
  const next: Condition = { ...update, lastTransitionTime };
  return existing ? list.map((c) => (c.type === update.type ? next : c)) : [...list, next];
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True only for status "True"; an absent condition, like "Unknown", is not true. */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === ('True' satisfies ConditionStatus);
}
