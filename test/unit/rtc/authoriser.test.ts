import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jwtVerify } from 'jose';
import { silentLogger } from '../../../src/observability/logger.ts';
import { Authoriser, RtcError, serverOf, type TokenRequest } from '../../../src/rtc/authoriser.ts';
import type { RoomCreator } from '../../../src/rtc/livekit-rooms.ts';
import { liveKitIdentityFor, liveKitRoomFor, mintLiveKitToken } from '../../../src/rtc/livekit-token.ts';
import type { MembershipCheck, OpenIdCheck } from '../../../src/rtc/matrix-checks.ts';

// The authoriser's decisions, with the homeserver and SFU answers given as data (the real peers are in
// test/e2e/matrixrtc-call.test.ts).
const credentials = { apiKey: 'APItest', apiSecret: 'a-secret-of-at-least-thirty-two-characters' };
const ROOM = '!ops-room';
const tokens: Record<string, string> = { 'tok-alice': '@alice:war.invalid', 'tok-foreign': '@mallory:evil.invalid' };
const joined = new Set([`${ROOM}|@alice:war.invalid`]);
const openId: OpenIdCheck = {
  openIdUser: async (token) => (token === 'tok-down' ? Promise.reject(new Error('refused')) : tokens[token]),
};
const membership: MembershipCheck = {
  isJoined: async (roomId, userId) =>
    roomId === '!recorder-down' ? Promise.reject(new Error('ECONNREFUSED')) : joined.has(`${roomId}|${userId}`),
};
const created: string[] = [];
const rooms: RoomCreator = {
  ensureRoom: async (name) => {
    created.push(name);
  },
};
const authoriser = new Authoriser({
  serverName: 'war.invalid',
  sfuUrl: 'wss://matrix.war.invalid/livekit/sfu',
  credentials,
  tokenTtlSeconds: 300,
  openId,
  membership,
  rooms,
  log: silentLogger(),
});
const request = (over: Partial<TokenRequest> = {}): TokenRequest => ({
  roomId: ROOM,
  slotId: 'm.call#ROOM',
  openIdToken: { access_token: 'tok-alice', matrix_server_name: 'war.invalid' },
  deviceId: 'DEV1',
  memberId: 'member-1',
  claimedUserId: '@alice:war.invalid',
  ...over,
});
const refusal = async (req: TokenRequest) => {
  try {
    await authoriser.issue(req);
  } catch (err) {
    if (err instanceof RtcError) return { status: err.status, errcode: err.errcode, message: err.message };
    throw err;
  }
  assert.fail('expected a refusal');
};

describe('the MatrixRTC authoriser', () => {
  test('a member gets the SFU URL and a short-lived join-only token for the hashed room, created on the SFU', async () => {
    const { url, jwt } = await authoriser.issue(request());
    assert.equal(url, 'wss://matrix.war.invalid/livekit/sfu');
    const { payload, protectedHeader } = await jwtVerify(jwt, new TextEncoder().encode(credentials.apiSecret), {
      issuer: 'APItest',
    });
    assert.equal(protectedHeader.alg, 'HS256');
    const room = liveKitRoomFor(ROOM, 'm.call#ROOM');
    assert.equal(payload.sub, liveKitIdentityFor('@alice:war.invalid', 'DEV1', 'member-1'));
    assert.deepEqual(payload.video, {
      room,
      roomJoin: true,
      roomCreate: false,
      canPublish: true,
      canSubscribe: true,
      canPublishData: true,
    });
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 300);
    assert.ok(created.includes(room));
    // No Matrix id reaches the SFU: room and identity are hashes.
    assert.doesNotMatch(`${room} ${payload.sub}`, /alice|ops-room/);
  });

  test('the older /sfu/get identity is <user>:<device>, as those clients map participants', async () => {
    const { jwt } = await authoriser.issue(request({ memberId: undefined, claimedUserId: undefined }));
    const { payload } = await jwtVerify(jwt, new TextEncoder().encode(credentials.apiSecret));
    assert.equal(payload.sub, '@alice:war.invalid:DEV1');
  });

  test('refusals say why', async () => {
    assert.deepEqual(
      await refusal(request({ openIdToken: { access_token: 'tok-foreign', matrix_server_name: 'evil.invalid' } })),
      {
        status: 403,
        errcode: 'M_FORBIDDEN',
        message: "only users of war.invalid may join this war room's calls (the token is from evil.invalid)",
      },
    );
    // A token that claims our server but belongs to another one's user.
    assert.equal(
      (await refusal(request({ openIdToken: { access_token: 'tok-foreign', matrix_server_name: 'war.invalid' } })))
        .status,
      403,
    );
    assert.deepEqual(
      await refusal(request({ openIdToken: { access_token: 'tok-expired', matrix_server_name: 'war.invalid' } })),
      { status: 401, errcode: 'M_UNAUTHORIZED', message: 'the OpenID token is unknown or expired: request a new one' },
    );
    assert.equal((await refusal(request({ claimedUserId: '@bob:war.invalid' }))).status, 401);
    assert.deepEqual(await refusal(request({ roomId: '!other' })), {
      status: 403,
      errcode: 'M_FORBIDDEN',
      message: '@alice:war.invalid is not joined to !other',
    });
    assert.equal(
      (await refusal(request({ openIdToken: { access_token: 'tok-down', matrix_server_name: 'war.invalid' } }))).status,
      502,
    );
    // The recorder cannot be asked: no token on a guess, a 502 that says to try again.
    assert.deepEqual(await refusal(request({ roomId: '!recorder-down' })), {
      status: 502,
      errcode: 'M_UNKNOWN',
      message: 'the war room could not be asked about room membership; try again',
    });
  });

  test('a war room that does not record has no membership source: every user of its server may join its calls', async () => {
    const unrecorded = new Authoriser({
      serverName: 'war.invalid',
      sfuUrl: 'wss://matrix.war.invalid/livekit/sfu',
      credentials,
      tokenTtlSeconds: 300,
      openId,
      membership: undefined,
      rooms,
      log: silentLogger(),
    });
    assert.ok((await unrecorded.issue(request({ roomId: '!other' }))).jwt);
    // The server check still holds.
    await assert.rejects(
      unrecorded.issue(request({ openIdToken: { access_token: 'tok-foreign', matrix_server_name: 'war.invalid' } })),
      (err: unknown) => err instanceof RtcError && err.status === 403,
    );
  });

  test('the SFU refusing to open the room is a 502, not a token for a room that does not exist', async () => {
    const failing = new Authoriser({
      serverName: 'war.invalid',
      sfuUrl: 'wss://x.invalid',
      credentials,
      tokenTtlSeconds: 300,
      openId,
      membership,
      rooms: { ensureRoom: async () => Promise.reject(new Error('HTTP 401')) },
      log: silentLogger(),
    });
    await assert.rejects(failing.issue(request()), (err: unknown) => err instanceof RtcError && err.status === 502);
  });

  test('helpers: server part of a user id; room names match the upstream derivation', async () => {
    assert.equal(serverOf('@a:b.example:8448'), 'b.example:8448');
    assert.equal(serverOf('nope'), '');
    // sha256 of ["!r","m.call#ROOM"] as JSON, unpadded base64 (43 characters).
    assert.match(liveKitRoomFor('!r', 'm.call#ROOM'), /^[A-Za-z0-9+/]{43}$/);
    const jwt = await mintLiveKitToken(credentials, { identity: 'x', grant: { roomCreate: true }, ttlSeconds: 60 });
    await assert.rejects(jwtVerify(jwt, new TextEncoder().encode('another-secret-of-thirty-two-chars!!')));
  });
});
