// Real peers, loopback only: Synapse (pip venv) from our rendered homeserver.yaml with MatrixRTC on, coturn as the
// SFU's TURN, livekit-server built from its module, the recorder entrypoint as a child process (it answers the
// authoriser's membership questions and records the call's signalling), and our rtc-authoriser entrypoint, which
// holds no Matrix credential. Two war room members join a call in #ops: matrix-js-sdk for the OpenID tokens and the
// MatrixRTC membership state, @livekit/rtc-node for media. One publishes a generated tone, the other receives its
// frames; the transcript keeps who joined. Then what must be refused is refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dispose, Room } from '@livekit/rtc-node';
import { createClient, type MatrixClient } from 'matrix-js-sdk';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { parse } from 'yaml';
import type { TranscriptRecord } from '../../src/evidence/transcript.ts';
import { matrixRequest } from '../../src/matrix/matrix-http.ts';
import { type ProvisionSummary, provision } from '../../src/matrix/provisioner.ts';
import { loginWithPassword } from '../../src/matrix/register.ts';
import { runRtcAuthoriser } from '../../src/rtc/main.ts';
import { type CoturnPeer, startCoturn } from '../support/coturn-peer.ts';
import { heardFrames, publishTone } from '../support/livekit-audio.ts';
import { type LiveKitPeer, startLiveKit } from '../support/livekit-peer.ts';
import { freeTcpPort } from '../support/matrix-ports.ts';
import { CALL_MEMBER, callMembership, hostAuthoriserEnv, tokenRequestBody } from '../support/matrixrtc.ts';
import { type RecorderProcess, startRecorderProcess } from '../support/recorder-process.ts';
import { type SynapsePeer, startSynapse, synapseVenv } from '../support/synapse-peer.ts';

const SERVER_NAME = 'inc-rtc.invalid';
const password = () => `pw-${randomBytes(18).toString('base64url')}`;
const ADMIN = { handle: 'warroom-admin', password: password() };
const RECORDER = { handle: 'warroom-recorder', password: password() };
const ALICE = { handle: 'alice', role: 'lead' as const, password: password() };
const ERIN = { handle: 'erin', role: 'responder' as const, password: password() };

// The SDK's request tracing is noise here; its errors still show.
(sdkLogger as unknown as { setLevel(level: string): void }).setLevel('error');

interface Member {
  client: MatrixClient;
  userId: string;
  deviceId: string;
}

describe('MatrixRTC call through our authoriser and a real LiveKit SFU (real peers)', () => {
  const turnSecret = randomBytes(32).toString('base64url');
  const apiKey = `APIwr${randomBytes(6).toString('hex')}`;
  const apiSecret = randomBytes(32).toString('base64url');
  let coturn: CoturnPeer;
  let synapse: SynapsePeer;
  let livekit: LiveKitPeer;
  let authoriser: { close(): Promise<void>; url: string };
  let secretsDir: string;
  let recorder: RecorderProcess | undefined;
  let summary: ProvisionSummary;
  let alice: Member;
  let erin: Member;
  let opsRoomId: string;

  const member = async (handle: string, pw: string): Promise<Member> => {
    const session = await loginWithPassword(synapse.baseUrl, handle, pw);
    const client = createClient({
      logger: sdkLogger,
      baseUrl: synapse.baseUrl,
      accessToken: session.accessToken,
      userId: session.userId,
      deviceId: session.deviceId,
    });
    return { client, userId: session.userId, deviceId: session.deviceId };
  };

  const getToken = async (body: unknown) => {
    const response = await fetch(`${authoriser.url}/get_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  };
  const tokenRequest = async (who: Member, roomId: string, openid?: Record<string, unknown>) =>
    tokenRequestBody(who, roomId, openid ?? (await who.client.getOpenIdToken()));

  before(async () => {
    coturn = await startCoturn({ realm: SERVER_NAME, secret: turnSecret });
    const authoriserPort = await freeTcpPort();
    synapse = await startSynapse({
      serverName: SERVER_NAME,
      aliasCreators: [`@${ADMIN.handle}:${SERVER_NAME}`],
      turnUris: [`turn:127.0.0.1:${coturn.port}?transport=udp`],
      turnSharedSecret: turnSecret,
      rtcAuthoriserUrl: `http://127.0.0.1:${authoriserPort}`,
    });
    livekit = await startLiveKit({ apiKey, apiSecret, turn: { port: coturn.port, secret: turnSecret } });

    secretsDir = await mkdtemp(join(tmpdir(), 'warroom-rtc-secrets-'));
    const file = async (name: string, value: string) => {
      await writeFile(join(secretsDir, name), `${value}\n`, { mode: 0o600 });
      return join(secretsDir, name);
    };
    // The recorder sidecar as the image runs it, with the membership listener the authoriser asks.
    recorder = await startRecorderProcess({
      homeserverUrl: synapse.baseUrl,
      serverName: SERVER_NAME,
      account: RECORDER,
      dir: secretsDir,
    });
    summary = await provision({
      baseUrl: synapse.baseUrl,
      serverName: SERVER_NAME,
      registrationSharedSecret: synapse.secrets.registrationSharedSecret,
      adminBot: ADMIN,
      recorder: RECORDER,
      participants: [ALICE, ERIN],
      recorderJoinsItself: true,
      recorderJoinTimeoutMs: 60_000,
    });
    const ops = summary.rooms.find((r) => r.alias === `#ops:${SERVER_NAME}`);
    assert.ok(ops, '#ops provisioned');
    opsRoomId = ops.roomId;

    authoriser = await runRtcAuthoriser(
      hostAuthoriserEnv({
        serverName: SERVER_NAME,
        port: authoriserPort,
        livekit,
        openIdUrl: synapse.openIdUrl,
        membershipUrl: recorder.membershipUrl,
        apiKeyFile: await file('key', apiKey),
        apiSecretFile: await file('secret', apiSecret),
      }),
    );

    alice = await member(ALICE.handle, ALICE.password);
    erin = await member(ERIN.handle, ERIN.password);
    for (const who of [alice, erin]) await who.client.joinRoom(opsRoomId);
  });

  after(async () => {
    await authoriser?.close();
    await dispose();
    await livekit?.stop();
    await recorder?.stop();
    await synapse?.stop();
    await coturn?.stop();
    if (secretsDir) await rm(secretsDir, { recursive: true, force: true });
  });

  test('the homeserver announces the focus both ways and serves OpenID on its own listener only', async () => {
    const wellKnown = (await (await fetch(`${synapse.baseUrl}/.well-known/matrix/client`)).json()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(wellKnown['org.matrix.msc4143.rtc_foci'], [
      { type: 'livekit', livekit_service_url: authoriser.url.replace('127.0.0.1', '127.0.0.1') },
    ]);
    const transports = await matrixRequest<{ rtc_transports?: unknown[] }>(
      synapse.baseUrl,
      'GET',
      '/_matrix/client/unstable/org.matrix.msc4143/rtc/transports',
      { accessToken: alice.client.getAccessToken() ?? '' },
    );
    assert.equal(transports.rtc_transports?.length, 1);
    // The openid listener serves userinfo and nothing of the client or federation APIs.
    assert.equal((await fetch(`${synapse.openIdUrl}/_matrix/client/versions`)).status, 404);
    assert.equal((await fetch(`${synapse.openIdUrl}/_matrix/federation/v1/version`)).status, 404);
    // The SFU creates no room on its own.
    assert.match(livekit.config, /auto_create: false/);
  });

  test('two members join the call in #ops and one hears the other', async () => {
    const grants: Array<{ url: string; jwt: string }> = [];
    for (const who of [alice, erin]) {
      const { status, body } = await getToken(await tokenRequest(who, opsRoomId));
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.url, livekit.wsUrl);
      const claims = JSON.parse(Buffer.from(String(body.jwt).split('.')[1] ?? '', 'base64url').toString()) as {
        exp: number;
        iat: number;
        video: Record<string, unknown>;
      };
      assert.ok(claims.exp - claims.iat <= 300, 'short-lived token');
      assert.equal(claims.video.roomCreate, false);
      grants.push({ url: String(body.url), jwt: String(body.jwt) });
      // The MatrixRTC membership, as Element Call sends it (session membership, LiveKit focus through our authoriser).
      const { stateKey, content } = callMembership(who, opsRoomId, authoriser.url);
      await who.client.sendStateEvent(opsRoomId, CALL_MEMBER as never, content as never, stateKey);
    }
    const state = await matrixRequest<Array<{ type: string; state_key: string; sender: string }>>(
      synapse.baseUrl,
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(opsRoomId)}/state`,
      { accessToken: alice.client.getAccessToken() ?? '' },
    );
    assert.deepEqual(
      state
        .filter((e) => e.type === CALL_MEMBER)
        .map((e) => e.sender)
        .sort(),
      [alice.userId, erin.userId].sort(),
    );

    const speaker = new Room();
    const listener = new Room();
    try {
      const heard = heardFrames(listener, 20);
      await listener.connect(grants[1]?.url ?? '', grants[1]?.jwt ?? '', { autoSubscribe: true, dynacast: false });
      await speaker.connect(grants[0]?.url ?? '', grants[0]?.jwt ?? '', { autoSubscribe: false, dynacast: false });
      const tone = await publishTone(speaker);
      const { count } = await heard.finally(() => tone.stop());
      assert.ok(count >= 20);
    } finally {
      await speaker.disconnect();
      await listener.disconnect();
    }

    // The transcript keeps who joined the call and from which device (signalling only: the media is end-to-end
    // encrypted between the clients and never recorded).
    const deadline = Date.now() + 45_000;
    let joins: TranscriptRecord[] = [];
    while (Date.now() < deadline) {
      joins = ((await recorder?.transcript()) ?? []).filter((r) => r.type === CALL_MEMBER && r.roomId === opsRoomId);
      if (joins.length >= 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(joins.map((r) => r.sender).sort(), [alice.userId, erin.userId].sort());
    for (const r of joins)
      assert.equal(
        (r.content as { device_id?: string }).device_id,
        r.sender === alice.userId ? alice.deviceId : erin.deviceId,
      );
  });

  test('refused: another homeserver, an expired OpenID token, a room the user is not in, a wrong claimed user', async () => {
    const foreign = await getToken(
      await tokenRequest(alice, opsRoomId, {
        ...(await alice.client.getOpenIdToken()),
        matrix_server_name: 'evil.invalid',
      }),
    );
    assert.equal(foreign.status, 403);
    assert.equal(foreign.body.errcode, 'M_FORBIDDEN');
    assert.match(foreign.body.error ?? '', /only users of inc-rtc\.invalid/);

    // Expired in Synapse's own table, as an hour-old token would be.
    const openid = await erin.client.getOpenIdToken();
    const db = (parse(synapse.homeserverYaml) as { database: { args: { database: string } } }).database.args.database;
    const expire = spawnSync(
      join(synapseVenv(), 'bin', 'python'),
      [
        '-c',
        'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); n=c.execute("UPDATE open_id_tokens SET ts_valid_until_ms=1 WHERE token=?", (sys.argv[2],)).rowcount; c.commit(); print(n)',
        db,
        openid.access_token,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(expire.stdout.trim(), '1', expire.stderr);
    const expired = await getToken(await tokenRequest(erin, opsRoomId, openid as never));
    assert.equal(expired.status, 401);
    assert.equal(expired.body.errcode, 'M_UNAUTHORIZED');
    assert.match(expired.body.error ?? '', /unknown or expired/);

    // A room alice created; erin was never in it.
    const { room_id: privateRoom } = await alice.client.createRoom({ name: 'alice only' });
    const notJoined = await getToken(await tokenRequest(erin, privateRoom));
    assert.equal(notJoined.status, 403);
    assert.match(notJoined.body.error ?? '', /is not joined to/);

    const impostor = await getToken({
      ...(await tokenRequest(erin, opsRoomId)),
      member: { id: 'x', claimed_user_id: alice.userId, claimed_device_id: 'X' },
    });
    assert.equal(impostor.status, 401);

    const malformed = await getToken({ room_id: 'ops', slot_id: 'm.call#ROOM' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.errcode, 'M_BAD_JSON');

    // Membership is asked live: a member who leaves a room is refused at once, not after a cache expires.
    // (Participants cannot create rooms with invites here: the war room disables invites for them.)
    const control = summary.rooms.find((r) => r.alias === `#control:${SERVER_NAME}`)?.roomId ?? '';
    await erin.client.joinRoom(control);
    assert.equal((await getToken(await tokenRequest(erin, control))).status, 200);
    await erin.client.leave(control);
    const left = await getToken(await tokenRequest(erin, control));
    assert.equal(left.status, 403);
    assert.match(left.body.error ?? '', /is not joined to/);

    // The older endpoint (Element Call before MSC4195) is served too.
    const legacy = await fetch(`${authoriser.url}/sfu/get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        room: opsRoomId,
        openid_token: await erin.client.getOpenIdToken(),
        device_id: erin.deviceId,
      }),
    });
    assert.equal(legacy.status, 200);
    assert.equal((await fetch(`${authoriser.url}/healthz`)).status, 200);
  });
});
