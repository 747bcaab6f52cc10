import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';

/**
 * LiveKit access tokens: HS256 JWTs signed with the SFU's API secret, `iss` = API key, `sub` = participant identity,
 * the permissions in the `video` grant (LiveKit's claim names). Short-lived: a token only has to last until the
 * client has connected; LiveKit refreshes a connected participant's token itself.
 */
export interface LiveKitCredentials {
  apiKey: string;
  apiSecret: string;
}

export interface VideoGrant {
  room?: string;
  roomJoin?: boolean;
  roomCreate?: boolean;
  roomAdmin?: boolean;
  canPublish?: boolean;
  canSubscribe?: boolean;
  canPublishData?: boolean;
}

export async function mintLiveKitToken(
  credentials: LiveKitCredentials,
  claims: { identity: string; grant: VideoGrant; ttlSeconds: number; name?: string },
  now: Date = new Date(),
): Promise<string> {
  const issuedAt = Math.floor(now.getTime() / 1000);
  const jwt = new SignJWT({ video: claims.grant, ...(claims.name ? { name: claims.name } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(credentials.apiKey)
    .setSubject(claims.identity)
    .setIssuedAt(issuedAt)
    .setNotBefore(issuedAt)
    .setExpirationTime(issuedAt + claims.ttlSeconds);
  return jwt.sign(new TextEncoder().encode(credentials.apiSecret));
}

/** A join-only grant for one room: publish and subscribe media and data, never create or administer rooms. */
export function joinGrant(room: string): VideoGrant {
  return { room, roomJoin: true, roomCreate: false, canPublish: true, canSubscribe: true, canPublishData: true };
}

const unpaddedBase64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

/**
 * The LiveKit room of one MatrixRTC slot in one Matrix room, derived as the upstream authoriser derives it (sha256 of
 * the JSON array [room, slot], unpadded base64), so a client sees the same room name whichever implementation served
 * it and no Matrix room id reaches the SFU.
 */
export function liveKitRoomFor(matrixRoomId: string, slotId: string): string {
  return unpaddedBase64(
    createHash('sha256')
      .update(JSON.stringify([matrixRoomId, slotId]))
      .digest(),
  );
}

/** The participant identity of one MatrixRTC member (user, device, membership id), derived like the room. */
export function liveKitIdentityFor(userId: string, deviceId: string, memberId: string): string {
  return unpaddedBase64(
    createHash('sha256')
      .update(JSON.stringify([userId, deviceId, memberId]))
      .digest(),
  );
}
