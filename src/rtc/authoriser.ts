import type { Logger } from '../observability/logger.ts';
import type { RoomCreator } from './livekit-rooms.ts';
import {
  joinGrant,
  type LiveKitCredentials,
  liveKitIdentityFor,
  liveKitRoomFor,
  mintLiveKitToken,
} from './livekit-token.ts';
import type { MembershipCheck, OpenIdCheck } from './matrix-checks.ts';

/**
 * The MatrixRTC authoriser (MSC4195) of one war room: a client proves who it is with a Matrix OpenID token, names the
 * room and its device; it gets the SFU's URL and a short-lived LiveKit token for that room alone. Refused: another
 * homeserver's users (a war room does not federate), unknown or expired OpenID tokens, a user id that is not the
 * token's, and rooms the user has not joined (asked of the recorder, when the war room records). Every refusal is a Matrix error with a sentence saying why.
 */
export class RtcError extends Error {
  readonly status: number;
  readonly errcode: string;
  constructor(status: number, errcode: string, message: string) {
    super(message);
    this.name = 'RtcError';
    this.status = status;
    this.errcode = errcode;
  }
}

export interface OpenIdToken {
  access_token: string;
  matrix_server_name: string;
}

/** A request after validation: `/get_token` and the older `/sfu/get` both reduce to this. */
export interface TokenRequest {
  roomId: string;
  slotId: string;
  openIdToken: OpenIdToken;
  deviceId: string;
  /** `/get_token`'s MatrixRTC member id; absent on `/sfu/get`, whose clients expect `<user>:<device>` identities. */
  memberId?: string;
  claimedUserId?: string;
}

export interface AuthoriserOptions {
  serverName: string;
  /** What clients connect to (the SFU's public ws/wss URL). */
  sfuUrl: string;
  credentials: LiveKitCredentials;
  tokenTtlSeconds: number;
  openId: OpenIdCheck;
  /** The recorder's answer; undefined when the war room does not record (then the server check is the only one). */
  membership: MembershipCheck | undefined;
  rooms: RoomCreator;
  log: Logger;
}

export const DEFAULT_TOKEN_TTL_SECONDS = 300;
export const LEGACY_SLOT = 'm.call#ROOM';

export class Authoriser {
  readonly #o: AuthoriserOptions;
  constructor(options: AuthoriserOptions) {
    this.#o = options;
  }

  async issue(req: TokenRequest): Promise<{ url: string; jwt: string }> {
    const { serverName, openId, membership, log } = this.#o;
    if (req.openIdToken.matrix_server_name !== serverName) {
      throw new RtcError(
        403,
        'M_FORBIDDEN',
        `only users of ${serverName} may join this war room's calls (the token is from ${req.openIdToken.matrix_server_name})`,
      );
    }
    const userId = await openId.openIdUser(req.openIdToken.access_token).catch((err: unknown) => {
      log.error({ reason: (err as Error).message }, 'openid check failed');
      throw new RtcError(502, 'M_UNKNOWN', 'the homeserver could not be asked who this token belongs to; try again');
    });
    if (userId === undefined) {
      throw new RtcError(401, 'M_UNAUTHORIZED', 'the OpenID token is unknown or expired: request a new one');
    }
    if (serverOf(userId) !== serverName) {
      throw new RtcError(403, 'M_FORBIDDEN', `only users of ${serverName} may join this war room's calls`);
    }
    if (req.claimedUserId !== undefined && req.claimedUserId !== userId) {
      throw new RtcError(401, 'M_UNAUTHORIZED', 'member.claimed_user_id is not the OpenID token’s user');
    }
    // Without a membership source (a war room that does not record) every user of this server may join any of its
    // calls: they are all participants the operator provisioned, and call media is end-to-end encrypted with keys
    // shared only in the Matrix room.
    if (membership !== undefined) {
      const joined = await membership.isJoined(req.roomId, userId).catch((err: unknown) => {
        log.error({ reason: (err as Error).message }, 'membership check failed');
        throw new RtcError(502, 'M_UNKNOWN', 'the war room could not be asked about room membership; try again');
      });
      if (!joined) throw new RtcError(403, 'M_FORBIDDEN', `${userId} is not joined to ${req.roomId}`);
    }

    const room = liveKitRoomFor(req.roomId, req.slotId);
    const identity =
      req.memberId === undefined ? `${userId}:${req.deviceId}` : liveKitIdentityFor(userId, req.deviceId, req.memberId);
    await this.#o.rooms.ensureRoom(room).catch((err: unknown) => {
      log.error({ reason: (err as Error).message }, 'SFU room creation failed');
      throw new RtcError(502, 'M_UNKNOWN', 'the call server (SFU) could not open the room; try again');
    });
    const jwt = await mintLiveKitToken(this.#o.credentials, {
      identity,
      grant: joinGrant(room),
      ttlSeconds: this.#o.tokenTtlSeconds,
    });
    log.info({ userId, deviceId: req.deviceId, roomId: req.roomId, slotId: req.slotId }, 'call token issued');
    return { url: this.#o.sfuUrl, jwt };
  }
}

/** `@alice:example.org` → `example.org` (the server part may hold a port, hence the first colon). */
export function serverOf(userId: string): string {
  const colon = userId.indexOf(':');
  return colon < 0 ? '' : userId.slice(colon + 1);
}
