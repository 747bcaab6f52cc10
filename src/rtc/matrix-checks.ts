import { encodePathSegment, MatrixHttpError, matrixRequest } from '../matrix/matrix-http.ts';

/**
 * What the authoriser asks the war room's Synapse: whose OpenID token this is (on a listener that serves only the
 * `openid` resource), and whether that user is joined to the room (as a witness account joined to every room the
 * operator provisions). Neither error message ever carries a token: the OpenID token travels in a query string, so
 * the URL is never put in an error.
 */
export interface MatrixChecks {
  /** The user id the token belongs to, or undefined when Synapse does not know the token (unknown or expired). */
  openIdUser(accessToken: string): Promise<string | undefined>;
  isJoined(roomId: string, userId: string): Promise<boolean>;
}

export class SynapseChecks implements MatrixChecks {
  readonly #openIdUrl: string;
  readonly #clientUrl: string;
  readonly #witness: Witness;
  readonly #timeoutMs: number;

  constructor(opts: { openIdUrl: string; clientUrl: string; witness: Witness; timeoutMs?: number }) {
    this.#openIdUrl = opts.openIdUrl.replace(/\/+$/, '');
    this.#clientUrl = opts.clientUrl;
    this.#witness = opts.witness;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
  }

  async openIdUser(accessToken: string): Promise<string | undefined> {
    const url = `${this.#openIdUrl}/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(accessToken)}`;
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      throw new Error(`homeserver openid listener unreachable: ${(err as Error).name}`);
    }
    const text = await response.text();
    // Synapse answers 401 M_UNKNOWN_TOKEN for unknown and expired tokens alike.
    if (response.status === 401 || response.status === 403) return undefined;
    if (!response.ok) throw new Error(`homeserver openid userinfo failed: HTTP ${response.status}`);
    let sub: unknown;
    try {
      sub = (JSON.parse(text) as { sub?: unknown }).sub;
    } catch {
      throw new Error('homeserver openid userinfo answered something that is not JSON');
    }
    if (typeof sub !== 'string' || !sub.startsWith('@')) throw new Error('homeserver openid userinfo has no user id');
    return sub;
  }

  async isJoined(roomId: string, userId: string): Promise<boolean> {
    try {
      return await this.#joined(roomId, userId);
    } catch (err) {
      if (!(err instanceof MatrixHttpError && err.status === 401)) throw err;
      // The witness's token was revoked (a restarted homeserver, an admin logout): log in again, once.
      this.#witness.forget();
      return this.#joined(roomId, userId);
    }
  }

  async #joined(roomId: string, userId: string): Promise<boolean> {
    try {
      const members = await matrixRequest<{ joined?: Record<string, unknown> }>(
        this.#clientUrl,
        'GET',
        `/_matrix/client/v3/rooms/${encodePathSegment(roomId)}/joined_members`,
        { accessToken: await this.#witness.token(), timeoutMs: this.#timeoutMs },
      );
      return Object.hasOwn(members.joined ?? {}, userId);
    } catch (err) {
      // The witness is joined to every room of the war room: a room it cannot see is not one of ours.
      if (err instanceof MatrixHttpError && (err.status === 403 || err.status === 404)) return false;
      throw err;
    }
  }
}

export interface Witness {
  token(): Promise<string>;
  forget(): void;
}

/** Logs the witness account in once (password from a mounted Secret file), and again if its token is refused. */
export function passwordLogin(clientUrl: string, user: string, password: () => Promise<string>): Witness {
  let token: Promise<string> | undefined;
  const login = async () => {
    const res = await matrixRequest<{ access_token?: unknown }>(clientUrl, 'POST', '/_matrix/client/v3/login', {
      body: {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user },
        password: await password(),
        device_id: 'WARROOM_RTC_AUTHORISER',
        initial_device_display_name: 'warroom rtc authoriser',
      },
      timeoutMs: 10_000,
    });
    if (typeof res.access_token !== 'string') throw new Error('login answered without an access token');
    return res.access_token;
  };
  return {
    token(): Promise<string> {
      token ??= login().catch((err: unknown) => {
        token = undefined;
        throw err;
      });
      return token;
    },
    forget(): void {
      token = undefined;
    },
  };
}
