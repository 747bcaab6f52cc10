import type { EventInput } from '../../kube/events.ts';
import { type Channel, storedCaseId } from './channel.ts';
import type { ChannelCluster } from './cluster.ts';
import type { EvidenceHook, EvidenceOutcome } from './evidence-hook.ts';
import type { TeardownReason } from './expiry.ts';
import { ANNOTATION_CHANNEL_UID, ANNOTATION_FORCE_DELETE, namespaceName } from './names.ts';
import type { ChannelStatus, TeardownOutcome } from './status.ts';
import { teardownStatus } from './status.ts';

export interface TeardownDeps {
  cluster: ChannelCluster;
  evidence: EvidenceHook;
  namespacePrefix: string;
  now(): Date;
  emit(channel: Channel, ev: EventInput): Promise<void>;
  writeStatus(channel: Channel, status: ChannelStatus, signal: AbortSignal): Promise<void>;
  metrics: { teardown(reason: TeardownReason): void; ttlLateness(seconds: number): void };
  /**
   * The namespace uid this process asked to delete, by channel name. The status write before the delete wakes the
   * channel again, often before the namespace's own watch shows its deletionTimestamp: without this, that pass deleted
   * it a second time and counted the teardown (and its TTL lateness) twice. Keyed by channel, so the entry goes with
   * its channel even when a human removes the finalizer before the namespace is gone.
   */
  deleteSent: Map<string, string>;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** While the namespace controller empties the namespace, look again this often (its events also wake us). */
export const TEARDOWN_POLL_MS = 2_000;
/** Each attempt asks the recorder to seal again: not every 2 s. */
export const EVIDENCE_RETRY_MS = 30_000;

const WHY: Record<TeardownReason, string> = {
  Deleted: 'the IncidentChannel was deleted',
  CaseClosed: 'the case was closed',
  TTLExpired: 'the TTL ran out',
};

/** The namespace is derived in one place: the name in status, else the one the builders would give it. */
export function channelNamespace(channel: Channel, prefix: string): string | undefined {
  if (channel.status?.namespace) return channel.status.namespace;
  const caseId = storedCaseId(channel);
  return caseId && channel.metadata.uid ? namespaceName(caseId, channel.metadata.uid, prefix) : undefined;
}

/**
 * Seal → archive → verify, THEN delete the namespace, then the terminal phase. Returns 'done' once the namespace is
 * gone (or never existed), else when to look again. A deleted channel (`Deleted`) gets no status writes: its object
 * is going away, and the finalizer holds it until this returns 'done'.
 */
export async function tearDown(
  d: TeardownDeps,
  channel: Channel,
  reason: TeardownReason,
  signal: AbortSignal,
  expiresAt?: Date,
): Promise<'done' | number> {
  const writes = reason !== 'Deleted';
  const write = (t: Omit<TeardownOutcome, 'reason'>) =>
    writes ? d.writeStatus(channel, teardownStatus(channel, { ...t, reason }, d.now()), signal) : Promise.resolve();
  const namespace = channelNamespace(channel, d.namespacePrefix);
  const ns = namespace ? d.cluster.namespace(namespace) : undefined;
  const ours = ns !== undefined && ns.metadata.annotations?.[ANNOTATION_CHANNEL_UID] === channel.metadata.uid;

  const sent = ns?.metadata.uid !== undefined && d.deleteSent.get(channel.metadata.name) === ns.metadata.uid;
  if (ours && namespace && !ns.metadata.deletionTimestamp && !sent) {
    const state = channel.status;
    if (!state?.archive && state?.phase !== 'Archiving') {
      // Sealing and exporting a long transcript takes a while: say what is happening before doing it.
      await write({ phase: 'Archiving' });
    }
    const stored = state?.archive;
    const evidence: EvidenceOutcome =
      stored?.location && stored.sha256 && stored.verifiedAt
        ? {
            kind: 'archived',
            archive: { location: stored.location, sha256: stored.sha256, verifiedAt: stored.verifiedAt },
          }
        : await d.evidence.export(channel, namespace, signal);
    const forced = channel.metadata.annotations?.[ANNOTATION_FORCE_DELETE] === 'true';
    if (evidence.kind === 'failed' && !forced) {
      d.log.warn({ reason: evidence.reason }, 'evidence could not be verified; keeping the namespace');
      await write({ phase: 'Archiving', evidence });
      await d.emit(channel, {
        type: 'Warning',
        reason: 'EvidenceNotArchived',
        action: 'Archive',
        note: evidence.message,
      });
      return EVIDENCE_RETRY_MS;
    }
    await write({ phase: 'Archiving', evidence });
    await d.cluster.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace }, { uid: ns.metadata.uid }, signal);
    if (ns.metadata.uid) d.deleteSent.set(channel.metadata.name, ns.metadata.uid);
    if (expiresAt && reason === 'TTLExpired') {
      d.metrics.ttlLateness(Math.max(0, (d.now().getTime() - expiresAt.getTime()) / 1000));
    }
    d.metrics.teardown(reason);
    d.log.info({ namespace, reason }, 'namespace delete requested');
    await d.emit(channel, {
      type: 'Normal',
      reason: 'NamespaceDeleted',
      action: 'Teardown',
      note: `${WHY[reason]}: deleting namespace ${namespace}`,
    });
    return TEARDOWN_POLL_MS;
  }
  if (ours) return TEARDOWN_POLL_MS; // terminating: the namespace controller is still removing its contents
  d.deleteSent.delete(channel.metadata.name);

  if (writes) {
    await write({ phase: reason === 'CaseClosed' ? 'Closed' : 'Expired' });
    await d.emit(channel, { type: 'Normal', reason, action: 'Teardown', note: `${WHY[reason]}; namespace gone` });
  }
  return 'done';
}
