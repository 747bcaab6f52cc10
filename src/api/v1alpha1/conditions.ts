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
  CallsReady: 'CallsReady',
  UsersProvisioned: 'UsersProvisioned',
  Recording: 'Recording',
  ImagesPinned: 'ImagesPinned',
  EvidenceArchived: 'EvidenceArchived',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Why a pod of a workload is not coming up, in the kubelet's/scheduler's own words: a human has to act. */
export const STUCK_POD_REASONS = [
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'Unschedulable',
] as const;
export type StuckPodReason = (typeof STUCK_POD_REASONS)[number];

/** Reasons of a condition that follows one workload (or a pair, e.g. Synapse and its Postgres). */
const WORKLOAD_REASONS = ['Ready', 'NotFound', 'NotReady', ...STUCK_POD_REASONS] as const;

/**
 * The whole vocabulary: for each condition type, the reasons it may carry. `Cond<T>` only accepts these, so an
 * undeclared reason does not compile, and this table is what the README lists.
 * kstatus polarity: Ready is normal-true and always present; Reconciling and Stalled are abnormal-true and present
 * ONLY while true (removed when they stop holding), as kubectl wait, Flux and Argo CD expect.
 */
export const CONDITION_REASONS = {
  Ready: [
    'WarRoomReady',
    'ExpiringSoon',
    'Provisioning',
    'Stalled',
    'Archiving',
    'CaseClosed',
    'TTLExpired',
    'Deleting',
  ],
  Reconciling: ['Provisioning', 'RetryingAfterError', 'TearingDown'],
  Stalled: [
    'InvalidSpec',
    'ChildRejected',
    'DuplicateCaseId',
    'SealedSecretsUnavailable',
    'ProvisioningFailed',
    'EvidenceNotVerified',
    'RelayPortsExhausted',
    'RelayPortsTaken',
  ],
  NamespaceReady: ['Active', 'NotCreated', 'Terminating', 'TearingDown', 'Deleted'],
  SecretsSealed: ['Sealed', 'CreatedPlain', 'SealedSecretsUnavailable'],
  SynapseReady: WORKLOAD_REASONS,
  ElementReady: WORKLOAD_REASONS,
  TurnReady: WORKLOAD_REASONS,
  CallsReady: WORKLOAD_REASONS,
  UsersProvisioned: ['Completed', 'NotFound', 'Running', 'ProvisioningFailed', ...STUCK_POD_REASONS],
  Recording: ['RecorderRunning', 'RecorderNotReady', 'RecorderUnreachable', 'RecordingDisabled'],
  ImagesPinned: ['DigestPinned', 'NotPinnedByDigest'],
  EvidenceArchived: [
    'Verified',
    'RecordingDisabled',
    'RecorderUnreachable',
    'EvidenceStoreFailed',
    'ArchiveVerificationFailed',
    'TimestampUnavailable',
    'TimestampInvalid',
  ],
} as const satisfies Record<ConditionType, readonly string[]>;

export type ReasonOf<T extends ConditionType> = (typeof CONDITION_REASONS)[T][number];

/** Every reason of every type, by name (the metav1.Condition reason pattern is checked on all of them by a test). */
export const ConditionReason = Object.fromEntries(
  Object.values(CONDITION_REASONS)
    .flat()
    .map((r) => [r, r]),
) as { readonly [R in (typeof CONDITION_REASONS)[ConditionType][number]]: R };
export type ConditionReason = (typeof CONDITION_REASONS)[ConditionType][number];

/** One condition as a phase states it: the reason must belong to the type. */
export type Cond<T extends ConditionType = ConditionType> = T extends ConditionType
  ? { type: T; status: ConditionStatus; reason: ReasonOf<T>; message: string }
  : never;

export function cond<T extends ConditionType>(
  type: T,
  status: ConditionStatus,
  reason: ReasonOf<T>,
  message: string,
): Cond<T> {
  return { type, status, reason, message } as Cond<T>;
}

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
