/**
 * What the authoriser asks about a caller: whose OpenID token this is (Synapse's listener that serves only the
 * `openid` resource), and whether that user is joined to the room (the recorder's membership listener: the recorder is
 * joined to every room the operator provisions and asks Synapse with its own token). The authoriser itself holds no
 * Matrix credential. No error message ever carries a token: the OpenID token travels in a query string, so the URL is
 * never put in an error.
 */
export interface OpenIdCheck {
  /** The user id the token belongs to, or undefined when Synapse does not know the token (unknown or expired). */
  openIdUser(accessToken: string): Promise<string | undefined>;
}

export interface MembershipCheck {
  isJoined(roomId: string, userId: string): Promise<boolean>;
}

export class SynapseOpenId implements OpenIdCheck {
  readonly #openIdUrl: string;
  readonly #timeoutMs: number;

  constructor(openIdUrl: string, timeoutMs = 5_000) {
    this.#openIdUrl = openIdUrl.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
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
}

export class RecorderMembership implements MembershipCheck {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, timeoutMs = 5_000) {
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
  }

  async isJoined(roomId: string, userId: string): Promise<boolean> {
    const url = `${this.#baseUrl}/rooms/${encodeURIComponent(roomId)}/members/${encodeURIComponent(userId)}`;
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      throw new Error(`the recorder's membership listener is unreachable: ${(err as Error).name}`);
    }
    const body = (await response.json().catch(() => ({}))) as { joined?: unknown; error?: unknown };
    if (!response.ok || typeof body.joined !== 'boolean') {
      throw new Error(`the recorder's membership listener answered HTTP ${response.status}: ${String(body.error)}`);
    }
    return body.joined;
  }
}
