import { createServer, type Server } from 'node:http';
import type { Logger } from '../observability/logger.ts';
import { json } from './control-server.ts';

/**
 * The one question the call authoriser may ask the recorder: "is this user joined to this room?". It has a listener of
 * its own so the NetworkPolicy can open it to the authoriser alone, and so the authoriser — the war room's only
 * internet-facing Node process besides Synapse — holds no Matrix credential at all: the recorder, joined to every room
 * the operator creates, asks the homeserver with its own token on loopback and answers yes or no. Nothing else is
 * served here (no status, no message, no member list).
 *
 *   GET /healthz                               process up
 *   GET /rooms/{roomId}/members/{userId}       200 {"joined": true|false}; 503 before the recorder has logged in
 */
export interface MembershipSource {
  /** Undefined while the recorder has not logged in yet (it cannot ask). */
  isJoined(roomId: string, userId: string): Promise<boolean> | undefined;
}

const ROUTE = /^\/rooms\/([^/]+)\/members\/([^/]+)$/;
// Matrix ids are at most 255 bytes (spec: "Identifier grammar"); the sigils tell a room from a user.
const ROOM_ID = /^![^\s/]{1,254}$/;
const USER_ID = /^@[^\s/:]+:[^\s/]{1,250}$/;

export function createMembershipServer(source: MembershipSource, log: Logger): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET') return json(res, 405, { error: 'method not allowed' });
    if (path === '/healthz') return json(res, 200, { ok: true });
    const match = ROUTE.exec(path);
    if (!match) return json(res, 404, { error: 'not found' });
    let roomId: string;
    let userId: string;
    try {
      roomId = decodeURIComponent(match[1] ?? '');
      userId = decodeURIComponent(match[2] ?? '');
    } catch {
      return json(res, 400, { error: 'the room and user ids must be URL-encoded' });
    }
    if (!ROOM_ID.test(roomId)) return json(res, 400, { error: 'not a room id (!opaque:server)' });
    if (!USER_ID.test(userId)) return json(res, 400, { error: 'not a user id (@localpart:server)' });
    const answer = source.isJoined(roomId, userId);
    if (answer === undefined) return json(res, 503, { error: 'the recorder has not logged in yet' });
    answer.then(
      (joined) => json(res, 200, { joined }),
      (err: unknown) => {
        log.warn({ roomId, reason: (err as Error).message }, 'membership check failed');
        json(res, 502, { error: 'the homeserver could not be asked' });
      },
    );
  });
}
