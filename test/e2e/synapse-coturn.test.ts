// Real peers, loopback only: Synapse 1.163.2 (pip venv) booted from our rendered homeserver.yaml, coturn (Debian)
// booted from our rendered turnserver.conf through our start command, the provisioner run against them, and a
// real matrix-js-sdk client with Rust crypto. Both servers share one TURN secret, so the credentials Synapse hands
// out are the ones coturn must accept.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { MatrixHttpError, matrixRequest } from '../../src/matrix/matrix-http.ts';
import {
  DEFAULT_ROOMS,
  type ProvisionLogger,
  type ProvisionParams,
  type ProvisionParticipant,
  type ProvisionSummary,
  provision,
} from '../../src/matrix/provisioner.ts';
import { loginWithPassword, logout } from '../../src/matrix/register.ts';
import { ROLE_POWER_LEVELS } from '../../src/matrix/room-power-levels.ts';
import { type CoturnPeer, runTool, startCoturn, turnRestCredentials, uclient } from '../support/coturn-peer.ts';
import { freePortRange } from '../support/matrix-ports.ts';
import { startPeerProcess } from '../support/matrix-process.ts';
import { type SdkUser, startSdkUser } from '../support/matrix-sdk-client.ts';
import { type SynapsePeer, startSynapse } from '../support/synapse-peer.ts';

const SERVER_NAME = 'inc-e2e.invalid';
const password = () => `pw-${randomBytes(18).toString('base64url')}`;
const ADMIN = { handle: 'warroom-admin', password: password() };
const RECORDER = { handle: 'recorder', password: password() };
const PARTICIPANTS: ProvisionParticipant[] = [
  { handle: 'alice', role: 'lead', password: password() },
  { handle: 'carol', role: 'comms', password: password() },
  { handle: 'dave', role: 'scribe', password: password() },
  { handle: 'erin', role: 'responder', password: password() },
  { handle: 'frank', role: 'observer', password: password() },
];
const mxid = (handle: string) => `@${handle}:${SERVER_NAME}`;
const ALL_PASSWORDS = [ADMIN, RECORDER, ...PARTICIPANTS].map((a) => a.password);

interface StateEvent {
  event_id: string;
  type: string;
  state_key: string;
  sender: string;
  content: Record<string, unknown>;
}

describe('Synapse and coturn from our rendered configs (real peers)', () => {
  const turnSecret = randomBytes(32).toString('base64url');
  let coturn: CoturnPeer;
  let synapse: SynapsePeer;
  const sdkUsers: SdkUser[] = [];
  const logLines: string[] = [];
  const logger: ProvisionLogger = {
    info: (fields, message) => logLines.push(`info ${message} ${JSON.stringify(fields)}`),
    warn: (fields, message) => logLines.push(`warn ${message} ${JSON.stringify(fields)}`),
  };
  let adminToken = '';
  let first: ProvisionSummary;

  const params = (participants: ProvisionParticipant[]): ProvisionParams => ({
    baseUrl: synapse.baseUrl,
    serverName: SERVER_NAME,
    registrationSharedSecret: synapse.secrets.registrationSharedSecret,
    adminBot: ADMIN,
    recorder: RECORDER,
    participants,
    logger,
  });
  const admin = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) =>
    matrixRequest<T>(synapse.baseUrl, method, path, { accessToken: adminToken, body });
  const roomState = async (roomId: string) =>
    (await admin<{ state: StateEvent[] }>('GET', `/_synapse/admin/v1/rooms/${encodeURIComponent(roomId)}/state`)).state;
  const membership = (state: StateEvent[], userId: string) =>
    state.find((e) => e.type === 'm.room.member' && e.state_key === userId)?.content.membership;
  const roomIdOf = (alias: string) => {
    const room = first.rooms.find((r) => r.alias === `#${alias}:${SERVER_NAME}`);
    assert.ok(room, `room ${alias} in summary`);
    return room.roomId;
  };

  before(async () => {
    coturn = await startCoturn({ realm: SERVER_NAME, secret: turnSecret });
    synapse = await startSynapse({
      serverName: SERVER_NAME,
      aliasCreators: [mxid(ADMIN.handle)],
      turnUris: [`turn:127.0.0.1:${coturn.port}?transport=udp`],
      turnSharedSecret: turnSecret,
    });
  });

  after(async () => {
    for (const user of sdkUsers) await user.stop().catch(() => {});
    await synapse?.stop();
    await coturn?.stop();
  });

  test('boots from a rendered config that holds no secret', (t) => {
    t.diagnostic(`synapse boot ${synapse.bootMs} ms, coturn boot ${coturn.bootMs} ms`);
    for (const value of Object.values(synapse.secrets)) {
      assert.ok(
        !synapse.homeserverYaml.includes(value.split(' ').at(-1) ?? value),
        'a secret leaked into homeserver.yaml',
      );
    }
    assert.ok(!coturn.conf.includes(turnSecret), 'the TURN secret leaked into turnserver.conf');
  });

  test('federation and key endpoints do not exist; open registration is refused', async () => {
    for (const path of ['/_matrix/federation/v1/version', '/_matrix/key/v2/server', '/.well-known/matrix/server']) {
      const response = await fetch(`${synapse.baseUrl}${path}`);
      assert.equal(response.status, 404, path);
    }
    const response = await fetch(`${synapse.baseUrl}/_matrix/client/v3/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'intruder', password: password(), auth: { type: 'm.login.dummy' } }),
    });
    assert.equal(response.status, 403);
    assert.equal(((await response.json()) as { errcode: string }).errcode, 'M_FORBIDDEN');
  });

  test('the metrics listener serves Prometheus text', async () => {
    const response = await fetch(synapse.metricsUrl);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^synapse_/m);
  });

  test('the provisioner creates accounts and encrypted, non-federating rooms, recorder first', async (t) => {
    const started = performance.now();
    first = await provision(params(PARTICIPANTS));
    const elapsed = Math.round(performance.now() - started);

    assert.equal(first.adminUserId, mxid(ADMIN.handle));
    assert.equal(first.recorderUserId, mxid(RECORDER.handle));
    assert.deepEqual(
      first.participants.map((p) => [p.userId, p.role, p.account]),
      PARTICIPANTS.map((p) => [mxid(p.handle), p.role, 'created']),
    );
    assert.deepEqual(first.deactivated, []);
    assert.deepEqual(
      first.rooms.map((r) => [r.alias, r.created, r.roomVersion]),
      [
        [`#control:${SERVER_NAME}`, true, '12'],
        [`#ops:${SERVER_NAME}`, true, '12'],
      ],
    );
    const summaryText = JSON.stringify(first);
    const logText = logLines.join('\n');
    for (const secret of [...ALL_PASSWORDS, synapse.secrets.registrationSharedSecret]) {
      assert.ok(!summaryText.includes(secret), 'a password is in the summary');
      assert.ok(!logText.includes(secret), 'a password is in the provisioner log');
    }

    adminToken = (await loginWithPassword(synapse.baseUrl, ADMIN.handle, ADMIN.password)).accessToken;
    for (const room of first.rooms) {
      const details = await admin<Record<string, unknown>>('GET', `/_synapse/admin/v1/rooms/${room.roomId}`);
      assert.equal(details.encryption, 'm.megolm.v1.aes-sha2');
      assert.equal(details.federatable, false);
      assert.equal(details.public, false);
      assert.equal(details.join_rules, 'invite');
      assert.equal(details.guest_access, 'forbidden');
      assert.equal(details.canonical_alias, room.alias);

      const state = await roomState(room.roomId);
      const create = state.find((e) => e.type === 'm.room.create');
      assert.equal(create?.content['m.federate'], false);
      assert.equal(create?.sender, first.adminUserId);
      assert.equal(membership(state, first.recorderUserId), 'join');
      for (const p of first.participants) assert.equal(membership(state, p.userId), 'invite', p.userId);

      const powerLevels = state.find((e) => e.type === 'm.room.power_levels')?.content;
      assert.ok(powerLevels);
      const expectedUsers: Record<string, number> = { [first.recorderUserId]: 100 };
      for (const p of PARTICIPANTS) expectedUsers[mxid(p.handle)] = ROLE_POWER_LEVELS[p.role];
      // v12: the creator (the admin bot) has unlimited power and must not be listed.
      assert.deepEqual(powerLevels.users, expectedUsers);
      assert.equal(powerLevels.events_default, 0);
      assert.ok((expectedUsers[mxid('frank')] ?? 0) < (powerLevels.events_default as number));

      // The recorder's join precedes every participant invite in the room's history.
      const { chunk } = await admin<{ chunk: Array<StateEvent & { origin_server_ts: number }> }>(
        'GET',
        `/_synapse/admin/v1/rooms/${room.roomId}/messages?dir=f&limit=100`,
      );
      const recorderJoin = chunk.findIndex(
        (e) => e.type === 'm.room.member' && e.state_key === first.recorderUserId && e.content.membership === 'join',
      );
      const firstInvite = chunk.findIndex(
        (e) => e.type === 'm.room.member' && e.state_key !== first.recorderUserId && e.content.membership === 'invite',
      );
      assert.ok(
        recorderJoin >= 0 && firstInvite > recorderJoin,
        `recorder join ${recorderJoin}, invite ${firstInvite}`,
      );
    }
    // Registration and recorder-join sessions were logged out: no participant has a device yet.
    const { devices } = await admin<{ devices: unknown[] }>('GET', `/_synapse/admin/v2/users/${mxid('alice')}/devices`);
    assert.equal(devices.length, 0);
    t.diagnostic(`first provisioning run ${elapsed} ms`);
  });

  test('a re-run changes nothing', async () => {
    // Event ids, not whole events: `age` moves on by itself.
    const stateIds = async (roomId: string) => (await roomState(roomId)).map((e) => e.event_id).sort();
    const stateBefore = await Promise.all(first.rooms.map((r) => stateIds(r.roomId)));
    const again = await provision(params(PARTICIPANTS));
    assert.deepEqual(
      again.rooms.map((r) => [r.roomId, r.created]),
      first.rooms.map((r) => [r.roomId, false]),
    );
    assert.ok(again.participants.every((p) => p.account === 'existing'));
    assert.deepEqual(again.deactivated, []);
    const stateAfter = await Promise.all(first.rooms.map((r) => stateIds(r.roomId)));
    assert.deepEqual(stateAfter, stateBefore, 'room state changed on an idempotent re-run');
  });

  test('a removed participant is deactivated and erased; listing them again reactivates them', async () => {
    const withoutErin = PARTICIPANTS.filter((p) => p.handle !== 'erin');
    const removed = await provision(params(withoutErin));
    assert.deepEqual(removed.deactivated, [mxid('erin')]);
    const erin = await admin<{ deactivated: boolean; erased?: boolean }>(
      'GET',
      `/_synapse/admin/v2/users/${mxid('erin')}`,
    );
    assert.equal(erin.deactivated, true);
    await assert.rejects(loginWithPassword(synapse.baseUrl, 'erin', PARTICIPANTS[3]!.password), MatrixHttpError);
    for (const room of removed.rooms) {
      const state = await roomState(room.roomId);
      assert.equal(membership(state, mxid('erin')), 'leave');
      const users = state.find((e) => e.type === 'm.room.power_levels')?.content.users as Record<string, number>;
      assert.ok(!(mxid('erin') in users), 'a removed participant keeps a power level');
    }

    const back = await provision(params(PARTICIPANTS));
    assert.equal(back.participants.find((p) => p.handle === 'erin')?.account, 'reactivated');
    const session = await loginWithPassword(synapse.baseUrl, 'erin', PARTICIPANTS[3]!.password);
    await logout(synapse.baseUrl, session);
    for (const room of back.rooms) assert.equal(membership(await roomState(room.roomId), mxid('erin')), 'invite');
  });

  test('a real matrix-js-sdk client with Rust crypto sends into the encrypted room and the recorder decrypts', async () => {
    const controlRoom = roomIdOf('control');
    // The recorder's device exists before anyone speaks, as in production.
    const recorder = await startSdkUser(synapse.baseUrl, RECORDER.handle, RECORDER.password);
    sdkUsers.push(recorder);
    const alice = await startSdkUser(synapse.baseUrl, 'alice', PARTICIPANTS[0]!.password);
    sdkUsers.push(alice);

    await alice.waitForMembership(controlRoom, 'invite');
    await alice.joinRoom(controlRoom);
    await alice.waitForMembership(controlRoom, 'join');
    assert.equal(await alice.isEncryptionEnabled(controlRoom), true);

    const body = `first contact ${randomBytes(4).toString('hex')}`;
    const eventId = await alice.sendText(controlRoom, body);
    const decrypted = await recorder.waitForDecryptedMessage(controlRoom, body);
    assert.equal(decrypted.sender, alice.userId);
    assert.equal(decrypted.eventId, eventId);
    assert.equal(decrypted.wireType, 'm.room.encrypted');

    // The server only ever saw ciphertext.
    const { chunk } = await admin<{ chunk: Array<{ type: string; sender: string; content: unknown }> }>(
      'GET',
      `/_synapse/admin/v1/rooms/${controlRoom}/messages?dir=b&limit=20`,
    );
    const onWire = chunk.find((e) => e.sender === alice.userId && e.type === 'm.room.encrypted');
    assert.ok(onWire, 'alice message stored as m.room.encrypted');
    assert.ok(!JSON.stringify(chunk).includes(body), 'plaintext reached the server');
  });

  test('power levels hold: observers are muted, leads cannot remove the recorder, nobody but admins invites', async () => {
    const controlRoom = encodeURIComponent(roomIdOf('control'));
    const send = async (handle: string, accessToken: string) =>
      matrixRequest(synapse.baseUrl, 'PUT', `/_matrix/client/v3/rooms/${controlRoom}/send/m.room.message/${handle}-1`, {
        accessToken,
        body: { msgtype: 'm.text', body: 'test' },
      });
    const sessions = new Map<string, string>();
    for (const handle of ['frank', 'erin']) {
      const p = PARTICIPANTS.find((x) => x.handle === handle)!;
      const session = await loginWithPassword(synapse.baseUrl, handle, p.password);
      sessions.set(handle, session.accessToken);
      await matrixRequest(synapse.baseUrl, 'POST', `/_matrix/client/v3/rooms/${controlRoom}/join`, {
        accessToken: session.accessToken,
        body: {},
      });
    }
    await assert.rejects(
      send('frank', sessions.get('frank')!),
      (e: unknown) => e instanceof MatrixHttpError && e.status === 403,
    );
    await send('erin', sessions.get('erin')!);

    const aliceToken = sdkUsers.find((u) => u.userId === mxid('alice'))!.accessToken;
    await assert.rejects(
      matrixRequest(synapse.baseUrl, 'POST', `/_matrix/client/v3/rooms/${controlRoom}/kick`, {
        accessToken: aliceToken,
        body: { user_id: mxid(RECORDER.handle) },
      }),
      (e: unknown) => e instanceof MatrixHttpError && e.status === 403,
    );
    await assert.rejects(
      matrixRequest(synapse.baseUrl, 'POST', `/_matrix/client/v3/rooms/${controlRoom}/invite`, {
        accessToken: aliceToken,
        body: { user_id: mxid('dave') },
      }),
      (e: unknown) => e instanceof MatrixHttpError && e.status === 403,
    );
    for (const [handle, token] of sessions) {
      await logout(synapse.baseUrl, { userId: mxid(handle), accessToken: token, deviceId: '', created: false });
    }
  });

  test('Synapse-issued TURN credentials allocate on real coturn; a wrong secret does not; loopback peers are denied', async () => {
    const alice = sdkUsers.find((u) => u.userId === mxid('alice'));
    assert.ok(alice);
    const turn = await matrixRequest<{ username: string; password: string; uris: string[]; ttl: number }>(
      synapse.baseUrl,
      'GET',
      '/_matrix/client/v3/voip/turnServer',
      { accessToken: alice.accessToken },
    );
    assert.deepEqual(turn.uris, [`turn:127.0.0.1:${coturn.port}?transport=udp`]);
    assert.equal(turn.ttl, 3600);
    assert.match(turn.username, new RegExp(`^\\d+:@alice:${SERVER_NAME.replaceAll('.', '\\.')}$`));
    assert.equal(turn.password, createHmac('sha1', turnSecret).update(turn.username).digest('base64'));

    const ok = await uclient(coturn.port, turn, 9);
    assert.match(ok.output, /Received relay addr: 127\.0\.0\.1:\d+/, ok.output);
    const relayPorts = [...ok.output.matchAll(/Received relay addr: 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(
      relayPorts.every((p) => p >= coturn.minPort && p <= coturn.maxPort),
      `relay ports ${relayPorts}`,
    );
    // Our denied-peer-ip list (and coturn's own default) refuses a loopback peer even with valid credentials.
    assert.match(ok.output, /channel bind: error 403 \(Forbidden IP\)/);

    const expiry = Number(turn.username.split(':')[0]);
    const forged = turnRestCredentials(randomBytes(32).toString('base64url'), mxid('alice'), expiry);
    const refused = await uclient(coturn.port, forged, 9);
    assert.doesNotMatch(refused.output, /Received relay addr/);
    assert.notEqual(refused.code, 0);

    const expired = turnRestCredentials(turnSecret, mxid('alice'), Math.floor(Date.now() / 1000) - 60);
    const stale = await uclient(coturn.port, expired, 9);
    assert.doesNotMatch(stale.output, /Received relay addr/);
  });

  test('with a loopback peer allow-listed (test-only lines), media really relays through coturn', async () => {
    // Production never allows loopback; this second instance adds two lines to prove the relay path end to end.
    const relaying = await startCoturn({
      realm: SERVER_NAME,
      secret: turnSecret,
      extraConf: 'allow-loopback-peers\nallowed-peer-ip=127.0.0.1\n',
    });
    const peerPort = await freePortRange(1);
    const echoPeer = startPeerProcess('turnutils_peer', ['-p', String(peerPort), '-L', '127.0.0.1']);
    try {
      const credentials = turnRestCredentials(turnSecret, mxid('alice'), Math.floor(Date.now() / 1000) + 600);
      const run = await uclient(relaying.port, credentials, peerPort, 5);
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /tot_send_msgs=5, tot_recv_msgs=5/, run.output);
      assert.match(run.output, /Total lost packets 0 /);
    } finally {
      await echoPeer.stop();
      await relaying.stop();
    }
  });

  test('with an injected recorder join, the provisioner waits for it before inviting anyone', async () => {
    const joinedBy: string[] = [];
    const summary = await provision({
      ...params(PARTICIPANTS),
      rooms: [...DEFAULT_ROOMS, { alias: 'aside', name: 'aside' }],
      // Stands in for the recorder process, which joins by itself when invited.
      waitForRecorderJoin: async (roomId, recorderUserId) => {
        assert.equal(recorderUserId, mxid(RECORDER.handle));
        const state = await roomState(roomId);
        assert.equal(membership(state, recorderUserId), 'invite');
        assert.ok(
          first.participants.every((p) => membership(state, p.userId) === undefined),
          'participants invited before the recorder joined',
        );
        const recorder = await loginWithPassword(synapse.baseUrl, RECORDER.handle, RECORDER.password);
        await matrixRequest(synapse.baseUrl, 'POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/join`, {
          accessToken: recorder.accessToken,
          body: {},
        });
        await logout(synapse.baseUrl, recorder);
        joinedBy.push(roomId);
      },
    });
    const aside = summary.rooms.find((r) => r.alias === `#aside:${SERVER_NAME}`);
    assert.ok(aside?.created);
    // Only the new room needed the recorder to join; the existing ones already had it.
    assert.deepEqual(joinedBy, [aside.roomId]);
    const state = await roomState(aside.roomId);
    for (const p of first.participants) assert.equal(membership(state, p.userId), 'invite');

    await assert.rejects(
      provision({
        ...params(PARTICIPANTS),
        rooms: [{ alias: 'stalled', name: 'stalled' }],
        waitForRecorderJoin: () => new Promise(() => {}),
        recorderJoinTimeoutMs: 500,
      }),
      /recorder did not join #stalled/,
    );
    const stalled = await admin<{ room_id: string }>(
      'GET',
      `/_matrix/client/v3/directory/room/${encodeURIComponent(`#stalled:${SERVER_NAME}`)}`,
    );
    for (const p of first.participants) assert.equal(membership(await roomState(stalled.room_id), p.userId), undefined);
  });

  test('no secret or password reached a server log', async (t) => {
    const logs = synapse.process.output() + coturn.process.output();
    for (const secret of [...ALL_PASSWORDS, turnSecret, ...Object.values(synapse.secrets)]) {
      assert.ok(!logs.includes(secret.split(' ').at(-1) ?? secret), 'a secret is in a server log');
    }
    assert.doesNotMatch(synapse.process.output(), /Processed request/, 'access log lines are emitted');
    const version = await runTool('turnserver', ['--version']);
    t.diagnostic(`coturn ${version.output.trim()}`);
  });
});
