// Evidence archives in an S3 bucket with Object Lock: each archive is written once under a key derived from its
// channel (If-None-Match: *), with a SHA-256 checksum the server checks, and an explicit COMPLIANCE retention date
// (never the bucket's default: some servers apply the bucket's current default at request time instead of stamping
// each version). Nobody, the operator's own credentials included, can then delete or shorten it before that date.
// The retention (and legal hold) are read back for the exact version written before the store says "stored".
import { createHash } from 'node:crypto';
import {
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { EvidenceStore, PutOptions, StoredEvidence } from './store.ts';

export interface S3EvidenceStoreOptions {
  bucket: string;
  /** Prepended to every key, e.g. `warroom/`. */
  prefix?: string;
  region: string;
  /** For S3-compatible servers; AWS needs none. */
  endpoint?: string;
  /** `https://host/bucket/key` instead of `https://bucket.host/key` (most self-hosted servers). */
  forcePathStyle?: boolean;
  /** Without them the SDK's default chain is used (environment, web identity, the pod's role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** How long each archive is kept in COMPLIANCE mode. */
  retentionMs: number;
  now?: () => Date;
  /** Attempts on 409 Conflict (a concurrent conditional write to the same key); default 5. */
  conflictAttempts?: number;
  requestTimeoutMs?: number;
}

const KEY_PREFIX = /^(?:[A-Za-z0-9._-]+\/)*$/;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export class EvidenceConflictError extends Error {}

export class S3EvidenceStore implements EvidenceStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly #s3: S3Client;
  readonly #retentionMs: number;
  readonly #now: () => Date;
  readonly #conflictAttempts: number;

  constructor(opts: S3EvidenceStoreOptions) {
    if (!opts.bucket) throw new Error('the S3 evidence store needs a bucket');
    const prefix = opts.prefix ?? '';
    if (!KEY_PREFIX.test(prefix)) {
      throw new Error(
        `evidence key prefix ${JSON.stringify(prefix)} must be empty or like "warroom/" ([A-Za-z0-9._-]/)`,
      );
    }
    if (!Number.isFinite(opts.retentionMs) || opts.retentionMs < 86_400_000) {
      throw new Error('evidence retention must be at least one day');
    }
    this.bucket = opts.bucket;
    this.prefix = prefix;
    this.#retentionMs = opts.retentionMs;
    this.#now = opts.now ?? (() => new Date());
    this.#conflictAttempts = opts.conflictAttempts ?? 5;
    this.#s3 = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? false,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // We send the SHA-256 ourselves; no extra CRC the server may not know.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      requestHandler: { requestTimeout: opts.requestTimeoutMs ?? 120_000, connectionTimeout: 10_000 },
    });
  }

  /**
   * Refuses (one line) a bucket that could lose evidence: without versioning an overwrite replaces the archive,
   * without Object Lock anyone with delete rights removes it.
   */
  async checkBucket(): Promise<void> {
    const where = `evidence bucket s3://${this.bucket}`;
    let versioning: string | undefined;
    let lock: string | undefined;
    try {
      versioning = (await this.#s3.send(new GetBucketVersioningCommand({ Bucket: this.bucket }))).Status;
    } catch (err) {
      throw new Error(`${where}: cannot read its versioning (${describeS3Error(err)})`);
    }
    try {
      const res = await this.#s3.send(new GetObjectLockConfigurationCommand({ Bucket: this.bucket }));
      lock = res.ObjectLockConfiguration?.ObjectLockEnabled;
    } catch (err) {
      if (s3Name(err) !== 'ObjectLockConfigurationNotFoundError') {
        throw new Error(`${where}: cannot read its Object Lock configuration (${describeS3Error(err)})`);
      }
    }
    if (versioning !== 'Enabled') {
      throw new Error(
        `${where} has versioning ${versioning ?? 'never enabled'}: create the bucket with Object Lock (which enables versioning); refusing to store evidence there`,
      );
    }
    if (lock !== 'Enabled') {
      throw new Error(
        `${where} has no Object Lock: create the bucket with Object Lock enabled; refusing to store evidence that can be deleted`,
      );
    }
  }

  async put(name: string, bytes: Uint8Array, opts: PutOptions = {}): Promise<StoredEvidence> {
    if (!SAFE_NAME.test(name) || name.includes('..')) {
      throw new Error(`evidence name ${JSON.stringify(name)} must be a plain file name ([A-Za-z0-9._-], no path)`);
    }
    const key = `${this.prefix}${name}`;
    const digest = createHash('sha256').update(bytes).digest();
    // Whole seconds: S3 stores retention dates to the second, and the read-back compares them.
    const retainUntil = new Date(Math.ceil((this.#now().getTime() + this.#retentionMs) / 1000) * 1000);
    const hold = opts.legalHold === true;

    let stored: { versionId: string; sha256: string } | undefined;
    for (let attempt = 1; !stored; attempt++) {
      try {
        const res = await this.#s3.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: bytes,
            ContentType: 'application/x-tar',
            IfNoneMatch: '*',
            ChecksumAlgorithm: 'SHA256',
            ChecksumSHA256: digest.toString('base64'),
            ObjectLockMode: 'COMPLIANCE',
            ObjectLockRetainUntilDate: retainUntil,
            ...(hold ? { ObjectLockLegalHoldStatus: 'ON' } : {}),
          }),
        );
        if (!res.VersionId) {
          throw new Error(`s3://${this.bucket}/${key}: the server returned no version id (is versioning enabled?)`);
        }
        stored = { versionId: res.VersionId, sha256: digest.toString('hex') };
      } catch (err) {
        const status = httpStatus(err);
        if (status === 412) {
          stored = await this.#adoptExisting(key, digest.toString('hex'), retainUntil, hold, opts);
        } else if (status === 409 && attempt < this.#conflictAttempts) {
          await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
        } else {
          throw new Error(`could not write s3://${this.bucket}/${key}: ${describeS3Error(err)}`);
        }
      }
    }
    const location = locationOf(this.bucket, key, stored.versionId);
    const lock = await this.#readLock(key, stored.versionId, hold);
    if (lock.mode !== 'COMPLIANCE') {
      throw new Error(`${location} is stored without COMPLIANCE retention (mode ${lock.mode ?? 'none'})`);
    }
    if (!lock.retainUntil || lock.retainUntil.getTime() < retainUntil.getTime()) {
      throw new Error(
        `${location} is retained only until ${lock.retainUntil?.toISOString() ?? 'never'}, not ${retainUntil.toISOString()}`,
      );
    }
    if (hold && !lock.legalHold) throw new Error(`${location} has no legal hold although one was asked for`);
    return { location, sha256: stored.sha256, retainUntil: lock.retainUntil, legalHold: lock.legalHold };
  }

  async get(location: string): Promise<Uint8Array> {
    const { key, versionId } = parseLocation(location, this.bucket);
    try {
      const res = await this.#s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId, ChecksumMode: 'ENABLED' }),
      );
      if (!res.Body) throw new Error('empty body');
      return await res.Body.transformToByteArray();
    } catch (err) {
      throw new Error(`could not read ${location}: ${describeS3Error(err)}`);
    }
  }

  /**
   * The key is taken (another attempt, or another replica, got there first). The same bytes, or bytes the caller
   * accepts as the same archive, are kept: their retention is extended to ours and the hold added if asked. Anything
   * else is a conflict nobody may resolve by overwriting.
   */
  async #adoptExisting(
    key: string,
    sha256: string,
    retainUntil: Date,
    hold: boolean,
    opts: PutOptions,
  ): Promise<{ versionId: string; sha256: string }> {
    let existing: Uint8Array;
    let versionId: string | undefined;
    try {
      const res = await this.#s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }));
      if (!res.Body) throw new Error('empty body');
      existing = await res.Body.transformToByteArray();
      versionId = res.VersionId;
    } catch (err) {
      throw new Error(`s3://${this.bucket}/${key} exists but cannot be read: ${describeS3Error(err)}`);
    }
    if (!versionId) throw new Error(`s3://${this.bucket}/${key} exists without a version id`);
    const existingSha = createHash('sha256').update(existing).digest('hex');
    if (existingSha !== sha256 && !(await opts.acceptExisting?.(existing))) {
      throw new EvidenceConflictError(
        `a different archive is already stored at ${locationOf(this.bucket, key, versionId)} (sha256 ${existingSha}); it is never replaced`,
      );
    }
    const lock = await this.#readLock(key, versionId, false);
    try {
      if (lock.mode !== 'COMPLIANCE' || !lock.retainUntil || lock.retainUntil < retainUntil) {
        await this.#s3.send(
          new PutObjectRetentionCommand({
            Bucket: this.bucket,
            Key: key,
            VersionId: versionId,
            Retention: { Mode: 'COMPLIANCE', RetainUntilDate: retainUntil },
            ChecksumAlgorithm: 'SHA256',
          }),
        );
      }
      if (hold) {
        await this.#s3.send(
          new PutObjectLegalHoldCommand({
            Bucket: this.bucket,
            Key: key,
            VersionId: versionId,
            LegalHold: { Status: 'ON' },
            ChecksumAlgorithm: 'SHA256',
          }),
        );
      }
    } catch (err) {
      throw new Error(
        `could not lock the existing ${locationOf(this.bucket, key, versionId)}: ${describeS3Error(err)}`,
      );
    }
    return { versionId, sha256: existingSha };
  }

  async #readLock(
    key: string,
    versionId: string,
    readHold: boolean,
  ): Promise<{ mode?: string; retainUntil?: Date; legalHold: boolean }> {
    const where = locationOf(this.bucket, key, versionId);
    let mode: string | undefined;
    let retainUntil: Date | undefined;
    try {
      const res = await this.#s3.send(
        new GetObjectRetentionCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }),
      );
      mode = res.Retention?.Mode;
      retainUntil = res.Retention?.RetainUntilDate;
    } catch (err) {
      if (s3Name(err) !== 'NoSuchObjectLockConfiguration') {
        throw new Error(`could not read the retention of ${where}: ${describeS3Error(err)}`);
      }
    }
    if (!readHold) return { mode, retainUntil, legalHold: false };
    try {
      const res = await this.#s3.send(
        new GetObjectLegalHoldCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }),
      );
      return { mode, retainUntil, legalHold: res.LegalHold?.Status === 'ON' };
    } catch (err) {
      throw new Error(`could not read the legal hold of ${where}: ${describeS3Error(err)}`);
    }
  }

  destroy(): void {
    this.#s3.destroy();
  }
}

export function locationOf(bucket: string, key: string, versionId: string): string {
  return `s3://${bucket}/${key}?versionId=${encodeURIComponent(versionId)}`;
}

export function parseLocation(location: string, bucket: string): { key: string; versionId: string } {
  const m = /^s3:\/\/([^/]+)\/([^?]+)\?versionId=([^&]+)$/.exec(location);
  if (!m?.[1] || !m[2] || !m[3] || m[1] !== bucket) {
    throw new Error(`evidence location ${JSON.stringify(location)} is not an archive version in s3://${bucket}`);
  }
  return { key: m[2], versionId: decodeURIComponent(m[3]) };
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const meta = err.$metadata;
  return typeof meta === 'object' &&
    meta !== null &&
    'httpStatusCode' in meta &&
    typeof meta.httpStatusCode === 'number'
    ? meta.httpStatusCode
    : undefined;
}

function s3Name(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/** The server's error code, HTTP status and message; never the request (it carries the signature). */
export function describeS3Error(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = httpStatus(err);
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  return [err.name !== 'Error' ? err.name : '', status ? `HTTP ${status}` : '', err.message, cause ?? '']
    .filter(Boolean)
    .join(': ')
    .slice(0, 500);
}
