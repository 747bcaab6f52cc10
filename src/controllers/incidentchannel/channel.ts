import { parseDuration } from '../../api/v1alpha1/duration.ts';
import {
  API_VERSION,
  IncidentChannelStatus,
  KIND,
  type IncidentChannelSpec as Spec,
  type IncidentChannelStatus as Status,
} from '../../api/v1alpha1/incidentchannel.ts';
import { validateSpec } from '../../api/v1alpha1/validation.ts';
import type { KubeObject, ObjectMeta, ObjectRef } from '../../kube/objects.ts';

export const channelRef = (name: string): ObjectRef => ({ apiVersion: API_VERSION, kind: KIND, name });

/** A channel whose spec passed validation: what the lifecycle works with. */
export interface ChannelState {
  name: string;
  uid: string;
  spec: Spec;
  status?: Status;
  ttlMs: number;
}

export type ParsedSpec = { ok: true; spec: Spec; ttlMs: number } | { ok: false; error: string };

/**
 * An IncidentChannel as the operator's cache holds it: parsed once, when it arrives from the watch, by the same zod
 * schema the CRD is generated from. `spec` stays as stored for read-only views (the status API shows even an invalid
 * channel's caseId); everything that acts reads `parsed` and `status`, both typed.
 */
export interface Channel extends KubeObject {
  metadata: ObjectMeta;
  spec?: unknown;
  status?: Status;
  parsed: ParsedSpec;
}

/** THE validator: the reconciler and the unit tests go through this one (admission is the CRD, generated from it). */
export function parseSpec(spec: unknown): ParsedSpec {
  const result = validateSpec(spec);
  if (!result.ok) return { ok: false, error: `invalid IncidentChannel: ${result.message}` };
  const ttlMs = parseDuration(result.spec.ttl);
  if (ttlMs === undefined) {
    return { ok: false, error: `invalid IncidentChannel: spec.ttl: cannot parse "${result.spec.ttl}"` };
  }
  return { ok: true, spec: result.spec, ttlMs };
}

/**
 * The stored status, typed. What this operator writes is checked against the same schema before the write, so this
 * parses; a field another writer (or an older operator) left that does not parse is dropped, never the whole status
 * (it carries the archive record and the relay ports).
 */
export function parseStatus(status: unknown): Status | undefined {
  if (status === undefined || status === null || typeof status !== 'object') return undefined;
  const first = IncidentChannelStatus.safeParse(status);
  if (first.success) return first.data;
  const bad = new Set(first.error.issues.map((i) => String(i.path[0])));
  const kept = Object.fromEntries(Object.entries(status).filter(([k]) => !bad.has(k)));
  const second = IncidentChannelStatus.safeParse(kept);
  return second.success ? second.data : undefined;
}

/** `kubectl apply`'s copy of the whole object as last applied: nothing here reads it, and it is the spec again. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The reflector's transform: raw watch object → Channel. */
export function toChannel(obj: KubeObject): Channel {
  const { managedFields: _dropped, annotations, ...metadata } = obj.metadata;
  const { [LAST_APPLIED]: _lastApplied, ...kept } = annotations ?? {};
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: Object.keys(kept).length > 0 ? { ...metadata, annotations: kept } : metadata,
    spec: obj.spec,
    status: parseStatus(obj.status),
    parsed: parseSpec(obj.spec),
  };
}

export function channelState(channel: Channel): ChannelState | undefined {
  if (!channel.parsed.ok) return undefined;
  return {
    name: channel.metadata.name,
    uid: channel.metadata.uid ?? '',
    spec: channel.parsed.spec,
    ...(channel.status ? { status: channel.status } : {}),
    ttlMs: channel.parsed.ttlMs,
  };
}

/** The caseId as stored, even on an invalid spec (teardown of an invalid channel still needs its namespace name). */
export function storedCaseId(channel: Channel): string | undefined {
  if (channel.parsed.ok) return channel.parsed.spec.caseId;
  const spec = channel.spec;
  if (spec && typeof spec === 'object' && 'caseId' in spec && typeof spec.caseId === 'string') return spec.caseId;
  return undefined;
}

/** Closed and Expired are terminal: the CR stays as the record and nothing is ever rebuilt. */
export const isTerminal = (status: Status | undefined): boolean =>
  status?.phase === 'Closed' || status?.phase === 'Expired';
