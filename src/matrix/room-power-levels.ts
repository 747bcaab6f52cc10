/**
 * m.room.power_levels for an incident room, derived from participant roles. Pure.
 *
 * Observers sit one below events_default: they read but cannot send messages, reactions or calls (the level
 * Element itself uses to "mute" someone). The recorder sits at 100 so no lead (also 100) can kick, ban or
 * demote it: the transcript must stay complete. Structural changes (encryption, join rules, history
 * visibility, power levels) need 100; upgrading the room (a tombstone would move everyone to a room the
 * recorder is not in) needs more than anyone but the creator has.
 */

export const PARTICIPANT_ROLES = ['lead', 'comms', 'scribe', 'responder', 'observer'] as const;
export type ParticipantRole = (typeof PARTICIPANT_ROLES)[number];

export const EVENTS_DEFAULT = 0;

export const ROLE_POWER_LEVELS: Readonly<Record<ParticipantRole, number>> = {
  lead: 100,
  comms: 50,
  scribe: 50,
  responder: 0,
  observer: EVENTS_DEFAULT - 1,
};

export const RECORDER_POWER_LEVEL = 100;
export const ADMIN_POWER_LEVEL = 100;
/** Above every listed user: with room version 12 only the creator (infinite power) can send it. */
const UNREACHABLE_POWER_LEVEL = 150;

export interface PowerLevelsInput {
  adminUserId: string;
  recorderUserId: string;
  participants: ReadonlyArray<{ userId: string; role: ParticipantRole }>;
  /**
   * Room versions 12+ give creators unlimited power and forbid listing them in `users`; older versions need
   * the admin listed at 100.
   */
  creatorHasInfinitePower: boolean;
}

export interface PowerLevelsContent {
  users: Record<string, number>;
  users_default: number;
  events_default: number;
  state_default: number;
  ban: number;
  kick: number;
  redact: number;
  invite: number;
  events: Record<string, number>;
  notifications: { room: number };
}

export function desiredPowerLevels(input: PowerLevelsInput): PowerLevelsContent {
  const users: Record<string, number> = {};
  for (const participant of input.participants) users[participant.userId] = ROLE_POWER_LEVELS[participant.role];
  users[input.recorderUserId] = RECORDER_POWER_LEVEL;
  if (input.creatorHasInfinitePower) delete users[input.adminUserId];
  else users[input.adminUserId] = ADMIN_POWER_LEVEL;

  return {
    users,
    users_default: 0,
    events_default: EVENTS_DEFAULT,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    // block_non_admin_invites already stops everyone but server admins; this keeps clients from offering it.
    invite: 100,
    events: {
      'm.room.name': 50,
      'm.room.topic': 50,
      'm.room.avatar': 50,
      'm.room.pinned_events': 50,
      'm.room.power_levels': 100,
      'm.room.history_visibility': 100,
      'm.room.canonical_alias': 100,
      'm.room.encryption': 100,
      'm.room.join_rules': 100,
      'm.room.guest_access': 100,
      'm.room.server_acl': 100,
      'im.vector.modular.widgets': 100,
      // MatrixRTC (Element Call): joining a call is a state event of one's own; whoever may talk may call.
      'org.matrix.msc3401.call.member': EVENTS_DEFAULT,
      'm.room.tombstone': UNREACHABLE_POWER_LEVEL,
    },
    notifications: { room: 50 },
  };
}

/** Room versions whose creators have unlimited power (MSC4289): "12" and later numeric versions. */
export function roomVersionHasInfiniteCreatorPower(roomVersion: string): boolean {
  if (roomVersion === 'org.matrix.hydra.11') return true;
  return /^\d+$/.test(roomVersion) && Number(roomVersion) >= 12;
}
