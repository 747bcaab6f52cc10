import { type LiveKitCredentials, mintLiveKitToken } from './livekit-token.ts';

/**
 * Creates a LiveKit room through the SFU's RoomService (Twirp over HTTP, JSON). The SFU runs with
 * `room.auto_create: false`, so a call's room exists only once the authoriser has let a member of the war room in.
 * CreateRoom is idempotent: an existing room is returned unchanged.
 */
export interface RoomCreator {
  ensureRoom(name: string): Promise<void>;
}

/** Keep an unjoined room 5 min (the first member is still connecting), drop it 20 s after the last one leaves. */
const EMPTY_TIMEOUT_SECONDS = 5 * 60;
const DEPARTURE_TIMEOUT_SECONDS = 20;
const ADMIN_TOKEN_TTL_SECONDS = 60;

export class LiveKitRoomService implements RoomCreator {
  readonly #apiUrl: string;
  readonly #credentials: LiveKitCredentials;
  readonly #timeoutMs: number;

  constructor(apiUrl: string, credentials: LiveKitCredentials, timeoutMs = 5_000) {
    this.#apiUrl = apiUrl.replace(/\/+$/, '');
    this.#credentials = credentials;
    this.#timeoutMs = timeoutMs;
  }

  async ensureRoom(name: string): Promise<void> {
    const token = await mintLiveKitToken(this.#credentials, {
      identity: 'warroom-rtc-authoriser',
      grant: { roomCreate: true },
      ttlSeconds: ADMIN_TOKEN_TTL_SECONDS,
    });
    const response = await fetch(`${this.#apiUrl}/twirp/livekit.RoomService/CreateRoom`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name,
        empty_timeout: EMPTY_TIMEOUT_SECONDS,
        departure_timeout: DEPARTURE_TIMEOUT_SECONDS,
      }),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const body = await response.text();
    if (!response.ok) {
      const code = /"code"\s*:\s*"([a-z_]+)"/.exec(body)?.[1];
      throw new Error(`SFU CreateRoom failed: HTTP ${response.status}${code ? ` ${code}` : ''}`);
    }
  }
}
