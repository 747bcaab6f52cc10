import type { KeyObject } from 'node:crypto';
import { toMetaTime } from '../../api/v1alpha1/conditions.ts';
import { signExportOffThread, verifyArchiveOffThread } from '../../evidence/offload.ts';
import type { EvidenceStore } from '../../evidence/store.ts';
import type { Channel } from './channel.ts';
import type { EvidenceHook, EvidenceOutcome } from './evidence-hook.ts';
import { type RecorderClient, RecorderUnreachableError } from './recorder-client.ts';

/**
 * `require` (the default): no verified archive, no namespace deletion — an admin decides with the force annotation.
 * `skip-unreachable`: for simulated clusters (kwok) whose pods never run, so there is never a recorder to ask; an
 * unreachable recorder is then recorded as EvidenceArchived=False and the teardown goes on. Never for real war rooms.
 */
export type EvidencePolicy = 'require' | 'skip-unreachable';

export interface RecorderEvidenceDeps {
  recorder: RecorderClient;
  store: EvidenceStore;
  signingKey: KeyObject;
  publicKey: KeyObject;
  now(): Date;
  policy?: EvidencePolicy;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/**
 * Teardown's evidence step: ask the recorder to seal (it catches up and writes the final record), sign the export's
 * manifest with the operator's ed25519 key, store it, then read the stored copy back and verify it end to end. Only
 * a verified archive lets the reconciler delete the namespace.
 */
export class RecorderEvidence implements EvidenceHook {
  readonly #d: RecorderEvidenceDeps;

  constructor(deps: RecorderEvidenceDeps) {
    this.#d = deps;
  }

  async export(channel: Channel, namespace: string, signal?: AbortSignal): Promise<EvidenceOutcome> {
    const spec = channel.parsed.ok ? channel.parsed.spec : undefined;
    if (spec?.recording.enabled === false) {
      return {
        kind: 'skipped',
        reason: 'RecordingDisabled',
        message: 'recording was off for this channel: there is no transcript',
      };
    }
    const started = performance.now();
    await this.#d.recorder
      .notice(namespace, 'This war room is closing now: the transcript is being sealed and archived.', signal)
      .catch((err: unknown) => this.#d.log?.warn({ err: String(err) }, 'could not post the closing notice'));

    let unsigned: Uint8Array;
    try {
      unsigned = await this.#d.recorder.seal(namespace, signal);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof RecorderUnreachableError && this.#d.policy === 'skip-unreachable') {
        return {
          kind: 'skipped',
          reason: 'RecorderUnreachable',
          message: `${message} (evidence policy skip-unreachable)`,
        };
      }
      return { kind: 'failed', reason: 'RecorderUnreachable', message: `could not seal the transcript: ${message}` };
    }

    let signed: Uint8Array;
    try {
      // In a worker thread: tens of ms per 1 000 events that would otherwise stall lease renewals and watches.
      signed = await signExportOffThread(unsigned, this.#d.signingKey);
    } catch (err) {
      return {
        kind: 'failed',
        reason: 'ArchiveVerificationFailed',
        message: `the recorder's export is not sound, so it was not signed: ${err instanceof Error ? err.message : String(err)}`,
      };
    }

    const name = `${safe(spec?.caseId ?? 'case')}-${channel.metadata.uid ?? 'unknown'}.tar`;
    let stored: { location: string; sha256: string };
    let readBack: Uint8Array;
    try {
      stored = await this.#d.store.put(name, signed);
      readBack = await this.#d.store.get(stored.location);
    } catch (err) {
      return {
        kind: 'failed',
        reason: 'EvidenceStoreFailed',
        message: `could not store the archive: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    let report: Awaited<ReturnType<typeof verifyArchiveOffThread>>;
    try {
      report = await verifyArchiveOffThread(readBack, { publicKey: this.#d.publicKey });
    } catch (err) {
      return {
        kind: 'failed',
        reason: 'ArchiveVerificationFailed',
        message: `could not verify ${stored.location}: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    if (!report.ok) {
      const broken = report.firstBrokenLink
        ? `; first broken link at line ${report.firstBrokenLink.line}: ${report.firstBrokenLink.reason}`
        : '';
      const failedChecks = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
      return {
        kind: 'failed',
        reason: 'ArchiveVerificationFailed',
        message: `the stored archive ${stored.location} does not verify (${failedChecks.join('; ')})${broken}`.slice(
          0,
          1000,
        ),
      };
    }
    const manifest = report.manifest;
    this.#d.log?.info(
      {
        location: stored.location,
        sha256: stored.sha256,
        events: manifest?.transcript.events,
        ms: Math.round(performance.now() - started),
      },
      'evidence archived and verified',
    );
    return {
      kind: 'archived',
      archive: {
        location: stored.location,
        sha256: stored.sha256,
        verifiedAt: toMetaTime(this.#d.now()),
        ...(manifest ? { events: manifest.transcript.events, headHash: manifest.transcript.headHash } : {}),
      },
    };
  }
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 80);
