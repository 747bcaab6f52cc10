import type { ReasonOf } from '../../api/v1alpha1/conditions.ts';
import type { Channel } from './channel.ts';

export interface ArchiveRecord {
  location: string;
  sha256: string;
  verifiedAt: string;
  events?: number;
  headHash?: string;
}

export type EvidenceOutcome =
  | { kind: 'archived'; archive: ArchiveRecord }
  /** Nothing to export: recording is off for this channel, or there is no recorder to ask. */
  | { kind: 'skipped'; reason: EvidenceReason; message: string }
  /** The export or its verification failed: the namespace must stay until an admin forces deletion. */
  | { kind: 'failed'; reason: EvidenceReason; message: string };

/** Why there is no verified archive: the EvidenceArchived condition's reasons. */
export type EvidenceReason = Exclude<ReasonOf<'EvidenceArchived'>, 'Verified'>;

/**
 * The point in teardown where the transcript is sealed, exported and verified BEFORE the namespace goes. The
 * reconciler only knows this interface; the recorder work plugs the real exporter in.
 */
export interface EvidenceHook {
  export(channel: Channel, namespace: string, signal?: AbortSignal): Promise<EvidenceOutcome>;
}
