import { type IEvent, type MatrixClient, MatrixEvent, MatrixEventEvent } from 'matrix-js-sdk';
import type { CryptoBackend } from 'matrix-js-sdk/lib/common-crypto/CryptoBackend.js';
import type { NewRecord, MediaRef as RecordedMedia, TranscriptWriter } from '../evidence/transcript.ts';
import { encodePathSegment as enc, matrixRequest } from '../matrix/matrix-http.ts';
import type { Logger } from '../observability/logger.ts';
import { fetchMedia, mediaRefsOf } from './media.ts';
import type { RecorderMetrics } from './metrics.ts';
import type { StateStore } from './state-store.ts';

/**
 * Gap-free, duplicate-free capture. The SDK's live timeline is not trusted for completeness (a restart's initial
 * sync is `limited`, so events in between would never appear in it). Instead each joined room has a cursor, and
 * every pass pages `GET /rooms/{id}/messages?dir=f` from it until the server has nothing newer, appending each event
 * in server order. A room's first cursor is its beginning (no `from`): the create event, memberships, power levels.
 * The cursor is persisted only once the page's records are fsync'd, so a crash replays a page instead of skipping
 * it, and `transcript.has(eventId)` drops the replayed duplicates.
 */

export interface WireEvent {
  event_id: string;
  room_id?: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  state_key?: string;
  content: Record<string, unknown>;
  redacts?: string;
  unsigned?: Record<string, unknown>;
}

interface MessagesPage {
  chunk: WireEvent[];
  start?: string;
  end?: string;
}

export interface EventCaptureOptions {
  client: MatrixClient;
  baseUrl: string;
  accessToken: string;
  transcript: TranscriptWriter;
  state: StateStore;
  metrics: RecorderMetrics;
  log: Logger;
  /** Upper bound on waiting for a room key that is probably in flight. */
  decryptWaitMs: number;
  mediaMaxBytes: number;
  mediaTimeoutMs?: number;
  /** Called (and awaited) before a cursor moves past events decrypted with Megolm sessions not seen before. */
  persistRoomKeys: () => Promise<void>;
  pageLimit?: number;
}

/** Reasons a key may still arrive (it was sent to us, just not yet received). */
const WAITABLE_FAILURES = new Set(['MEGOLM_UNKNOWN_INBOUND_SESSION_ID', 'OLM_UNKNOWN_MESSAGE_INDEX']);
/** A pass over one room stops after this many pages and resumes on the next pass. */
const MAX_PAGES_PER_PASS = 400;
const RETRY_DECRYPT_EVERY_MS = 1_000;
const COMPLETENESS_PAGE_LIMIT = 1_000;

interface Prepared {
  raw: WireEvent;
  record: NewRecord;
  sessionKey?: string;
}

export class EventCapture {
  readonly #o: EventCaptureOptions;
  readonly #pageLimit: number;
  /** roomId → events this process has appended (the transcript knows the totals). */
  readonly #roomEvents = new Map<string, number>();
  /** One pass at a time per room: two overlapping passes would append the same page twice. */
  readonly #roomLocks = new Map<string, Promise<unknown>>();
  /** Megolm sessions whose keys are persisted (or about to be). */
  readonly #knownSessions = new Set<string>();
  /** Sessions we already waited for in vain: later events of theirs are tried once, without waiting again. */
  readonly #hopelessSessions = new Set<string>();
  /** curve25519 sender key → device id, from the device lists. */
  readonly #deviceBySenderKey = new Map<string, string>();

  constructor(options: EventCaptureOptions) {
    this.#o = options;
    this.#pageLimit = options.pageLimit ?? 250;
  }

  get roomEvents(): ReadonlyMap<string, number> {
    return this.#roomEvents;
  }

  /** Records every event of `roomId` the transcript does not hold yet, from its cursor to the server's end. */
  drainRoom(roomId: string): Promise<number> {
    const previous = this.#roomLocks.get(roomId) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(() => this.#drain(roomId));
    this.#roomLocks.set(roomId, run);
    return run;
  }

  /**
   * Completeness check for the seal: pages the room backwards from its end and returns ids the server has that the
   * transcript lacks. The caller records them late (appendLate) or reports them.
   */
  async missingEventIds(roomId: string, maxPages = 10_000): Promise<WireEvent[]> {
    const missing: WireEvent[] = [];
    let from: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const result = await this.#messages(roomId, 'b', from);
      for (const event of result.chunk) if (!this.#o.transcript.has(event.event_id)) missing.push(event);
      if (result.chunk.length === 0 || !result.end || result.end === from) return missing.reverse();
      from = result.end;
    }
    throw new Error(`completeness check of ${roomId} did not reach the room's start within ${maxPages} pages`);
  }

  /** Appends events found missing by the completeness check, oldest first. */
  async appendLate(events: WireEvent[]): Promise<number> {
    const fresh = events.filter((e) => !this.#o.transcript.has(e.event_id));
    const prepared = await Promise.all(fresh.map((raw) => this.#prepare(raw)));
    return this.#appendInOrder(prepared);
  }

  async #drain(roomId: string): Promise<number> {
    const { state, log } = this.#o;
    let appended = 0;
    let from = state.state.cursors[roomId];
    for (let page = 0; page < MAX_PAGES_PER_PASS; page++) {
      const result = await this.#messages(roomId, 'f', from);
      if (result.chunk.length === 0) break;
      const fresh = result.chunk.filter((e) => !this.#o.transcript.has(e.event_id));
      const prepared = await Promise.all(fresh.map((raw) => this.#prepare({ ...raw, room_id: roomId })));
      appended += await this.#appendInOrder(prepared);
      if (!result.end || result.end === from) break;
      const end = result.end;
      await state.update((s) => {
        s.cursors[roomId] = end;
      });
      from = end;
    }
    if (appended > 0) log.debug({ roomId, appended }, 'room caught up');
    return appended;
  }

  /** Appends in the given order (append assigns the chain position at call time), then waits for durability. */
  async #appendInOrder(prepared: Prepared[]): Promise<number> {
    const { transcript, metrics } = this.#o;
    const pending: Array<Promise<unknown>> = [];
    let newSessions = false;
    for (const item of prepared) {
      if (transcript.has(item.raw.event_id)) continue;
      item.record.media = await this.#media(item);
      pending.push(transcript.append(item.record));
      if (item.sessionKey && item.record.decryption === 'decrypted' && !this.#knownSessions.has(item.sessionKey)) {
        this.#knownSessions.add(item.sessionKey);
        newSessions = true;
      }
      const roomId = item.raw.room_id ?? '';
      this.#roomEvents.set(roomId, (this.#roomEvents.get(roomId) ?? 0) + 1);
      metrics.events.inc({ decryption: item.record.decryption });
      metrics.lastEventTimestamp.set(item.raw.origin_server_ts / 1000);
    }
    await Promise.all(pending);
    metrics.transcriptLines.set(transcript.count);
    metrics.setHead(transcript.head);
    // The keys of what we just recorded reach the vault before the cursor moves on (see persistRoomKeys).
    if (newSessions) await this.#o.persistRoomKeys();
    return pending.length;
  }

  #messages(roomId: string, dir: 'f' | 'b', from: string | undefined): Promise<MessagesPage> {
    // The backwards completeness check only needs ids: bigger pages (Synapse serves up to 1000), fewer round trips.
    const limit = dir === 'b' ? COMPLETENESS_PAGE_LIMIT : this.#pageLimit;
    const query = new URLSearchParams({ dir, limit: String(limit) });
    if (from !== undefined) query.set('from', from);
    return matrixRequest<MessagesPage>(
      this.#o.baseUrl,
      'GET',
      `/_matrix/client/v3/rooms/${enc(roomId)}/messages?${query}`,
      { accessToken: this.#o.accessToken, timeoutMs: 60_000 },
    );
  }

  async #prepare(raw: WireEvent): Promise<Prepared> {
    const base: NewRecord = {
      kind: 'event',
      eventId: raw.event_id,
      ...(raw.room_id === undefined ? {} : { roomId: raw.room_id }),
      sender: raw.sender,
      ts: raw.origin_server_ts,
      type: raw.type,
      ...(raw.state_key === undefined ? {} : { stateKey: raw.state_key }),
      decryption: 'plaintext',
    };
    if (raw.type !== 'm.room.encrypted') {
      return { raw, record: { ...base, content: raw.content, ...relationOf(raw, raw.content) } };
    }
    const wire = raw.content;
    const sessionId = typeof wire.session_id === 'string' ? wire.session_id : undefined;
    const senderKey = typeof wire.sender_key === 'string' ? wire.sender_key : undefined;
    const ids = {
      ...(senderKey ? { senderKey } : {}),
      ...(sessionId ? { sessionId } : {}),
      ...(typeof wire.device_id === 'string' ? { deviceId: wire.device_id } : {}),
    };
    if (typeof wire.ciphertext !== 'string') {
      // Redacted before we saw it: the server returns the redacted husk; that is what there is to record.
      return {
        raw,
        record: {
          ...base,
          ...ids,
          content: wire,
          decryption: 'failed',
          decryptionError: raw.unsigned?.redacted_because ? 'redacted before it was recorded' : 'no ciphertext',
        },
      };
    }
    const sessionKey = sessionId ? `${raw.room_id}|${sessionId}` : undefined;
    const event = await this.#decrypt(raw, sessionKey);
    if (event.isDecryptionFailure() || event.getClearContent() === null) {
      return {
        raw,
        sessionKey,
        record: {
          ...base,
          ...ids,
          ciphertext: wire,
          decryption: 'failed',
          decryptionError: event.decryptionFailureReason ?? 'not decrypted',
        },
      };
    }
    const content = event.getOriginalContent() as Record<string, unknown>;
    const clearSenderKey = event.getSenderKey() ?? senderKey;
    const deviceId = ids.deviceId ?? (await this.#deviceOf(raw.sender, clearSenderKey));
    return {
      raw,
      sessionKey,
      record: {
        ...base,
        ...ids,
        ...(clearSenderKey ? { senderKey: clearSenderKey } : {}),
        ...(deviceId ? { deviceId } : {}),
        type: event.getType(),
        content,
        ciphertext: wire,
        decryption: 'decrypted',
        ...relationOf(raw, content),
      },
    };
  }

  /** Decrypts through the SDK, waiting a bounded time for a room key that has probably not arrived yet. */
  async #decrypt(raw: WireEvent, sessionKey: string | undefined): Promise<MatrixEvent> {
    const { client, decryptWaitMs } = this.#o;
    const event = new MatrixEvent(raw as Partial<IEvent>);
    await client.decryptEventIfNeeded(event);
    const waitable = () =>
      event.isDecryptionFailure() && WAITABLE_FAILURES.has(String(event.decryptionFailureReason ?? ''));
    if (!waitable() || (sessionKey && this.#hopelessSessions.has(sessionKey))) return event;
    // The Rust crypto retries a pending event when its key arrives (and emits Decrypted); we also retry on a timer
    // in case the key was imported some other way.
    const crypto = client.getCrypto() as unknown as CryptoBackend;
    const deadline = Date.now() + decryptWaitMs;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearInterval(timer);
        event.off(MatrixEventEvent.Decrypted, onDecrypted);
        resolve();
      };
      const onDecrypted = () => {
        if (!waitable()) done();
      };
      const timer = setInterval(() => {
        if (!waitable() || Date.now() >= deadline) return done();
        void event.attemptDecryption(crypto, { isRetry: true }).then(onDecrypted, () => {});
      }, RETRY_DECRYPT_EVERY_MS);
      event.on(MatrixEventEvent.Decrypted, onDecrypted);
    });
    if (waitable() && sessionKey) {
      this.#hopelessSessions.add(sessionKey);
      this.#o.log.warn({ eventId: raw.event_id, roomId: raw.room_id }, 'room key did not arrive in time');
    }
    return event;
  }

  async #deviceOf(userId: string, senderKey: string | undefined): Promise<string | undefined> {
    if (!senderKey) return undefined;
    const known = this.#deviceBySenderKey.get(senderKey);
    if (known) return known;
    const devices = await this.#o.client
      .getCrypto()
      ?.getUserDeviceInfo([userId], true)
      .catch(() => undefined);
    for (const device of devices?.get(userId)?.values() ?? []) {
      const curve = device.getIdentityKey();
      if (curve) this.#deviceBySenderKey.set(curve, device.deviceId);
    }
    return this.#deviceBySenderKey.get(senderKey);
  }

  async #media(item: Prepared): Promise<RecordedMedia[] | undefined> {
    const { record } = item;
    if (record.type !== 'm.room.message' && record.type !== 'm.sticker') return undefined;
    const refs = mediaRefsOf(record.content as Record<string, unknown> | undefined);
    if (refs.length === 0) return undefined;
    const stored: RecordedMedia[] = [];
    for (const ref of refs) {
      try {
        const bytes = await fetchMedia(ref, {
          baseUrl: this.#o.baseUrl,
          accessToken: this.#o.accessToken,
          maxBytes: this.#o.mediaMaxBytes,
          timeoutMs: this.#o.mediaTimeoutMs ?? 120_000,
        });
        const file = await this.#o.transcript.writeMedia(bytes);
        this.#o.metrics.mediaBytes.inc(file.bytes);
        stored.push({ mxcUri: ref.mxcUri, ...file, ...(ref.mimetype ? { mimetype: ref.mimetype } : {}) });
      } catch (err) {
        // Not fatal: the event is recorded with the reason; its ciphertext and mxc URI stay in the record.
        const reason = err instanceof Error ? err.message : String(err);
        this.#o.metrics.mediaFailures.inc();
        this.#o.log.warn({ eventId: record.eventId, mxcUri: ref.mxcUri, reason }, 'media not stored');
        record.decryptionError = `${record.decryptionError ? `${record.decryptionError}; ` : ''}media ${ref.mxcUri}: ${reason}`;
      }
    }
    return stored.length > 0 ? stored : undefined;
  }
}

function relationOf(raw: WireEvent, content: Record<string, unknown>): { relatesTo?: unknown } {
  const relation = content['m.relates_to'] ?? raw.content['m.relates_to'];
  if (relation !== undefined) return { relatesTo: relation };
  const redacts = raw.redacts ?? content.redacts;
  if (typeof redacts === 'string') return { relatesTo: { rel_type: 'm.redaction', event_id: redacts } };
  return {};
}
