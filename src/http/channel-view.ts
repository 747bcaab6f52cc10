// IncidentChannel objects from the cache → API views. Every field is picked by name and type-checked: the cache holds
// whatever the apiserver stored, and nothing reaches a response unless it is listed here.
import { LIMITS } from '../api/v1alpha1/incidentchannel.ts';
import type { KubeObject } from '../kube/objects.ts';
import {
  type ChannelDetail,
  type ChannelSummary,
  type ConditionView,
  PHASES,
  type PhaseSchema,
} from './channel-schemas.ts';

type Phase = (typeof PhaseSchema)['options'][number];
type Loose = Record<string, unknown>;

const record = (v: unknown): Loose | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : undefined;
const str = (v: unknown, max = 4096): string | undefined => (typeof v === 'string' && v.length <= max ? v : undefined);
const count = (v: unknown): number | undefined =>
  Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined;
const time = (v: unknown): string | undefined => {
  const s = str(v, 64);
  return s !== undefined && !Number.isNaN(Date.parse(s)) ? s : undefined;
};
const sha256 = (v: unknown): string | undefined => {
  const s = str(v, 64);
  return s !== undefined && /^[a-f0-9]{64}$/.test(s) ? s : undefined;
};
const isPhase = (v: unknown): v is Phase => typeof v === 'string' && (PHASES as readonly string[]).includes(v);

/**
 * Drops what must never travel even if a controller wrote it: userinfo, query and fragment of a URL with a host (a
 * presigned object-store URL carries its signature in the query). Opaque URIs such as `turn:host:3478?transport=udp`
 * have no userinfo and their query is meaningful, so they and plain paths pass unchanged.
 */
export function withoutCredentials(reference: string): string {
  let url: URL;
  try {
    url = new URL(reference);
  } catch {
    return reference;
  }
  if (!url.host || (!url.username && !url.password && !url.search && !url.hash)) return reference;
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** Omits undefined values (in place: every caller passes a fresh literal) so tests can compare views exactly. */
function defined<T extends object>(obj: T): T {
  for (const key in obj) if (obj[key] === undefined) delete obj[key];
  return obj;
}

function conditionsOf(status: Loose | undefined): ConditionView[] {
  const list = status?.conditions;
  if (!Array.isArray(list)) return [];
  const out: ConditionView[] = [];
  for (const item of list) {
    const c = record(item);
    const type = str(c?.type, 316);
    const state = c?.status;
    if (!c || !type || (state !== 'True' && state !== 'False' && state !== 'Unknown')) continue;
    out.push(
      defined({
        type,
        status: state,
        reason: str(c.reason, 1024) ?? '',
        message: str(c.message, 32768) ?? '',
        lastTransitionTime: time(c.lastTransitionTime),
        observedGeneration: count(c.observedGeneration),
      }),
    );
  }
  return out;
}

function isReady(status: Loose | undefined): boolean {
  const list = status?.conditions;
  return Array.isArray(list) && list.some((c) => record(c)?.type === 'Ready' && record(c)?.status === 'True');
}

function participantCount(spec: Loose | undefined, status: Loose | undefined): number {
  const fromStatus = count(status?.participantCount);
  if (fromStatus !== undefined) return fromStatus;
  return Array.isArray(spec?.participants) ? spec.participants.length : 0;
}

function secondsUntil(expiresAt: string | undefined, nowMs: number): number | undefined {
  if (expiresAt === undefined) return undefined;
  return Math.max(0, Math.floor((Date.parse(expiresAt) - nowMs) / 1000));
}

export function channelPhase(obj: KubeObject): Phase {
  const phase = record(obj.status)?.phase;
  return isPhase(phase) ? phase : 'Pending';
}

export function toChannelSummary(obj: KubeObject, nowMs: number): ChannelSummary {
  const spec = record(obj.spec);
  const status = record(obj.status);
  const expiresAt = time(status?.expiresAt);
  return defined({
    name: obj.metadata.name,
    caseId: str(spec?.caseId, LIMITS.caseIdMaxLength),
    severity: str(spec?.severity, 16),
    phase: channelPhase(obj),
    ready: isReady(status),
    deleting: obj.metadata.deletionTimestamp !== undefined,
    namespace: str(status?.namespace, 63),
    createdAt: time(obj.metadata.creationTimestamp),
    expiresAt,
    secondsLeft: secondsUntil(expiresAt, nowMs),
    participantCount: participantCount(spec, status),
  });
}

export function toChannelDetail(obj: KubeObject, nowMs: number): ChannelDetail {
  const spec = record(obj.spec);
  const status = record(obj.status);
  const endpoints = record(status?.endpoints);
  const recording = record(status?.recording);
  const archive = record(status?.archive);
  const link = (v: unknown) => {
    const s = str(v, 2048);
    return s === undefined ? undefined : withoutCredentials(s);
  };
  const turn = Array.isArray(endpoints?.turn)
    ? endpoints.turn.map((u) => link(u)).filter((u): u is string => u !== undefined)
    : [];
  return defined({
    ...toChannelSummary(obj, nowMs),
    title: str(spec?.title, 256),
    closed: spec?.closed === true,
    closedAt: time(status?.closedAt),
    generation: count(obj.metadata.generation),
    observedGeneration: count(status?.observedGeneration),
    conditions: conditionsOf(status),
    endpoints: defined({ element: link(endpoints?.element), homeserver: link(endpoints?.homeserver), turn }),
    recording: defined({ events: count(recording?.events), headHash: sha256(recording?.headHash) }),
    archive: archive
      ? defined({
          location: link(archive.location),
          sha256: sha256(archive.sha256),
          verifiedAt: time(archive.verifiedAt),
        })
      : undefined,
  });
}
