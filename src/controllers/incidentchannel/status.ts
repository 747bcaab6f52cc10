import { getCondition, setCondition, toMetaTime } from '../../api/v1alpha1/conditions.ts';
import type { Condition, IncidentChannelStatus, Phase } from '../../api/v1alpha1/incidentchannel.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { EvidenceOutcome } from './evidence-hook.ts';
import type { TeardownReason } from './expiry.ts';

export type { Condition, Phase };

/** The status the operator writes: the zod type the CRD is generated from, so a field the CRD lacks cannot compile. */
export type ChannelStatus = IncidentChannelStatus & { phase: Phase; conditions: Condition[] };

/** What one reconcile found out; status is a pure function of this plus the previous status. */
export interface Observed {
  stalled?: string;
  namespace?: string;
  namespacePhase?: string;
  expiresAt?: Date;
  ttlCapped?: boolean;
  applyError?: string;
  ttlWarningsSent?: number[];
  /** Per-part conditions (SynapseReady, ElementReady, TurnReady, UsersProvisioned), from the live workloads. */
  components?: { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string }[];
  /** Secrets created once and sealed; a failure (controller unreachable) stalls the channel with its reason. */
  secrets?: { ok: true; total: number } | { ok: false; reason: string; message: string; retryAfterMs?: number };
  /** Images not pinned by digest: a warning, not a blocker. */
  imagesWithoutDigest?: string[];
  endpoints?: ChannelStatus['endpoints'];
  credentialsSecret?: string;
  relayPorts?: { min: number; max: number };
  /** The recorder as last asked (absent: not asked this time, the previous figures stand). */
  recording?:
    | { enabled: false }
    | { enabled: true; reachable: true; ready: boolean; events: number; headHash: string }
    | { enabled: true; reachable: false; message: string };
}

type Cond = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/**
 * metav1.Condition semantics: lastTransitionTime moves only when status flips, so `kubectl describe` shows how long
 * a condition has held; every condition carries the generation it was computed from.
 */
export function mergeConditions(previous: Condition[], next: Cond[], now: Date, generation?: number): Condition[] {
  let merged: Condition[] = previous;
  for (const c of next) {
    merged = setCondition(
      merged,
      { ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}) },
      now,
    );
  }
  return next.map((c) => getCondition(merged, c.type) as Condition);
}

const prevStatus = (obj: KubeObject) => (obj as { status?: Partial<ChannelStatus> }).status ?? {};
const participants = (obj: KubeObject) => {
  const list = (obj as { spec?: { participants?: unknown } }).spec?.participants;
  return Array.isArray(list) ? list.length : 0;
};

/** Status of a live channel (Flux/kstatus style: Ready, Reconciling, Stalled, plus one condition per part). */
export function computeStatus(obj: KubeObject, o: Observed, now: Date): ChannelStatus {
  const prev = prevStatus(obj);
  const generation = obj.metadata.generation;
  if (o.stalled) {
    return {
      ...carry(prev),
      phase: 'Failed',
      observedGeneration: generation,
      participantCount: participants(obj),
      conditions: mergeConditions(
        prev.conditions ?? [],
        [
          { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: o.stalled },
          { type: 'Reconciling', status: 'False', reason: 'InvalidSpec', message: 'waiting for a corrected spec' },
          { type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: o.stalled },
        ],
        now,
        generation,
      ),
    };
  }
  const nsReady = o.namespacePhase === 'Active';
  const parts = o.components ?? [];
  const notReady = parts.filter((c) => c.status !== 'True');
  const secretsOk = o.secrets === undefined || o.secrets.ok;
  const secretsStall = o.secrets && !o.secrets.ok ? o.secrets : undefined;
  const ready = nsReady && !o.applyError && secretsOk && notReady.length === 0;
  const warned = (o.ttlWarningsSent ?? []).length > 0;
  const phase: Phase = ready ? (warned ? 'Expiring' : 'Ready') : 'Provisioning';
  const waitingFor = [
    ...(nsReady ? [] : ['the namespace']),
    ...(secretsOk ? [] : ['the secrets']),
    ...notReady.map((c) => c.message),
  ];
  const conds: Cond[] = [
    ready
      ? { type: 'Ready', status: 'True', reason: warned ? 'ExpiringSoon' : 'Provisioned', message: readyMessage(o) }
      : {
          type: 'Ready',
          status: 'False',
          reason: o.applyError ? 'ApplyFailed' : (secretsStall?.reason ?? notReady[0]?.reason ?? 'Provisioning'),
          message: o.applyError ?? secretsStall?.message ?? `waiting for ${waitingFor.join('; ') || 'the war room'}`,
        },
    ready
      ? { type: 'Reconciling', status: 'False', reason: 'Provisioned', message: 'desired state applied and up' }
      : { type: 'Reconciling', status: 'True', reason: 'Provisioning', message: 'building the war room' },
    secretsStall
      ? { type: 'Stalled', status: 'True', reason: secretsStall.reason, message: secretsStall.message }
      : { type: 'Stalled', status: 'False', reason: 'SpecValid', message: 'the spec is valid' },
    nsReady
      ? { type: 'NamespaceReady', status: 'True', reason: 'Active', message: `namespace ${o.namespace} is active` }
      : {
          type: 'NamespaceReady',
          status: 'False',
          reason: o.namespacePhase ?? 'NotFound',
          message: `namespace ${o.namespace} is ${o.namespacePhase ?? 'not created yet'}`,
        },
    ...(o.secrets
      ? [
          o.secrets.ok
            ? {
                type: 'SecretsSealed',
                status: 'True' as const,
                reason: 'Created',
                message: `${o.secrets.total} secrets in place`,
              }
            : { type: 'SecretsSealed', status: 'False' as const, reason: o.secrets.reason, message: o.secrets.message },
        ]
      : []),
    ...parts.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
    ...(o.recording ? [recordingCondition(o.recording)] : carried(prev, 'Recording')),
    ...(o.imagesWithoutDigest
      ? [
          o.imagesWithoutDigest.length === 0
            ? {
                type: 'ImagesPinned',
                status: 'True' as const,
                reason: 'DigestPinned',
                message: 'every image is pinned by digest',
              }
            : {
                type: 'ImagesPinned',
                status: 'False' as const,
                reason: 'NotPinnedByDigest',
                message: `pin these images by @sha256 digest: ${o.imagesWithoutDigest.join(', ')}`,
              },
        ]
      : []),
  ];
  return {
    ...carry(prev),
    phase,
    // kstatus: observedGeneration says "this generation was fully acted on" — not when the apply failed.
    observedGeneration: o.applyError ? prev.observedGeneration : generation,
    namespace: o.namespace,
    expiresAt: o.expiresAt ? toMetaTime(o.expiresAt) : undefined,
    participantCount: participants(obj),
    ttlWarningsSent: o.ttlWarningsSent ?? prev.ttlWarningsSent ?? [],
    ...(o.endpoints ? { endpoints: o.endpoints } : {}),
    ...(o.credentialsSecret ? { credentialsSecret: o.credentialsSecret } : {}),
    ...(o.relayPorts ? { relayPorts: o.relayPorts } : {}),
    ...(o.recording?.enabled && o.recording.reachable
      ? {
          recording: {
            events: o.recording.events,
            ...(o.recording.headHash ? { headHash: o.recording.headHash } : {}),
          },
        }
      : {}),
    conditions: mergeConditions(prev.conditions ?? [], conds, now, generation),
  };
}

/** A condition nobody re-checked this time keeps its last word (and its lastTransitionTime). */
function carried(prev: Partial<ChannelStatus>, type: string): Cond[] {
  const c = prev.conditions?.find((x) => x.type === type);
  return c ? [{ type: c.type, status: c.status, reason: c.reason, message: c.message }] : [];
}

/**
 * Informational: Ready does not wait for it (the Synapse pod's readiness already includes the recorder container,
 * and the provisioning Job invites nobody before the recorder joined), but a recorder that stopped answering shows.
 */
function recordingCondition(r: NonNullable<Observed['recording']>): Cond {
  if (!r.enabled) {
    return { type: 'Recording', status: 'False', reason: 'RecordingDisabled', message: 'recording is off' };
  }
  if (!r.reachable) return { type: 'Recording', status: 'False', reason: 'RecorderNotReady', message: r.message };
  if (!r.ready) {
    return { type: 'Recording', status: 'False', reason: 'RecorderNotReady', message: 'the recorder is starting' };
  }
  return {
    type: 'Recording',
    status: 'True',
    reason: 'RecorderRunning',
    message: `${r.events} events recorded; head ${r.headHash.slice(0, 12)}`,
  };
}

function readyMessage(o: Observed): string {
  const cap = o.ttlCapped ? ' (ttl capped by the operator --max-ttl)' : '';
  return `war room ready in ${o.namespace}; expires ${o.expiresAt?.toISOString()}${cap}`;
}

/** Status during and after teardown: Archiving while evidence is handled, then the terminal Closed/Expired. */
export function tornDownStatus(
  obj: KubeObject,
  t: { phase: 'Archiving' | 'Closed' | 'Expired'; reason: TeardownReason; evidence?: EvidenceOutcome },
  now: Date,
): ChannelStatus {
  const prev = prevStatus(obj);
  const generation = obj.metadata.generation;
  const terminal = t.phase !== 'Archiving';
  const evidenceCond: Cond | undefined =
    t.evidence?.kind === 'archived'
      ? {
          type: 'EvidenceArchived',
          status: 'True',
          reason: 'Verified',
          message: `archive ${t.evidence.archive.location} verified`,
        }
      : t.evidence
        ? {
            type: 'EvidenceArchived',
            status: 'False',
            reason: t.evidence.reason,
            message: t.evidence.message,
          }
        : prev.conditions?.find((c) => c.type === 'EvidenceArchived');
  const conds: Cond[] = [
    { type: 'Ready', status: 'False', reason: t.reason, message: terminalMessage(t.reason, terminal) },
    terminal
      ? { type: 'Reconciling', status: 'False', reason: t.reason, message: 'torn down' }
      : {
          type: 'Reconciling',
          status: 'True',
          reason: 'TearingDown',
          message: 'archiving evidence, then deleting the namespace',
        },
    t.evidence?.kind === 'failed'
      ? {
          type: 'Stalled',
          status: 'True',
          reason: 'EvidenceNotVerified',
          message: `${t.evidence.message}; set the annotation warroom.dev/force-delete=true to delete anyway`,
        }
      : { type: 'Stalled', status: 'False', reason: 'SpecValid', message: 'the spec is valid' },
    terminal
      ? {
          type: 'NamespaceReady',
          status: 'False',
          reason: 'Deleted',
          message: `namespace ${prev.namespace ?? ''} deleted`,
        }
      : { type: 'NamespaceReady', status: 'False', reason: 'TearingDown', message: 'the namespace is being torn down' },
    ...(evidenceCond ? [evidenceCond] : []),
  ];
  return {
    ...carry(prev),
    phase: t.phase,
    observedGeneration: generation,
    participantCount: participants(obj),
    ...(t.evidence?.kind === 'archived'
      ? {
          archive: {
            location: t.evidence.archive.location,
            sha256: t.evidence.archive.sha256,
            verifiedAt: t.evidence.archive.verifiedAt,
          },
        }
      : {}),
    ...(t.evidence?.kind === 'archived' && t.evidence.archive.events !== undefined
      ? {
          recording: {
            events: t.evidence.archive.events,
            ...(t.evidence.archive.headHash ? { headHash: t.evidence.archive.headHash } : {}),
          },
        }
      : {}),
    ...(terminal ? { closedAt: prev.closedAt ?? toMetaTime(now) } : {}),
    conditions: mergeConditions(prev.conditions ?? [], conds, now, generation),
  };
}

function terminalMessage(reason: TeardownReason, terminal: boolean): string {
  const why = {
    Deleted: 'the channel is being deleted',
    CaseClosed: 'the case was closed',
    TTLExpired: 'the TTL ran out',
  }[reason];
  return terminal ? `${why}; the war room was torn down` : `${why}; tearing the war room down`;
}

/** Keeps the fields only earlier reconciles know (namespace, archive, warnings) across status rewrites. */
function carry(prev: Partial<ChannelStatus>): Partial<ChannelStatus> {
  const { namespace, expiresAt, ttlWarningsSent, archive, closedAt, relayPorts, recording } = prev;
  return Object.fromEntries(
    Object.entries({ namespace, expiresAt, ttlWarningsSent, archive, closedAt, relayPorts, recording }).filter(
      ([, v]) => v !== undefined,
    ),
  );
}

/** Equal for SSA purposes: same content, ignoring key order. */
export function statusEquals(a: Partial<ChannelStatus>, b: ChannelStatus): boolean {
  return canonical(a) === canonical(b);
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
