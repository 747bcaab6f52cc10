// The recorder's transcript: append-only JSONL, one line per Matrix event, hash-chained (each line carries the
// sha256 of the previous line's exact bytes), written with group commit (one write + one fdatasync per batch) so an
// append's promise resolves only once its line is durably on disk.
import { createHash } from 'node:crypto';
import { constants, type promises as fsp } from 'node:fs';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fsyncDir, writeFileAtomic } from './durable-file.ts';

export interface MediaRef {
  mxcUri: string;
  sha256: string;
  bytes: number;
  file: string;
  mimetype?: string;
}

export interface TranscriptRecord {
  seq: number;
  kind: 'event' | 'seal';
  eventId?: string;
  roomId?: string;
  sender?: string;
  deviceId?: string;
  senderKey?: string;
  sessionId?: string;
  ts?: number;
  recordedAt: string;
  type?: string;
  stateKey?: string;
  content?: unknown;
  ciphertext?: unknown;
  decryption: 'plaintext' | 'decrypted' | 'failed';
  decryptionError?: string;
  relatesTo?: unknown;
  media?: MediaRef[];
  prev: string;
}

export type NewRecord = Omit<TranscriptRecord, 'seq' | 'prev' | 'recordedAt'> & { recordedAt?: string };

export interface TranscriptCounts {
  events: number;
  decrypted: number;
  failed: number;
  plaintext: number;
  media: number;
  byType: Record<string, number>;
  firstTs?: number;
  lastTs?: number;
}

export interface TranscriptOpenOptions {
  clock?: () => Date;
  /** Wait this long after the first queued line before flushing, to gather bigger batches (default 0). */
  fsyncEveryMs?: number;
  /** Most lines per write + fsync (default 4096). */
  maxBatch?: number;
  /** Told when resuming cut away a torn last line (a crash mid-write). */
  onRecovery?: (recovery: TranscriptRecovery) => void;
}

export interface TranscriptRecovery {
  /** 1-based number the torn line had. */
  line: number;
  truncatedBytes: number;
  reason: string;
}

export const GENESIS = '0'.repeat(64);
export const TRANSCRIPT_FILE = 'transcript.jsonl';
export const MEDIA_DIR = 'media';

const OPEN_PATHS = new Set<string>();
const DECRYPTION = new Set(['plaintext', 'decrypted', 'failed']);
const SHA256_HEX = /^[0-9a-f]{64}$/;

export function lineHash(line: string | Uint8Array): string {
  return createHash('sha256').update(line).digest('hex');
}

/** Checks one line after another; used by resume, verifyChain and the archive verifier. */
export class ChainChecker {
  count = 0;
  head = GENESIS;
  sealed = false;
  readonly counts: TranscriptCounts = emptyCounts();
  readonly eventIds = new Set<string>();
  readonly mediaFiles = new Map<string, number>();
  last: TranscriptRecord | undefined;

  /** Returns a reason when the line breaks the chain; the checker is then unusable. */
  push(line: Uint8Array | string): string | undefined {
    const text = typeof line === 'string' ? line : Buffer.from(line).toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return `not valid JSON (${(err as Error).message})`;
    }
    const reason = recordShapeError(value);
    if (reason) return reason;
    const rec = value as TranscriptRecord;
    const n = this.count + 1;
    if (this.sealed) return 'a line follows the seal record';
    if (rec.seq !== n) return `seq is ${rec.seq}, expected ${n}`;
    if (rec.prev !== this.head) return `prev is ${rec.prev}, expected the previous line's hash ${this.head}`;
    if (rec.kind === 'event' && rec.eventId !== undefined) {
      if (this.eventIds.has(rec.eventId)) return `event ${rec.eventId} is recorded twice`;
      this.eventIds.add(rec.eventId);
    }
    this.head = lineHash(line);
    this.count = n;
    this.last = rec;
    if (rec.kind === 'seal') this.sealed = true;
    else countRecord(this.counts, rec);
    for (const m of rec.media ?? []) this.mediaFiles.set(m.file, n);
    return undefined;
  }
}

function recordShapeError(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq)) return 'seq is not an integer';
  if (r.kind !== 'event' && r.kind !== 'seal') return `kind ${JSON.stringify(r.kind)} is neither event nor seal`;
  if (typeof r.prev !== 'string' || !SHA256_HEX.test(r.prev)) return 'prev is not a hex sha256';
  if (typeof r.recordedAt !== 'string') return 'recordedAt is missing';
  if (typeof r.decryption !== 'string' || !DECRYPTION.has(r.decryption)) return 'decryption is not a known status';
  for (const k of ['eventId', 'roomId', 'sender', 'deviceId', 'type', 'stateKey'] as const) {
    if (r[k] !== undefined && typeof r[k] !== 'string') return `${k} is not a string`;
  }
  if (r.ts !== undefined && (typeof r.ts !== 'number' || !Number.isFinite(r.ts))) return 'ts is not a number';
  if (r.media !== undefined) {
    if (!Array.isArray(r.media)) return 'media is not a list';
    for (const m of r.media as unknown[]) {
      const e = mediaRefError(m);
      if (e) return e;
    }
  }
  return undefined;
}

function mediaRefError(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return 'a media entry is not an object';
  const r = m as Record<string, unknown>;
  if (typeof r.sha256 !== 'string' || !SHA256_HEX.test(r.sha256)) return 'a media entry has no hex sha256';
  if (r.file !== `${MEDIA_DIR}/${r.sha256}`) return `media file ${JSON.stringify(r.file)} is not media/<sha256>`;
  if (typeof r.bytes !== 'number' || !Number.isSafeInteger(r.bytes) || r.bytes < 0) return 'media bytes is invalid';
  if (typeof r.mxcUri !== 'string') return 'a media entry has no mxcUri';
  return undefined;
}

function emptyCounts(): TranscriptCounts {
  // byType's keys are event types, chosen by whoever sends the event: '__proto__' or 'constructor' must count as
  // ordinary keys, hence no prototype.
  return { events: 0, decrypted: 0, failed: 0, plaintext: 0, media: 0, byType: Object.create(null) };
}

function countRecord(c: TranscriptCounts, rec: TranscriptRecord): void {
  c.events++;
  c[rec.decryption]++;
  c.media += rec.media?.length ?? 0;
  const type = rec.type ?? '(unknown)';
  Object.defineProperty(c.byType, type, {
    value: (Object.hasOwn(c.byType, type) ? c.byType[type]! : 0) + 1,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  if (rec.ts !== undefined) {
    if (c.firstTs === undefined || rec.ts < c.firstTs) c.firstTs = rec.ts;
    if (c.lastTs === undefined || rec.ts > c.lastTs) c.lastTs = rec.ts;
  }
}

/** Verifies a whole transcript text (every line ends with '\n'). Line numbers are 1-based. */
export function verifyChain(
  text: string | Uint8Array,
): { ok: true; count: number; head: string } | { ok: false; line: number; reason: string } {
  const { checker, broken } = readTranscript(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  if (broken) return { ok: false, ...broken };
  return { ok: true, count: checker.count, head: checker.head };
}

/** Serialises a record with a fixed key order (the line's bytes are the record); returns the line and the record. */
function serialise(rec: TranscriptRecord): { line: string; record: TranscriptRecord } {
  const ordered: Record<string, unknown> = {};
  for (const key of KEY_ORDER) {
    const v = rec[key];
    if (v !== undefined) ordered[key] = v;
  }
  let line: string;
  try {
    line = JSON.stringify(ordered);
  } catch (err) {
    throw new Error(`transcript record ${rec.seq} cannot be serialised as JSON: ${(err as Error).message}`);
  }
  return { line, record: ordered as unknown as TranscriptRecord };
}

const KEY_ORDER = [
  'seq',
  'kind',
  'eventId',
  'roomId',
  'sender',
  'deviceId',
  'senderKey',
  'sessionId',
  'ts',
  'recordedAt',
  'type',
  'stateKey',
  'content',
  'ciphertext',
  'decryption',
  'decryptionError',
  'relatesTo',
  'media',
  'prev',
] as const satisfies readonly (keyof TranscriptRecord)[];

interface Pending {
  bytes: Buffer;
  record: TranscriptRecord;
  resolve: (r: TranscriptRecord) => void;
  reject: (e: Error) => void;
}

export class TranscriptWriter {
  readonly path: string;
  readonly mediaDir: string;
  /** Set when open() cut away a torn last line. */
  readonly recovery: TranscriptRecovery | undefined;
  private fd: fsp.FileHandle | undefined;
  private readonly clock: () => Date;
  private readonly fsyncEveryMs: number;
  private readonly maxBatch: number;
  private readonly ids: Set<string>;
  private readonly _counts: TranscriptCounts;
  private _head: string;
  private _count: number;
  private sealRecord: TranscriptRecord | undefined;
  /** Group-commit batches written (one write + one fdatasync each). */
  batches = 0;
  private queue: Pending[] = [];
  private flushing = false;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | undefined;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    dir: string,
    fd: fsp.FileHandle,
    checker: ChainChecker,
    opts: TranscriptOpenOptions,
    recovery: TranscriptRecovery | undefined,
  ) {
    this.path = join(dir, TRANSCRIPT_FILE);
    this.mediaDir = join(dir, MEDIA_DIR);
    this.fd = fd;
    this.clock = opts.clock ?? (() => new Date());
    this.fsyncEveryMs = Math.max(0, opts.fsyncEveryMs ?? 0);
    this.maxBatch = Math.max(1, opts.maxBatch ?? 4096);
    this.ids = checker.eventIds;
    this._counts = checker.counts;
    this._head = checker.head;
    this._count = checker.count;
    this.sealRecord = checker.sealed ? checker.last : undefined;
    this.recovery = recovery;
  }

  /**
   * Opens (creating) dir/transcript.jsonl. An existing transcript is re-read and its chain verified: a broken
   * chain throws naming the first bad line; only a torn LAST line (no '\n', or not JSON) is cut away.
   */
  static async open(dir: string, opts: TranscriptOpenOptions = {}): Promise<TranscriptWriter> {
    const path = resolve(dir, TRANSCRIPT_FILE);
    // Two writers on one file would interleave two chains; within a process that is refused here (the recorder
    // is the only process writing its volume).
    if (OPEN_PATHS.has(path)) throw new Error(`transcript ${path} is already open in this process`);
    OPEN_PATHS.add(path);
    try {
      return await TranscriptWriter.openUnguarded(dir, path, opts);
    } catch (err) {
      OPEN_PATHS.delete(path);
      throw err;
    }
  }

  private static async openUnguarded(
    dir: string,
    path: string,
    opts: TranscriptOpenOptions,
  ): Promise<TranscriptWriter> {
    await mkdir(join(dir, MEDIA_DIR), { recursive: true, mode: 0o700 });
    const existed = await stat(path).then(
      () => true,
      () => false,
    );
    const fd = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
    try {
      if (!existed) await fsyncDir(dir);
      const { checker, recovery } = await resume(fd, path);
      if (recovery) opts.onRecovery?.(recovery);
      return new TranscriptWriter(dir, fd, checker, opts, recovery);
    } catch (err) {
      await fd.close();
      throw err;
    }
  }

  get head(): string {
    return this._head;
  }
  get count(): number {
    return this._count;
  }
  get counts(): TranscriptCounts {
    return { ...this._counts, byType: Object.fromEntries(Object.entries(this._counts.byType)) };
  }
  get sealed(): boolean {
    return this.sealRecord !== undefined;
  }

  has(eventId: string): boolean {
    return this.ids.has(eventId);
  }

  /** Queues a record; resolves once its line (and every line before it) is fsync'd. */
  append(record: NewRecord): Promise<TranscriptRecord> {
    try {
      if (record.kind !== 'event') throw new Error(`append takes kind 'event' records; use seal() to seal`);
      if (!DECRYPTION.has(record.decryption)) throw new Error(`unknown decryption status ${record.decryption}`);
      if (record.eventId !== undefined && this.ids.has(record.eventId)) {
        throw new Error(`event ${record.eventId} is already in the transcript`);
      }
      for (const m of record.media ?? []) {
        const e = mediaRefError(m);
        if (e) throw new Error(e);
      }
      const next = this.nextLine(record);
      if (next.record.eventId !== undefined) this.ids.add(next.record.eventId);
      countRecord(this._counts, next.record);
      return this.enqueue(next);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Appends the final kind:'seal' record; later appends throw. Sealing twice returns the first seal. */
  async seal(note?: string): Promise<TranscriptRecord> {
    if (this.sealRecord) {
      await this.flush();
      return this.sealRecord;
    }
    const counts = this.counts;
    const next = this.nextLine({
      kind: 'seal',
      decryption: 'plaintext',
      content: { ...(note === undefined ? {} : { note }), events: counts.events, byType: counts.byType },
    });
    return this.enqueue(next);
  }

  /** Resolves once every line appended so far is durable. */
  async flush(): Promise<void> {
    await this.idle;
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true; // appends from now on are refused; the queued ones are still written
    await this.idle;
    const fd = this.fd;
    this.fd = undefined;
    OPEN_PATHS.delete(resolve(this.path));
    await fd?.close();
    if (this.failure) throw this.failure;
  }

  /** Stores decrypted media as media/<sha256> (content-addressed, fsync'd, idempotent). */
  async writeMedia(bytes: Uint8Array): Promise<{ sha256: string; file: string; bytes: number }> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const file = `${MEDIA_DIR}/${sha256}`;
    const target = join(this.mediaDir, sha256);
    const existing = await stat(target).catch(() => undefined);
    if (existing?.isFile() && existing.size === bytes.length) {
      // Same name and size is not proof: a damaged copy is replaced, or the export would refuse it later.
      const onDisk = await readFile(target).catch(() => undefined);
      if (onDisk && createHash('sha256').update(onDisk).digest('hex') === sha256) {
        return { sha256, file, bytes: bytes.length };
      }
    }
    await writeFileAtomic(target, bytes);
    return { sha256, file, bytes: bytes.length };
  }

  // Assigns seq and prev at call time, so the chain order is the order of append() calls.
  private nextLine(record: NewRecord): { record: TranscriptRecord; bytes: Buffer } {
    if (this.failure) throw new Error(`transcript writer failed earlier: ${this.failure.message}`);
    if (this.closed) throw new Error('transcript writer is closed');
    if (this.sealRecord) throw new Error('transcript is sealed; no more records can be appended');
    const rec: TranscriptRecord = {
      ...record,
      seq: this._count + 1,
      recordedAt: record.recordedAt ?? this.clock().toISOString(),
      prev: this._head,
    };
    const { line, record: out } = serialise(rec);
    // Whatever is appended must pass the checks a resume runs, or the recorder could not restart.
    const shape = recordShapeError(out);
    if (shape) throw new Error(`transcript record refused: ${shape}`);
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    this._head = lineHash(bytes.subarray(0, bytes.length - 1));
    this._count = out.seq;
    if (out.kind === 'seal') this.sealRecord = out;
    return { record: out, bytes };
  }

  private enqueue({ record, bytes }: { record: TranscriptRecord; bytes: Buffer }): Promise<TranscriptRecord> {
    return new Promise<TranscriptRecord>((resolve, reject) => {
      this.queue.push({ bytes, record, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = true;
    this.idle = new Promise<void>((r) => {
      this.idleResolve = r;
    });
    const run = () => void this.drain();
    if (this.fsyncEveryMs > 0) setTimeout(run, this.fsyncEveryMs);
    else setImmediate(run);
  }

  // One writer: takes what is queued, writes it with one write and one fdatasync, resolves those appends, repeats.
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const fd = this.fd;
        if (!fd) throw new Error('transcript file is closed');
        await writeAll(fd, Buffer.concat(batch.map((p) => p.bytes)));
        await fd.datasync();
        this.batches++;
      } catch (err) {
        // The file's tail is now unknown: refuse everything after; a restart resumes and repairs a torn line.
        this.failure = new Error(`transcript write failed: ${(err as Error).message}`);
        for (const p of [...batch, ...this.queue.splice(0)]) p.reject(this.failure);
        break;
      }
      for (const p of batch) p.resolve(p.record);
    }
    this.flushing = false;
    this.idleResolve?.();
  }
}

async function writeAll(fd: fsp.FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fd.write(buf, off, buf.length - off);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    off += bytesWritten;
  }
}

/** Streams the file line by line through a ChainChecker; cuts away a torn last line. */
async function resume(
  fd: fsp.FileHandle,
  path: string,
): Promise<{ checker: ChainChecker; recovery: TranscriptRecovery | undefined }> {
  const checker = new ChainChecker();
  const size = (await fd.stat()).size;
  const chunk = Buffer.allocUnsafe(1 << 20);
  let carry: Buffer = Buffer.alloc(0);
  let pos = 0;
  let lineStart = 0; // file offset of carry[0]
  let pendingBad: { line: number; offset: number; reason: string } | undefined;
  while (pos < size) {
    const { bytesRead } = await fd.read(chunk, 0, Math.min(chunk.length, size - pos), pos);
    if (bytesRead <= 0) break;
    pos += bytesRead;
    let buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) break;
      const lineNo = checker.count + 1;
      if (pendingBad) {
        // An invalid line followed by more lines is not a torn tail: the chain is broken.
        throw brokenChain(path, pendingBad.line, pendingBad.reason);
      }
      const reason = checker.push(buf.subarray(start, nl));
      if (reason) {
        if (reason.startsWith('not valid JSON')) pendingBad = { line: lineNo, offset: lineStart + start, reason };
        else throw brokenChain(path, lineNo, reason);
      }
      start = nl + 1;
    }
    lineStart += start;
    buf = buf.subarray(start);
    carry = Buffer.from(buf); // copy: chunk is reused
  }
  let recovery: TranscriptRecovery | undefined;
  if (pendingBad && carry.length > 0) throw brokenChain(path, pendingBad.line, pendingBad.reason);
  if (pendingBad) {
    recovery = {
      line: pendingBad.line,
      truncatedBytes: size - pendingBad.offset,
      reason: `the last line is ${pendingBad.reason}`,
    };
    await fd.truncate(pendingBad.offset);
  } else if (carry.length > 0) {
    recovery = {
      line: checker.count + 1,
      truncatedBytes: carry.length,
      reason: 'the last line has no trailing newline',
    };
    await fd.truncate(size - carry.length);
  }
  if (recovery) await fd.sync();
  return { checker, recovery };
}

function brokenChain(path: string, line: number, reason: string): Error {
  return new Error(
    `transcript ${path} is broken at line ${line}: ${reason}; refusing to append to a broken chain (keep the file as evidence and start a new data dir)`,
  );
}

/** Reads a whole transcript (bytes of transcript.jsonl): every record, the checker's totals, the first broken line. */
export function readTranscript(bytes: Uint8Array): {
  records: TranscriptRecord[];
  checker: ChainChecker;
  broken?: { line: number; reason: string };
} {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const checker = new ChainChecker();
  const records: TranscriptRecord[] = [];
  let start = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    const line = checker.count + 1;
    if (nl < 0) return { records, checker, broken: { line, reason: 'the last line has no trailing newline' } };
    const reason = checker.push(buf.subarray(start, nl));
    if (reason) return { records, checker, broken: { line, reason } };
    records.push(checker.last!);
    start = nl + 1;
  }
  return { records, checker };
}
