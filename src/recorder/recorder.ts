import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientEvent, type MatrixClient, MsgType, type Room, SyncState } from 'matrix-js-sdk';
import { CryptoEvent } from 'matrix-js-sdk/lib/crypto-api/index.js';
import { writeFileAtomic } from '../evidence/durable-file.ts';
import { TRANSCRIPT_FILE, TranscriptWriter } from '../evidence/transcript.ts';
import { encodePathSegment, MatrixHttpError, matrixRequest } from '../matrix/matrix-http.ts';
import type { Logger } from '../observability/logger.ts';
import { coalesce } from './coalesce.ts';
import type { RecorderConfig } from './config.ts';
import { DeviceAudit } from './device-audit.ts';
import { EventCapture } from './event-capture.ts';
import { KeyVault } from './key-vault.ts';
import type { RecorderMetrics } from './metrics.ts';
import { openSession, type RecorderSession } from './session.ts';
import { StateStore } from './state-store.ts';
import { buildUnsignedExport } from './unsigned-export.ts';

/** What GET /status returns; the operator copies `events` and `headHash` into the channel's status. */
export interface RecorderStatus {
  ready: boolean;
  sealed: boolean;
  lines: number;
  events: number;
  decrypted: number;
  failed: number;
  headHash: string;
  userId: string;
  deviceId?: string;
  rooms: Array<{ roomId: string; alias?: string; events: number }>;
}

export interface SealResult {
  archive: Uint8Array;
  /** Events the completeness check found missing and recorded late (before the seal record). */
  recordedLate: number;
}

const EXPORT_FILE = 'export.tar';
const LOGIN_RETRY_MAX_MS = 5_000;
/** The account is registered by the provisioning Job, which may run well after the sidecar starts. */
const LOGIN_DEADLINE_MS = 60 * 60 * 1000;
const AUDIT_EVERY_MS = 5_000;
const SAFETY_PASS_EVERY_MS = 30_000;
const NOTICE_TIMEOUT_MS = 30_000;
const LIVE_TIMELINE_MAX_EVENTS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Recorder {
  readonly #config: RecorderConfig;
  readonly #password: string;
  readonly #log: Logger;
  readonly #metrics: RecorderMetrics;
  readonly #transcript: TranscriptWriter;
  readonly #transcriptDir: string;
  readonly #state: StateStore;
  readonly #vault: KeyVault;
  /** Events per room in the transcript (counted at open, then as they are appended). */
  readonly #roomTotals: Map<string, number>;
  #session: RecorderSession | undefined;
  #capture: EventCapture | undefined;
  #audit: DeviceAudit | undefined;
  #pump: (() => Promise<void>) | undefined;
  #lastPump: Promise<void> = Promise.resolve();
  #caughtUp = false;
  #sealing: Promise<SealResult> | undefined;
  #archive: Uint8Array | undefined;
  #stopped = false;
  #timers: NodeJS.Timeout[] = [];
  #controlRoomId: string | undefined;

  private constructor(
    config: RecorderConfig,
    password: string,
    log: Logger,
    metrics: RecorderMetrics,
    transcript: TranscriptWriter,
    roomTotals: Map<string, number>,
    state: StateStore,
    archive: Uint8Array | undefined,
  ) {
    this.#config = config;
    this.#password = password;
    this.#log = log;
    this.#metrics = metrics;
    this.#transcript = transcript;
    this.#transcriptDir = join(config.dataDir, 'transcript');
    this.#roomTotals = roomTotals;
    this.#state = state;
    this.#vault = new KeyVault(config.dataDir, password);
    this.#archive = archive;
  }

  /** Opens the data dir (resuming and verifying an existing transcript); does not log in yet (see connect). */
  static async open(
    config: RecorderConfig,
    password: string,
    log: Logger,
    metrics: RecorderMetrics,
  ): Promise<Recorder> {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const transcriptDir = join(config.dataDir, 'transcript');
    const transcript = await TranscriptWriter.open(transcriptDir, {
      onRecovery: (r) => log.warn({ ...r }, 'transcript: torn last line cut away (crash mid-write)'),
    });
    const roomTotals = await countByRoom(join(transcriptDir, TRANSCRIPT_FILE));
    const state = new StateStore(config.dataDir);
    await state.load();
    const archive = transcript.sealed
      ? await readFile(join(config.dataDir, EXPORT_FILE)).catch(() => undefined)
      : undefined;
    metrics.transcriptLines.set(transcript.count);
    metrics.setHead(transcript.head);
    log.info({ lines: transcript.count, head: transcript.head, sealed: transcript.sealed }, 'transcript opened');
    return new Recorder(config, password, log, metrics, transcript, roomTotals, state, archive);
  }

  get ready(): boolean {
    return this.#transcript.sealed || (this.#session !== undefined && this.#caughtUp);
  }

  get sealed(): boolean {
    return this.#transcript.sealed;
  }

  get archive(): Uint8Array | undefined {
    return this.#archive;
  }

  /**
   * Logs in (retrying while the account does not exist yet), sets up crypto and cross-signing, then records:
   * auto-joins invites, and on every sync drains every joined room. Resolves once the first catch-up is done.
   */
  async connect(): Promise<void> {
    if (this.#transcript.sealed) return;
    const deadline = Date.now() + LOGIN_DEADLINE_MS;
    let delay = 500;
    for (;;) {
      if (this.#stopped) return;
      try {
        this.#session = await openSession(this.#config, this.#password, this.#state, this.#vault, this.#log);
        break;
      } catch (err) {
        if (Date.now() + delay > deadline) throw new Error(`could not log in: ${(err as Error).message}`);
        this.#log.warn({ reason: (err as Error).message, retryInMs: delay }, 'login or crypto setup failed; retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, LOGIN_RETRY_MAX_MS);
      }
    }
    const { client, accessToken } = this.#session;
    const persistRoomKeys = coalesce(async () => {
      const keys = await client.getCrypto()?.exportRoomKeysAsJson();
      if (keys !== undefined) await this.#vault.write('roomKeys', keys);
    });
    this.#capture = new EventCapture({
      client,
      baseUrl: this.#config.homeserverUrl,
      accessToken,
      transcript: this.#transcript,
      state: this.#state,
      metrics: this.#metrics,
      log: this.#log.child({ part: 'capture' }),
      decryptWaitMs: this.#config.decryptWaitMs,
      mediaMaxBytes: this.#config.mediaMaxBytes,
      persistRoomKeys,
    });
    this.#audit = new DeviceAudit({
      baseUrl: this.#config.homeserverUrl,
      accessToken,
      ownUserId: this.#config.userId,
      state: this.#state,
      log: this.#log.child({ part: 'device-audit' }),
      members: () => joinedRooms(client).flatMap((room) => room.getJoinedMembers().map((m) => m.userId)),
      announce: (text) => this.notice(text).then(() => {}),
    });
    const audit = () =>
      void this.#audit?.check().catch((err: unknown) => {
        this.#log.warn({ reason: (err as Error).message }, 'device audit pass failed');
      });
    // Keys that arrive before any event uses them are persisted too (debounced), not only at cursor moves.
    let keyTimer: NodeJS.Timeout | undefined;
    client.on(ClientEvent.ReceivedToDeviceMessage, ({ message }) => {
      if (message.type !== 'm.room_key' && message.type !== 'm.forwarded_room_key') return;
      clearTimeout(keyTimer);
      keyTimer = setTimeout(() => {
        persistRoomKeys().catch((err: unknown) => {
          this.#log.warn({ reason: (err as Error).message }, 'room keys not persisted');
        });
      }, 1_000);
    });
    client.on(CryptoEvent.DevicesUpdated, audit);

    this.#pump = coalesce(() => this.#pass(client));
    client.on(ClientEvent.Sync, (state: SyncState) => {
      if (state === SyncState.Syncing || state === SyncState.Prepared) this.#schedule();
    });
    this.#timers.push(
      setInterval(audit, AUDIT_EVERY_MS),
      setInterval(() => this.#schedule(), SAFETY_PASS_EVERY_MS),
    );
    this.#schedule();
    await this.#lastPump;
    audit();
  }

  #schedule(): void {
    if (!this.#pump || this.#sealing || this.#stopped) return;
    this.#lastPump = this.#pump().catch((err: unknown) => {
      this.#log.warn({ reason: (err as Error).message }, 'capture pass failed; the next sync retries');
    });
  }

  /** One pass: join pending invites, then drain every joined room from its cursor. */
  async #pass(client: MatrixClient): Promise<void> {
    if (this.#sealing || this.#stopped) return;
    for (const room of client.getRooms()) {
      if (room.getMyMembership() !== 'invite') continue;
      try {
        await client.joinRoom(room.roomId);
        this.#log.info({ roomId: room.roomId }, 'joined on invite');
      } catch (err) {
        this.#log.warn({ roomId: room.roomId, reason: (err as Error).message }, 'could not join on invite');
      }
    }
    await this.#drainAll(client);
    this.#caughtUp = true;
    // The SDK's live timeline is not what we record (capture pages /messages), but it keeps every synced event in
    // memory for the life of the process. Dropping it, as the SDK itself does on a gappy sync, bounds the memory of
    // a long incident; room state (members, encryption) carries over to the new timeline.
    for (const room of joinedRooms(client)) {
      if (room.getLiveTimeline().getEvents().length > LIVE_TIMELINE_MAX_EVENTS) room.resetLiveTimeline();
    }
  }

  async #drainAll(client: MatrixClient): Promise<void> {
    const capture = this.#capture;
    if (!capture) return;
    let failures = 0;
    for (const room of joinedRooms(client)) {
      try {
        const appended = await capture.drainRoom(room.roomId);
        if (appended > 0) this.#roomTotals.set(room.roomId, (this.#roomTotals.get(room.roomId) ?? 0) + appended);
      } catch (err) {
        failures++;
        this.#log.warn({ roomId: room.roomId, reason: (err as Error).message }, 'room catch-up failed');
      }
    }
    if (failures > 0) throw new Error(`${failures} room(s) not caught up`);
  }

  status(): RecorderStatus {
    const counts = this.#transcript.counts;
    const client = this.#session?.client;
    const roomIds = new Set([...this.#roomTotals.keys(), ...(client ? joinedRooms(client).map((r) => r.roomId) : [])]);
    return {
      ready: this.ready,
      sealed: this.sealed,
      lines: this.#transcript.count,
      events: counts.events,
      decrypted: counts.decrypted,
      failed: counts.failed,
      headHash: this.#transcript.head,
      userId: this.#config.userId,
      ...(this.#session ? { deviceId: this.#session.deviceId } : {}),
      rooms: [...roomIds].sort().map((roomId) => {
        const alias = client?.getRoom(roomId)?.getCanonicalAlias() ?? undefined;
        return { roomId, ...(alias ? { alias } : {}), events: this.#roomTotals.get(roomId) ?? 0 };
      }),
    };
  }

  /** Posts an m.notice in the control room (encrypted by the SDK: it is an E2EE room). Returns the event id. */
  async notice(text: string): Promise<string> {
    const client = this.#session?.client;
    if (!client) throw new Error('not logged in yet');
    this.#controlRoomId ??= (await client.getRoomIdForAlias(this.#config.controlRoom)).room_id;
    const sent = client.sendMessage(this.#controlRoomId, { msgtype: MsgType.Notice, body: text });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('notice not sent in time')), NOTICE_TIMEOUT_MS);
    });
    try {
      return (await Promise.race([sent, timeout])).event_id;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops taking new work, catches every room up once more, checks completeness (pages each room backwards and
   * records late whatever the transcript lacks), appends the seal record, and builds the unsigned export.
   * Idempotent: later calls (and calls after a restart) return the same bytes.
   */
  seal(): Promise<SealResult> {
    if (this.#archive) return Promise.resolve({ archive: this.#archive, recordedLate: 0 });
    this.#sealing ??= this.#doSeal().catch((err: unknown) => {
      // Let a later call try again (the transcript is only sealed at the very end).
      this.#sealing = undefined;
      throw err;
    });
    return this.#sealing;
  }

  async #doSeal(): Promise<SealResult> {
    const started = performance.now();
    const phases: Record<string, number> = {};
    const lap = (name: string, since: number) => {
      phases[name] = Math.round(performance.now() - since);
      return performance.now();
    };
    await this.#lastPump;
    let recordedLate = 0;
    const notes: string[] = [];
    const client = this.#session?.client;
    if (!this.#transcript.sealed) {
      if (client && this.#capture) {
        let t = performance.now();
        await this.#drainAll(client);
        t = lap('catchUpMs', t);
        for (const room of joinedRooms(client)) {
          const missing = await this.#capture.missingEventIds(room.roomId);
          if (missing.length === 0) continue;
          this.#log.warn({ roomId: room.roomId, missing: missing.length }, 'completeness check: recording late');
          const late = await this.#capture.appendLate(missing.map((e) => ({ ...e, room_id: room.roomId })));
          this.#roomTotals.set(room.roomId, (this.#roomTotals.get(room.roomId) ?? 0) + late);
          recordedLate += late;
        }
        lap('completenessMs', t);
        if (recordedLate > 0) notes.push(`${recordedLate} event(s) recorded late by the completeness check`);
        notes.push(`completeness checked in ${joinedRooms(client).length} room(s)`);
      } else {
        notes.push('sealed without a final catch-up: the recorder was not logged in');
      }
      await this.#transcript.seal(notes.join('; '));
    }
    this.#metrics.transcriptLines.set(this.#transcript.count);
    this.#metrics.setHead(this.#transcript.head);
    const t = performance.now();
    const archive = await buildUnsignedExport(this.#transcriptDir, this.#config.channel, new Date());
    await writeFileAtomic(join(this.#config.dataDir, EXPORT_FILE), archive);
    lap('exportMs', t);
    this.#archive = archive;
    this.#log.info(
      {
        lines: this.#transcript.count,
        head: this.#transcript.head,
        recordedLate,
        archiveBytes: archive.length,
        ms: Math.round(performance.now() - started),
        ...phases,
      },
      'transcript sealed and exported',
    );
    return { archive, recordedLate };
  }

  /**
   * Asks the homeserver (loopback, the recorder's own token) whether a user is joined to a room, for the call
   * authoriser. Always asked live, never from the sync cache: a join a second old or a kick must count at once. A room
   * the recorder is not in is not one of the war room's rooms, so the answer is no.
   */
  isJoined(roomId: string, userId: string): Promise<boolean> | undefined {
    const session = this.#session;
    if (!session) return undefined;
    return matrixRequest<{ joined?: Record<string, unknown> }>(
      this.#config.homeserverUrl,
      'GET',
      `/_matrix/client/v3/rooms/${encodePathSegment(roomId)}/joined_members`,
      { accessToken: session.accessToken, timeoutMs: 5_000 },
    ).then(
      (members) => Object.hasOwn(members.joined ?? {}, userId),
      (err: unknown) => {
        if (err instanceof MatrixHttpError && (err.status === 403 || err.status === 404)) return false;
        throw err;
      },
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    await this.#lastPump;
    this.#session?.client.stopClient();
    await this.#transcript.close();
  }
}

function joinedRooms(client: MatrixClient): Room[] {
  return client.getRooms().filter((room) => room.getMyMembership() === 'join');
}

/** Events per room in an existing transcript (read once at start, for /status). */
async function countByRoom(path: string): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  const text = await readFile(path, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const record = JSON.parse(line) as { kind?: string; roomId?: string };
      if (record.kind === 'event' && record.roomId) totals.set(record.roomId, (totals.get(record.roomId) ?? 0) + 1);
    } catch {
      // The writer already verified the chain; a torn last line was cut away.
    }
  }
  return totals;
}
