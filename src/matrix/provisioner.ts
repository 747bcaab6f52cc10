import { isDeepStrictEqual } from 'node:util';
import { encodePathSegment as enc, type FetchLike, MatrixHttpError, matrixRequest } from './matrix-http.ts';
import { loginWithPassword, logout, type MatrixSession, registerUser } from './register.ts';
import {
  desiredPowerLevels,
  PARTICIPANT_ROLES,
  type ParticipantRole,
  roomVersionHasInfiniteCreatorPower,
} from './room-power-levels.ts';

/**
 * Brings a war-room homeserver to the desired accounts and rooms. Idempotent: every step first looks at what
 * exists, so a re-run (a retried Job, a changed participant list) converges instead of failing.
 *
 * Order matters for the evidence: each room is created by the admin bot with the recorder as its only invitee,
 * and participants are invited only once the recorder has joined, so the recorder's device receives the Megolm
 * keys of every message anyone ever sends there.
 */

export interface ProvisionAccount {
  /** The localpart (pseudonym). */
  handle: string;
  password: string;
  displayname?: string;
}

export interface ProvisionParticipant extends ProvisionAccount {
  role: ParticipantRole;
}

export interface ProvisionRoom {
  /** Alias localpart: `control` becomes `#control:<server>`. */
  alias: string;
  name: string;
  topic?: string;
}

export const DEFAULT_ROOMS: readonly ProvisionRoom[] = [
  { alias: 'control', name: 'control', topic: 'Incident coordination (fallback channel)' },
  { alias: 'ops', name: 'ops', topic: 'Incident operations' },
];

/** pino-compatible subset. Only ids and counts are logged, never a password, token or MAC. */
export interface ProvisionLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface ProvisionParams {
  /** Synapse client listener, including /_synapse/admin (the in-cluster Service, never the Ingress). */
  baseUrl: string;
  serverName: string;
  registrationSharedSecret: string;
  adminBot: ProvisionAccount;
  recorder: ProvisionAccount;
  participants: ProvisionParticipant[];
  rooms?: readonly ProvisionRoom[];
  /**
   * Resolves once the recorder process has joined `roomId` (it joins on invite by itself). Without it the
   * provisioner logs in as the recorder and joins on its behalf, then logs that session out.
   */
  waitForRecorderJoin?: (roomId: string, recorderUserId: string) => Promise<void>;
  /**
   * The recorder sidecar joins on invite by itself (the Job's case): wait, as the admin bot, until the room shows it
   * joined and its device has published its keys, instead of joining on its behalf (which would give the room a
   * recorder membership but no recording device). Ignored when `waitForRecorderJoin` is given.
   */
  recorderJoinsItself?: boolean;
  /** Upper bound on waiting for the recorder's join; default 120 s. */
  recorderJoinTimeoutMs?: number;
  logger?: ProvisionLogger;
  fetch?: FetchLike;
}

export type AccountOutcome = 'created' | 'existing' | 'reactivated';

export interface ProvisionSummary {
  serverName: string;
  adminUserId: string;
  recorderUserId: string;
  participants: Array<{ handle: string; role: ParticipantRole; userId: string; account: AccountOutcome }>;
  /** Accounts deactivated and erased because they are no longer listed. */
  deactivated: string[];
  rooms: Array<{ alias: string; roomId: string; created: boolean; roomVersion: string }>;
}

const LOCALPART = /^[a-z0-9.=\-/+][a-z0-9._=\-/+]*$/;
const MEGOLM = 'm.megolm.v1.aes-sha2';
/** Pinned so that the admin bot, as creator, outranks every lead (creators have unlimited power from v12). */
export const ROOM_VERSION = '12';

const silentLogger: ProvisionLogger = { info() {}, warn() {} };

const DEFAULT_RECORDER_JOIN_TIMEOUT_MS = 120_000;

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const REACTIVATE_ATTEMPTS = 15;
const REACTIVATE_RETRY_MS = 2_000;

async function retryOnServerError<T>(attempts: number, delayMs: number, action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      const retriable = error instanceof MatrixHttpError && error.status >= 500;
      if (!retriable || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

function validate(params: ProvisionParams): void {
  const handles = [params.adminBot.handle, params.recorder.handle, ...params.participants.map((p) => p.handle)];
  const seen = new Set<string>();
  for (const handle of handles) {
    if (!LOCALPART.test(handle) || handle.length > 200) throw new Error(`invalid handle ${JSON.stringify(handle)}`);
    if (seen.has(handle)) throw new Error(`handle ${handle} is listed twice`);
    seen.add(handle);
  }
  for (const account of [params.adminBot, params.recorder, ...params.participants]) {
    if (account.password.length < 12 || account.password.length > 512 || account.password.includes('\0')) {
      throw new Error(`password for ${account.handle} must be 12..512 characters without NUL`);
    }
  }
  for (const participant of params.participants) {
    if (!PARTICIPANT_ROLES.includes(participant.role)) {
      throw new Error(`unknown role ${String(participant.role)} for ${participant.handle}`);
    }
  }
  const aliases = new Set<string>();
  for (const room of params.rooms ?? DEFAULT_ROOMS) {
    if (!LOCALPART.test(room.alias) || aliases.has(room.alias)) throw new Error(`invalid room alias ${room.alias}`);
    aliases.add(room.alias);
  }
}

interface AdminUser {
  name: string;
  admin: boolean;
  deactivated: boolean;
}

interface StateEvent {
  type: string;
  state_key: string;
  content: Record<string, unknown>;
}

/** Admin-API helpers bound to one admin session. */
class Homeserver {
  readonly baseUrl: string;
  readonly fetch: FetchLike | undefined;
  readonly session: MatrixSession;

  constructor(baseUrl: string, session: MatrixSession, fetchImpl: FetchLike | undefined) {
    this.baseUrl = baseUrl;
    this.session = session;
    this.fetch = fetchImpl;
  }

  call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return matrixRequest<T>(this.baseUrl, method, path, {
      accessToken: this.session.accessToken,
      body,
      ...(this.fetch ? { fetch: this.fetch } : {}),
    });
  }

  async findUser(userId: string): Promise<AdminUser | undefined> {
    try {
      return await this.call<AdminUser>('GET', `/_synapse/admin/v2/users/${enc(userId)}`);
    } catch (error) {
      if (error instanceof MatrixHttpError && error.status === 404) return undefined;
      throw error;
    }
  }

  async listActiveUsers(): Promise<AdminUser[]> {
    const users: AdminUser[] = [];
    let from: string | undefined = '0';
    while (from !== undefined) {
      const page: { users: AdminUser[]; next_token?: string | number } = await this.call(
        'GET',
        `/_synapse/admin/v2/users?from=${enc(from)}&limit=100&guests=false&deactivated=false`,
      );
      users.push(...page.users);
      from = page.next_token === undefined ? undefined : String(page.next_token);
    }
    return users;
  }

  async resolveAlias(alias: string): Promise<string | undefined> {
    try {
      const { room_id } = await this.call<{ room_id: string }>(
        'GET',
        `/_matrix/client/v3/directory/room/${enc(alias)}`,
      );
      return room_id;
    } catch (error) {
      if (error instanceof MatrixHttpError && error.status === 404) return undefined;
      throw error;
    }
  }

  async roomState(roomId: string): Promise<StateEvent[]> {
    const { state } = await this.call<{ state: StateEvent[] }>('GET', `/_synapse/admin/v1/rooms/${enc(roomId)}/state`);
    return state;
  }
}

/** Polls until the recorder is joined to `roomId` and has a device with published keys (bounded by the caller). */
async function recorderJoined(hs: Homeserver, roomId: string, recorderUserId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const joined = membershipOf(await hs.roomState(roomId), recorderUserId) === 'join';
    if (joined) {
      const keys = (await hs.call('POST', '/_matrix/client/v3/keys/query', {
        device_keys: { [recorderUserId]: [] },
      })) as { device_keys?: Record<string, Record<string, unknown>> };
      if (Object.keys(keys.device_keys?.[recorderUserId] ?? {}).length > 0) return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function membershipOf(state: StateEvent[], userId: string): string | undefined {
  const event = state.find((e) => e.type === 'm.room.member' && e.state_key === userId);
  const membership = event?.content.membership;
  return typeof membership === 'string' ? membership : undefined;
}

function roomVersionOf(state: StateEvent[]): string {
  const create = state.find((e) => e.type === 'm.room.create' && e.state_key === '');
  const version = create?.content.room_version;
  // The spec: a create event without room_version is version 1.
  return typeof version === 'string' ? version : '1';
}

export async function provision(params: ProvisionParams): Promise<ProvisionSummary> {
  validate(params);
  const log = params.logger ?? silentLogger;
  const callOptions = params.fetch ? { fetch: params.fetch } : {};
  const userId = (handle: string) => `@${handle}:${params.serverName}`;
  const adminUserId = userId(params.adminBot.handle);
  const recorderUserId = userId(params.recorder.handle);

  const adminSession = await registerUser(
    params.baseUrl,
    params.registrationSharedSecret,
    {
      username: params.adminBot.handle,
      password: params.adminBot.password,
      admin: true,
      displayname: params.adminBot.displayname ?? params.adminBot.handle,
    },
    callOptions,
  );
  if (adminSession.userId !== adminUserId) {
    throw new Error(`homeserver answered ${adminSession.userId}, expected ${adminUserId}: wrong serverName?`);
  }
  const hs = new Homeserver(params.baseUrl, adminSession, params.fetch);
  try {
    const admin = await hs.findUser(adminUserId);
    if (!admin?.admin) throw new Error(`${adminUserId} exists but is not a server admin`);
    log.info({ userId: adminUserId, created: adminSession.created }, 'admin bot ready');
    // Invites and room creation are rate-limited per sender, admins included; 0/0 lifts that for the bot.
    await hs.call('POST', `/_synapse/admin/v1/users/${enc(adminUserId)}/override_ratelimit`, {
      messages_per_second: 0,
      burst_count: 0,
    });

    const ensureAccount = async (account: ProvisionAccount): Promise<AccountOutcome> => {
      const id = userId(account.handle);
      const existing = await hs.findUser(id);
      if (existing && !existing.deactivated) return 'existing';
      if (existing?.deactivated) {
        // Re-listed after removal: reactivation needs a password again (deactivation dropped the hash).
        // Synapse answers 500 while its post-boot schema updates still build the profiles index; the PUT is
        // idempotent, so retry for a bounded while.
        await retryOnServerError(REACTIVATE_ATTEMPTS, REACTIVATE_RETRY_MS, () =>
          hs.call('PUT', `/_synapse/admin/v2/users/${enc(id)}`, {
            deactivated: false,
            password: account.password,
            logout_devices: true,
            displayname: account.displayname ?? account.handle,
          }),
        );
        return 'reactivated';
      }
      const session = await registerUser(
        params.baseUrl,
        params.registrationSharedSecret,
        {
          username: account.handle,
          password: account.password,
          admin: false,
          displayname: account.displayname ?? account.handle,
        },
        callOptions,
      );
      // Registration logs a device in; drop it so the account's first real device is the person's own.
      await logout(params.baseUrl, session, callOptions);
      return session.created ? 'created' : 'existing';
    };

    const recorderOutcome = await ensureAccount(params.recorder);
    log.info({ userId: recorderUserId, account: recorderOutcome }, 'recorder account ready');
    await hs.call('POST', `/_synapse/admin/v1/users/${enc(recorderUserId)}/override_ratelimit`, {
      messages_per_second: 0,
      burst_count: 0,
    });

    const participants: ProvisionSummary['participants'] = [];
    for (const participant of params.participants) {
      const account = await ensureAccount(participant);
      participants.push({
        handle: participant.handle,
        role: participant.role,
        userId: userId(participant.handle),
        account,
      });
    }
    log.info(
      { changed: participants.filter((p) => p.account !== 'existing').length, total: participants.length },
      'participant accounts ready',
    );

    // Anyone still active but no longer listed loses access now: erase also parts them from every room and
    // rejects their pending invites. Other server admins are left alone (they are not ours to remove).
    const wanted = new Set([adminUserId, recorderUserId, ...participants.map((p) => p.userId)]);
    const deactivated: string[] = [];
    for (const user of await hs.listActiveUsers()) {
      if (wanted.has(user.name)) continue;
      if (user.admin) {
        log.warn({ userId: user.name }, 'unlisted server admin left active');
        continue;
      }
      await hs.call('POST', `/_synapse/admin/v1/deactivate/${enc(user.name)}`, { erase: true });
      deactivated.push(user.name);
    }
    if (deactivated.length > 0) log.info({ userIds: deactivated }, 'unlisted accounts deactivated and erased');

    const rooms: ProvisionSummary['rooms'] = [];
    for (const room of params.rooms ?? DEFAULT_ROOMS) {
      const alias = `#${room.alias}:${params.serverName}`;
      let created = false;
      let roomId = await hs.resolveAlias(alias);
      if (roomId === undefined) {
        const powerLevels = desiredPowerLevels({
          adminUserId,
          recorderUserId,
          participants,
          creatorHasInfinitePower: roomVersionHasInfiniteCreatorPower(ROOM_VERSION),
        });
        try {
          ({ room_id: roomId } = await hs.call<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom', {
            room_version: ROOM_VERSION,
            preset: 'private_chat',
            visibility: 'private',
            name: room.name,
            ...(room.topic === undefined ? {} : { topic: room.topic }),
            room_alias_name: room.alias,
            creation_content: { 'm.federate': false },
            initial_state: [
              { type: 'm.room.encryption', state_key: '', content: { algorithm: MEGOLM } },
              { type: 'm.room.guest_access', state_key: '', content: { guest_access: 'forbidden' } },
            ],
            power_level_content_override: powerLevels,
            invite: [recorderUserId],
          }));
          created = true;
        } catch (error) {
          // A concurrent run created it between our lookup and our create.
          if (!(error instanceof MatrixHttpError && error.errcode === 'M_ROOM_IN_USE')) throw error;
          roomId = await hs.resolveAlias(alias);
          if (roomId === undefined) throw error;
        }
        log.info({ alias, roomId, created }, 'room ready');
      }

      let state = await hs.roomState(roomId);
      const encryption = state.find((e) => e.type === 'm.room.encryption' && e.state_key === '');
      if (encryption?.content.algorithm !== MEGOLM) throw new Error(`${alias} (${roomId}) is not end-to-end encrypted`);

      if (membershipOf(state, recorderUserId) !== 'join') {
        if (membershipOf(state, recorderUserId) !== 'invite') {
          await hs.call('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: recorderUserId });
        }
        const waitForJoin =
          params.waitForRecorderJoin ??
          (params.recorderJoinsItself
            ? (id: string) =>
                recorderJoined(hs, id, recorderUserId, params.recorderJoinTimeoutMs ?? DEFAULT_RECORDER_JOIN_TIMEOUT_MS)
            : undefined);
        if (waitForJoin) {
          await withTimeout(
            waitForJoin(roomId, recorderUserId),
            params.recorderJoinTimeoutMs ?? DEFAULT_RECORDER_JOIN_TIMEOUT_MS,
            `recorder did not join ${alias}`,
          );
        } else {
          const recorderSession = await loginWithPassword(
            params.baseUrl,
            params.recorder.handle,
            params.recorder.password,
            callOptions,
          );
          try {
            await matrixRequest(params.baseUrl, 'POST', `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {
              ...callOptions,
              accessToken: recorderSession.accessToken,
              body: {},
            });
          } finally {
            await logout(params.baseUrl, recorderSession, callOptions);
          }
        }
        state = await hs.roomState(roomId);
        if (membershipOf(state, recorderUserId) !== 'join') {
          throw new Error(`recorder has not joined ${alias}; participants are not invited without it`);
        }
        log.info({ alias, roomId }, 'recorder joined');
      }

      // Power levels before invites, so an observer is muted from the moment they can join.
      const roomVersion = roomVersionOf(state);
      const powerLevels = desiredPowerLevels({
        adminUserId,
        recorderUserId,
        participants,
        creatorHasInfinitePower: roomVersionHasInfiniteCreatorPower(roomVersion),
      });
      const currentPowerLevels = state.find((e) => e.type === 'm.room.power_levels' && e.state_key === '');
      if (!isDeepStrictEqual(currentPowerLevels?.content, powerLevels)) {
        await hs.call('PUT', `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`, powerLevels);
      }

      for (const participant of participants) {
        const membership = membershipOf(state, participant.userId);
        if (membership === 'join' || membership === 'invite') continue;
        if (membership === 'ban') {
          log.warn({ alias, userId: participant.userId }, 'participant is banned from the room; not re-inviting');
          continue;
        }
        await hs.call('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: participant.userId });
      }
      rooms.push({ alias, roomId, created, roomVersion });
    }

    return { serverName: params.serverName, adminUserId, recorderUserId, participants, deactivated, rooms };
  } finally {
    await logout(params.baseUrl, adminSession, callOptions).catch((error: unknown) => {
      log.warn({ error: error instanceof Error ? error.message : String(error) }, 'admin bot logout failed');
    });
  }
}
