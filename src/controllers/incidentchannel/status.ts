import { type Cond, type ConditionType, cond, setCondition, toMetaTime } from '../../api/v1alpha1/conditions.ts';
import {
  type Condition,
  IncidentChannelStatus,
  type Phase,
  type IncidentChannelStatus as Status,
} from '../../api/v1alpha1/incidentchannel.ts';
import type { Channel } from './channel.ts';
import type { ArchiveRecord, EvidenceOutcome } from './evidence-hook.ts';
import type { TeardownReason } from './expiry.ts';

export type { Condition, Phase };

/** The status the operator writes: the zod type the CRD is generated from, so a field the CRD lacks cannot compile. */
export type ChannelStatus = Status & { phase: Phase; conditions: Condition[] };

/** What the phases of one reconcile of a live channel found; status is a pure function of this and the old status. */
export interface LiveOutcome {
  /** Per-part conditions, in the order the phases ran (NamespaceReady, SecretsSealed, SynapseReady, …). */
  parts: Cond[];
  /** The parts that must be True for the war room to be Ready (Recording and ImagesPinned only inform). */
  required: ConditionType[];
  /** A human must act: the spec, a child the apiserver refuses, a duplicate case, no sealing controller. */
  stalled?: Cond<'Stalled'>;
  /** A transient error has lasted over a minute: said in Reconciling, retried with backoff. */
  retrying?: string;
  /** Status fields the phases set (namespace, expiresAt, endpoints, relayPorts, recording, ttlWarningsSent, …). */
  fields: Partial<Status>;
  /** Conditions no phase re-checked this time that keep their last word (the recorder not asked, say). */
  keep?: ConditionType[];
  /** The spec generation these results answer (absent when a phase stopped before acting on it). */
  actedOnGeneration: boolean;
  readyMessage: string;
  /** At least one expiry warning has been posted: Ready shows as Expiring. */
  warned: boolean;
}

/**
 * metav1.Condition semantics: lastTransitionTime moves only when status flips, so `kubectl describe` shows how long
 * a condition has held; every condition carries the generation it was computed from. Only the stated conditions are
 * kept: one that stops holding (Reconciling, Stalled) disappears, as kstatus wants.
 */
export function mergeConditions(
  previous: readonly Condition[],
  next: readonly Cond[],
  now: Date,
  generation: number | undefined,
  keep: readonly ConditionType[] = [],
): Condition[] {
  let merged: Condition[] = [...previous];
  for (const c of next) {
    merged = setCondition(
      merged,
      { ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}) },
      now,
    );
  }
  const stated = new Set<string>(next.map((c) => c.type));
  // A condition nobody re-checked this time keeps its last word (and its lastTransitionTime).
  const carried = previous.filter((c) => !stated.has(c.type) && keep.some((k) => k === c.type));
  return [
    ...next.map((c) => merged.find((m) => m.type === c.type)).filter((c): c is Condition => c !== undefined),
    ...carried,
  ];
}

/** Fields only earlier reconciles know (archive, relay ports, warnings sent, …) survive every rewrite. */
function carry(prev: Status | undefined): Partial<Status> {
  if (!prev) return {};
  const { namespace, expiresAt, ttlWarningsSent, archive, closedAt, relayPorts, recording, endpoints } = prev;
  const kept = { namespace, expiresAt, ttlWarningsSent, archive, closedAt, relayPorts, recording, endpoints };
  return Object.fromEntries(Object.entries(kept).filter(([, v]) => v !== undefined));
}

const participantCount = (channel: Channel) =>
  channel.parsed.ok ? channel.parsed.spec.participants.length : undefined;

/**
 * Status of a live channel. Ready is derived: every required part True and nothing stalled. Reconciling and Stalled
 * follow kstatus and are present only while true.
 */
export function liveStatus(channel: Channel, o: LiveOutcome, now: Date): ChannelStatus {
  const prev = channel.status;
  const generation = channel.metadata.generation;
  const byType = new Map(o.parts.map((c) => [c.type, c]));
  const waiting = o.required
    .map((t) => byType.get(t) ?? cond(t, 'False', 'NotFound', `${t}: not checked yet`))
    .filter((c) => c.status !== 'True');
  const ready = !o.stalled && waiting.length === 0;
  const phase: Phase = o.stalled ? 'Failed' : ready ? (o.warned ? 'Expiring' : 'Ready') : 'Provisioning';
  const summary: Cond[] = [
    ready
      ? cond('Ready', 'True', o.warned ? 'ExpiringSoon' : 'WarRoomReady', o.readyMessage)
      : o.stalled
        ? cond('Ready', 'False', 'Stalled', o.stalled.message)
        : cond('Ready', 'False', 'Provisioning', `waiting for ${waiting.map((c) => c.message).join('; ')}`),
  ];
  if (o.stalled) summary.push(o.stalled);
  else if (o.retrying) summary.push(cond('Reconciling', 'True', 'RetryingAfterError', o.retrying));
  else if (!ready) summary.push(cond('Reconciling', 'True', 'Provisioning', 'building the war room'));
  return {
    ...carry(prev),
    ...o.fields,
    phase,
    // kstatus: observedGeneration says "this generation was fully acted on"; a phase that stopped short keeps the old.
    ...(o.actedOnGeneration
      ? { observedGeneration: generation }
      : prev?.observedGeneration !== undefined
        ? { observedGeneration: prev.observedGeneration }
        : {}),
    ...(participantCount(channel) !== undefined ? { participantCount: participantCount(channel) } : {}),
    conditions: mergeConditions(prev?.conditions ?? [], [...summary, ...o.parts], now, generation, o.keep),
  };
}

export interface TeardownOutcome {
  phase: 'Archiving' | 'Closed' | 'Expired';
  reason: TeardownReason;
  evidence?: EvidenceOutcome;
}

const READY_REASON_OF: Record<TeardownReason, 'CaseClosed' | 'TTLExpired' | 'Deleting'> = {
  CaseClosed: 'CaseClosed',
  TTLExpired: 'TTLExpired',
  Deleted: 'Deleting',
};

const WHY: Record<TeardownReason, string> = {
  Deleted: 'the channel is being deleted',
  CaseClosed: 'the case was closed',
  TTLExpired: 'the TTL ran out',
};

/** Status during and after teardown: Archiving while evidence is handled, then the terminal Closed/Expired. */
export function teardownStatus(channel: Channel, t: TeardownOutcome, now: Date): ChannelStatus {
  const prev = channel.status;
  const generation = channel.metadata.generation;
  const terminal = t.phase !== 'Archiving';
  const archived: ArchiveRecord | undefined = t.evidence?.kind === 'archived' ? t.evidence.archive : undefined;
  const evidence: Cond[] =
    t.evidence?.kind === 'archived'
      ? [cond('EvidenceArchived', 'True', 'Verified', `archive ${t.evidence.archive.location} verified`)]
      : t.evidence
        ? [cond('EvidenceArchived', 'False', t.evidence.reason, t.evidence.message)]
        : [];
  const conds: Cond[] = [
    cond(
      'Ready',
      'False',
      terminal ? READY_REASON_OF[t.reason] : 'Archiving',
      terminal ? `${WHY[t.reason]}; the war room was torn down` : `${WHY[t.reason]}; tearing the war room down`,
    ),
    ...(terminal
      ? []
      : t.evidence?.kind === 'failed'
        ? [
            cond(
              'Stalled',
              'True',
              'EvidenceNotVerified',
              `${t.evidence.message}; set the annotation warroom.dev/force-delete=true to delete anyway`,
            ),
          ]
        : [cond('Reconciling', 'True', 'TearingDown', 'archiving evidence, then deleting the namespace')]),
    terminal
      ? cond('NamespaceReady', 'False', 'Deleted', `namespace ${prev?.namespace ?? ''} deleted`)
      : cond('NamespaceReady', 'False', 'TearingDown', 'the namespace is being torn down'),
    ...evidence,
  ];
  return {
    ...carry(prev),
    phase: t.phase,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    ...(participantCount(channel) !== undefined ? { participantCount: participantCount(channel) } : {}),
    ...(archived
      ? { archive: { location: archived.location, sha256: archived.sha256, verifiedAt: archived.verifiedAt } }
      : {}),
    ...(archived?.events !== undefined
      ? { recording: { events: archived.events, ...(archived.headHash ? { headHash: archived.headHash } : {}) } }
      : {}),
    ...(terminal ? { closedAt: prev?.closedAt ?? toMetaTime(now) } : {}),
    conditions: mergeConditions(prev?.conditions ?? [], conds, now, generation, ['EvidenceArchived']),
  };
}

/**
 * The last check before a status write: the status must be exactly what the CRD's schema (the same zod schema)
 * accepts. A field the schema would drop or reject is an operator bug, named here instead of a 500 from the apiserver.
 */
export function checkStatus(status: ChannelStatus): ChannelStatus {
  const result = IncidentChannelStatus.safeParse(status);
  if (!result.success) {
    throw new Error(`operator bug: the status does not match the CRD schema: ${result.error.message.slice(0, 500)}`);
  }
  if (canonical(result.data) !== canonical(status)) {
    throw new Error(
      `operator bug: the status has fields the CRD schema does not declare: ${canonical(status).slice(0, 500)}`,
    );
  }
  return status;
}

/** Equal for SSA purposes: same content, ignoring key order. */
export function statusEquals(a: Status | undefined, b: ChannelStatus): boolean {
  return a !== undefined && canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(
          Object.entries(val as Record<string, unknown>)
            .filter(([, x]) => x !== undefined)
            .sort(([x], [y]) => (x < y ? -1 : 1)),
        )
      : val,
  );
}
