import type { KeyObject } from 'node:crypto';
import { toMetaTime } from '../../api/v1alpha1/conditions.ts';
import { sameSignedArchive, signatureFileOf, withTimestamp } from '../../evidence/archive.ts';
import { signExportOffThread, verifyArchiveOffThread } from '../../evidence/offload.ts';
import type { EvidenceStore, StoredEvidence } from '../../evidence/store.ts';
import {
  requestTimestamp,
  type TimestampAuthority,
  TimestampUnavailableError,
  timestampTime,
  verifyTimestampToken,
} from '../../evidence/timestamp.ts';
import { checkTimestamp, sha256Hex } from '../../evidence/verify.ts';
import { type Channel, storedCaseId } from './channel.ts';
import type { EvidenceHook, EvidenceOutcome } from './evidence-hook.ts';
import { evidenceArchiveName } from './names.ts';
import { type RecorderClient, RecorderUnreachableError } from './recorder-client.ts';

/**
 * `require` (the default): no verified archive, no namespace deletion — an admin decides with the force annotation.
 * `skip-unreachable`: for simulated clusters (kwok) whose pods never run, so there is never a recorder to ask; an
 * unreachable recorder is then recorded as EvidenceArchived=False and the teardown goes on. Never for real war rooms.
 */
export type EvidencePolicy = 'require' | 'skip-unreachable';

/** `warroom.dev/legal-hold: "true"` on a channel: its archive is stored under a legal hold (write-once stores). */
export const ANNOTATION_LEGAL_HOLD = 'warroom.dev/legal-hold';

export interface RecorderEvidenceDeps {
  recorder: RecorderClient;
  store: EvidenceStore;
  signingKey: KeyObject;
  publicKey: KeyObject;
  now(): Date;
  policy?: EvidencePolicy;
  /** Without it archives are not timestamped (format v1). */
  tsa?: TimestampAuthority;
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

    const tsa = this.#d.tsa;
    let signed: Uint8Array;
    try {
      // In a worker thread: tens of ms per 1 000 events that would otherwise stall lease renewals and watches.
      signed = await signExportOffThread(unsigned, this.#d.signingKey, undefined, { timestamped: tsa !== undefined });
    } catch (err) {
      return {
        kind: 'failed',
        reason: 'ArchiveVerificationFailed',
        message: `the recorder's export is not sound, so it was not signed: ${err instanceof Error ? err.message : String(err)}`,
      };
    }

    let archive = signed;
    let timestampMs: number | undefined;
    if (tsa) {
      const t0 = performance.now();
      const stamped = await this.#timestamp(signed, tsa);
      timestampMs = performance.now() - t0;
      if ('failed' in stamped) return stamped.failed;
      if (stamped.archive) archive = stamped.archive;
      else {
        // Optional timestamps and an unreachable TSA: a v1 archive, said loudly in the log.
        archive = await signExportOffThread(unsigned, this.#d.signingKey);
      }
    }

    const name = evidenceArchiveName(storedCaseId(channel) ?? '', channel.metadata.uid ?? 'unknown');
    const legalHold = channel.metadata.annotations?.[ANNOTATION_LEGAL_HOLD] === 'true';
    let stored: StoredEvidence;
    let readBack: Uint8Array;
    const s0 = performance.now();
    try {
      stored = await this.#d.store.put(name, archive, {
        legalHold,
        // Another attempt (or replica) stored the same signed manifest with its own, earlier token: keep that one.
        // With optional timestamps it may have stored the untimestamped (v1) archive while the TSA was down.
        acceptExisting: async (existing) =>
          sameSignedArchive(existing, archive) ||
          (tsa?.required === false &&
            sameSignedArchive(existing, await signExportOffThread(unsigned, this.#d.signingKey))),
      });
      readBack = await this.#d.store.get(stored.location);
    } catch (err) {
      return {
        kind: 'failed',
        reason: 'EvidenceStoreFailed',
        message: `could not store the archive: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    const storeMs = performance.now() - s0;
    if (sha256Hex(readBack) !== stored.sha256) {
      return {
        kind: 'failed',
        reason: 'ArchiveVerificationFailed',
        message: `the copy read back from ${stored.location} is not the stored archive (sha256 ${sha256Hex(readBack)}, expected ${stored.sha256})`,
      };
    }
    let report: Awaited<ReturnType<typeof verifyArchiveOffThread>>;
    try {
      report = await verifyArchiveOffThread(readBack, { publicKey: this.#d.publicKey });
      if (tsa) report = await checkTimestamp(report, { tsaRoots: tsa.roots, requireTimestamp: tsa.required });
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
    const timestampedAt = report.timestamp ? timestampTime(report.timestamp.token) : undefined;
    this.#d.log?.info(
      {
        location: stored.location,
        sha256: stored.sha256,
        events: manifest?.transcript.events,
        retainUntil: stored.retainUntil?.toISOString(),
        legalHold: stored.legalHold,
        timestampedAt: timestampedAt?.toISOString(),
        ms: Math.round(performance.now() - started),
        timestampMs: timestampMs === undefined ? undefined : Math.round(timestampMs),
        storeMs: Math.round(storeMs),
      },
      'evidence archived and verified',
    );
    if (legalHold && stored.legalHold !== true) {
      this.#d.log?.warn({ location: stored.location }, 'a legal hold was asked for, but this evidence store has none');
    }
    return {
      kind: 'archived',
      archive: {
        location: stored.location,
        sha256: stored.sha256,
        verifiedAt: toMetaTime(this.#d.now()),
        ...(manifest ? { events: manifest.transcript.events, headHash: manifest.transcript.headHash } : {}),
        ...(stored.retainUntil ? { retainUntil: toMetaTime(stored.retainUntil) } : {}),
        ...(stored.legalHold !== undefined ? { legalHold: stored.legalHold } : {}),
        ...(timestampedAt ? { timestampedAt: toMetaTime(timestampedAt) } : {}),
      },
    };
  }

  /**
   * A token over the exact manifest.sig bytes, checked against the configured roots before it goes into the
   * archive (a misconfigured or impostor TSA must fail here, not when someone needs the evidence). `archive`
   * undefined: the TSA is unreachable and timestamps are optional.
   */
  async #timestamp(
    signed: Uint8Array,
    tsa: TimestampAuthority,
  ): Promise<{ archive?: Uint8Array } | { failed: EvidenceOutcome }> {
    const signature = signatureFileOf(signed);
    let token: Uint8Array;
    try {
      token = await requestTimestamp(signature, { url: tsa.url, timeoutMs: tsa.timeoutMs ?? 10_000 });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof TimestampUnavailableError && !tsa.required) {
        this.#d.log?.warn(
          { err: message },
          'no timestamp: the TSA is unavailable and timestamps are optional; archiving without one',
        );
        return {};
      }
      return {
        failed: {
          kind: 'failed',
          reason: err instanceof TimestampUnavailableError ? 'TimestampUnavailable' : 'TimestampInvalid',
          message: `no RFC 3161 timestamp, so the archive was not stored and the namespace stays: ${message}`,
        },
      };
    }
    const check = await verifyTimestampToken(token, signature, tsa.roots);
    if (!check.ok) {
      return {
        failed: {
          kind: 'failed',
          reason: 'TimestampInvalid',
          message: `the TSA's token does not verify against the configured roots, so the namespace stays: ${check.detail}`,
        },
      };
    }
    return { archive: withTimestamp(signed, token) };
  }
}
