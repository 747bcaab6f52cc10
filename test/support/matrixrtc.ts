// What a MatrixRTC client (Element Call, Element X) sends, shared by the host call test, the real-node call test and
// the call bench: the call membership state event and the authoriser's /get_token body (MSC4195).

export const CALL_MEMBER = 'org.matrix.msc3401.call.member';

export interface CallParticipant {
  userId: string;
  deviceId: string;
}

/** A session membership of `who` in `roomId`'s room call, with the LiveKit focus through `authoriserUrl`. */
export function callMembership(
  who: CallParticipant,
  roomId: string,
  authoriserUrl: string,
): { stateKey: string; content: Record<string, unknown> } {
  return {
    stateKey: `_${who.userId}_${who.deviceId}_m.call`,
    content: {
      application: 'm.call',
      call_id: '',
      scope: 'm.room',
      device_id: who.deviceId,
      expires: 14_400_000,
      focus_active: { type: 'livekit', focus_selection: 'oldest_membership' },
      foci_preferred: [{ type: 'livekit', livekit_service_url: authoriserUrl, livekit_alias: roomId }],
    },
  };
}

/** The body of POST /get_token for `who`'s device in the room's call. */
export function tokenRequestBody(
  who: CallParticipant,
  roomId: string,
  openIdToken: unknown,
  memberId = `${who.deviceId}-m`,
): Record<string, unknown> {
  return {
    room_id: roomId,
    slot_id: 'm.call#ROOM',
    openid_token: openIdToken,
    member: { id: memberId, claimed_user_id: who.userId, claimed_device_id: who.deviceId },
  };
}

/** The rtc-authoriser entrypoint's environment on the host (loopback), as the war room's pod gets it from the operator. */
export function hostAuthoriserEnv(o: {
  serverName: string;
  port: number;
  livekit: { wsUrl: string; httpUrl: string };
  /** Synapse's openid-only listener (undefined when the peer was started without one: the entrypoint says so). */
  openIdUrl: string | undefined;
  membershipUrl: string;
  apiKeyFile: string;
  apiSecretFile: string;
}): NodeJS.ProcessEnv {
  return {
    WARROOM_SERVER_NAME: o.serverName,
    WARROOM_RTC_LISTEN_ADDRESS: '127.0.0.1',
    WARROOM_RTC_LISTEN_PORT: String(o.port),
    WARROOM_RTC_SFU_URL: o.livekit.wsUrl,
    WARROOM_RTC_SFU_API_URL: o.livekit.httpUrl,
    WARROOM_RTC_OPENID_URL: o.openIdUrl,
    WARROOM_RTC_MEMBERSHIP_URL: o.membershipUrl,
    WARROOM_LIVEKIT_API_KEY_FILE: o.apiKeyFile,
    WARROOM_LIVEKIT_API_SECRET_FILE: o.apiSecretFile,
    WARROOM_LOG_LEVEL: 'warn',
  };
}
