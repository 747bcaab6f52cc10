// The recorder as the image runs it (`node src/main.ts recorder`, a real child process configured by env only),
// against a real Synapse 1.163.2 provisioned by the real provisioner, with participants as real matrix-js-sdk
// clients (Rust crypto) in worker threads. Proves: joined before anyone is invited, a cross-signed device, a
// conversation (messages, edit, redaction, reaction, call signalling, an encrypted file) recorded decrypted, in
// order, chain valid; SIGKILL mid-conversation and restart: no gap, no duplicate, all decrypted; a new-device
// login announced in #control; the seal and the export.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { readTar } from '../../src/evidence/tar.ts';
import { type TranscriptRecord, verifyChain } from '../../src/evidence/transcript.ts';
import { verifyArchive } from '../../src/evidence/verify.ts';
import { matrixRequest } from '../../src/matrix/matrix-http.ts';
import { type ProvisionSummary, provision } from '../../src/matrix/provisioner.ts';
import { RECORDER_ENV } from '../../src/recorder/config.ts';
import type { RecorderStatus } from '../../src/recorder/recorder.ts';
import { freeTcpPort } from '../support/matrix-ports.ts';
import { type PeerProcess, startPeerProcess, waitUntil } from '../support/matrix-process.ts';
import { type SdkUser, startSdkUser } from '../support/matrix-sdk-client.ts';
import { type SynapsePeer, startSynapse } from '../support/synapse-peer.ts';
import { MAIN, NODE, warRoomAccounts } from '../support/war-room-accounts.ts';

const SERVER = 'inc-rec.invalid';
const {
  admin: ADMIN,
  recorder: RECORDER,
  participants: PARTICIPANTS,
} = warRoomAccounts([
  { handle: 'alice', role: 'lead' },
  { handle: 'bob', role: 'responder' },
  { handle: 'carol', role: 'scribe' },
]);
const mxid = (handle: string) => `@${handle}:${SERVER}`;
const SECRETS = [ADMIN, RECORDER, ...PARTICIPANTS].map((a) => a.password);

describe('recorder sidecar (real Synapse, real provisioner, recorder child process, matrix-js-sdk clients)', () => {
  let synapse: SynapsePeer;
  let dir: string;
  let dataDir: string;
  let recorder: PeerProcess | undefined;
  const outputs: string[] = [];
  let api = '';
  let env: NodeJS.ProcessEnv;
  let summary: ProvisionSummary;
  const users: Record<string, SdkUser> = {};
  const extraUsers: SdkUser[] = [];
  let ops = '';
  let control = '';
  /** Event ids we sent, in send order, per room. */
  const sent: string[] = [];

  const startRecorder = async () => {
    recorder = startPeerProcess(NODE, [MAIN, 'recorder'], { env });
    await waitUntil('recorder /healthz', async () => (await fetch(`${api}/healthz`)).ok, recorder, 30_000);
  };
  const status = async () => (await (await fetch(`${api}/status`)).json()) as RecorderStatus;
  const transcript = async (): Promise<TranscriptRecord[]> => {
    const text = await readFile(join(dataDir, 'transcript', 'transcript.jsonl'), 'utf8');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as TranscriptRecord);
  };
  const waitForEvents = async (ids: string[], timeoutMs = 45_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const have = new Set((await transcript()).map((r) => r.eventId));
      const missing = ids.filter((id) => !have.has(id));
      if (missing.length === 0) return;
      if (Date.now() > deadline || recorder?.exited()) {
        throw new Error(`not recorded: ${missing.join(', ')}\n${recorder?.output().slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  before(async () => {
    synapse = await startSynapse({
      serverName: SERVER,
      aliasCreators: [mxid(ADMIN.handle)],
      turnUris: [],
      turnSharedSecret: randomBytes(32).toString('base64url'),
    });
    dir = await mkdtemp(join(tmpdir(), 'warroom-recorder-'));
    dataDir = join(dir, 'data');
    await writeFile(join(dir, 'password'), `${RECORDER.password}\n`, { mode: 0o400 });
    const port = await freeTcpPort();
    api = `http://127.0.0.1:${port}`;
    env = {
      PATH: process.env.PATH,
      [RECORDER_ENV.homeserverUrl]: synapse.baseUrl,
      [RECORDER_ENV.user]: RECORDER.handle,
      [RECORDER_ENV.serverName]: SERVER,
      [RECORDER_ENV.passwordFile]: join(dir, 'password'),
      [RECORDER_ENV.dataDir]: dataDir,
      [RECORDER_ENV.listen]: `127.0.0.1:${port}`,
      [RECORDER_ENV.controlRoom]: `#control:${SERVER}`,
      [RECORDER_ENV.channel]: JSON.stringify({ name: 'ir-1', uid: 'u-1', caseId: 'IR-1', namespace: 'wr-ir-1' }),
      [RECORDER_ENV.logLevel]: 'info',
    };
    // The sidecar starts before its account exists (the provisioning Job registers it): it retries the login.
    await startRecorder();
  });

  after(async () => {
    for (const user of [...Object.values(users), ...extraUsers]) await user.stop().catch(() => {});
    if (recorder) {
      await recorder.stop();
      outputs.push(recorder.output());
    }
    await synapse?.stop();
    if (process.env.WARROOM_TEST_RECORDER_LOG)
      await writeFile(process.env.WARROOM_TEST_RECORDER_LOG, outputs.join('\n'));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('joins each room before any participant is invited (the provisioner waits for it)', async (t) => {
    const started = performance.now();
    summary = await provision({
      baseUrl: synapse.baseUrl,
      serverName: SERVER,
      registrationSharedSecret: synapse.secrets.registrationSharedSecret,
      adminBot: ADMIN,
      recorder: RECORDER,
      participants: PARTICIPANTS,
      recorderJoinTimeoutMs: 60_000,
      waitForRecorderJoin: async (roomId) => {
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          const s = await status().catch(() => undefined);
          if (s?.rooms.some((r) => r.roomId === roomId)) return;
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`recorder did not join ${roomId}`);
      },
    });
    t.diagnostic(`provisioned with the recorder joining by itself in ${Math.round(performance.now() - started)} ms`);
    ops = summary.rooms.find((r) => r.alias.startsWith('#ops'))?.roomId ?? '';
    control = summary.rooms.find((r) => r.alias.startsWith('#control'))?.roomId ?? '';
    assert.ok(ops && control);
    for (const p of PARTICIPANTS) users[p.handle] = await startSdkUser(synapse.baseUrl, p.handle, p.password);
    for (const user of Object.values(users)) {
      for (const roomId of [ops, control]) {
        await user.waitForMembership(roomId, 'invite');
        await user.joinRoom(roomId);
      }
    }
    await waitUntil('recorder ready', async () => (await fetch(`${api}/readyz`)).ok, recorder!, 60_000);
    // The room is recorded from t0: the create event is the room's first record.
    const deadline = Date.now() + 20_000;
    let first: TranscriptRecord | undefined;
    while (Date.now() < deadline) {
      first = (await transcript()).find((r) => r.roomId === ops);
      if (first) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(first?.type, 'm.room.create');
  });

  // Why a quick check after bootstrapCrossSigning reads false: every client (the recorder included) holds a copy
  // of the device keys cached BEFORE the signature was uploaded; it turns true only after the next /sync lists the
  // recorder in device_lists.changed and the client re-queries /keys/query (~200 ms here). The recorder waits for
  // its own view before it reports ready, so by the time a participant shares a room with it, it reads true.
  const signedByOwnerAsSeenBy = async (user: SdkUser, userId: string, deviceId: string) => {
    const deadline = Date.now() + 30_000;
    let seen = await user.deviceVerification(userId, deviceId);
    while (!seen?.signedByOwner && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      seen = await user.deviceVerification(userId, deviceId);
    }
    return seen;
  };
  const masterKeyOf = async (user: SdkUser, userId: string) => {
    const keys = await matrixRequest<{ master_keys?: Record<string, { keys: Record<string, string> }> }>(
      synapse.baseUrl,
      'POST',
      '/_matrix/client/v3/keys/query',
      { accessToken: user.accessToken, body: { device_keys: { [userId]: [] } } },
    );
    return Object.values(keys.master_keys?.[userId]?.keys ?? {})[0];
  };
  let masterKey: string | undefined;

  test('its device is cross-signed by its owner, as participants see it', async (t) => {
    const { userId, deviceId } = await status();
    assert.ok(deviceId);
    const started = performance.now();
    const seen = await signedByOwnerAsSeenBy(users.alice!, userId, deviceId);
    t.diagnostic(`alice: signedByOwner after ${Math.round(performance.now() - started)} ms: ${JSON.stringify(seen)}`);
    assert.equal(seen?.signedByOwner, true);
    masterKey = await masterKeyOf(users.alice!, userId);
    assert.ok(masterKey);
  });

  test('records messages, an edit, a redaction, a reaction, call signalling and a file, decrypted and in order', async () => {
    const { alice, bob, carol } = users as Record<string, SdkUser>;
    const file = randomBytes(70_000);
    const m1 = await alice!.sendText(ops, 'first: the VPN concentrator is compromised');
    const m2 = await bob!.sendText(ops, 'second: rotating the keys now');
    const m3 = await carol!.sendText(ops, 'third: noted');
    const edit = await alice!.sendEvent(ops, 'm.room.message', {
      msgtype: 'm.text',
      body: '* first: the VPN concentrator IS compromised',
      'm.new_content': { msgtype: 'm.text', body: 'first: the VPN concentrator IS compromised' },
      'm.relates_to': { rel_type: 'm.replace', event_id: m1 },
    });
    const redaction = await bob!.redact(ops, m2, 'wrong channel');
    const reaction = await carol!.sendEvent(ops, 'm.reaction', {
      'm.relates_to': { rel_type: 'm.annotation', event_id: m1, key: '👍' },
    });
    const call = await alice!.sendEvent(ops, 'm.call.invite', {
      call_id: 'c1',
      version: '1',
      lifetime: 60_000,
      offer: { type: 'offer', sdp: 'v=0' },
    });
    const fileEvent = await alice!.sendEncryptedFile(ops, 'ioc.bin', file, 'application/octet-stream');
    sent.push(m1, m2, m3, edit, redaction, reaction, call, fileEvent);
    await waitForEvents(sent);

    const text = await readFile(join(dataDir, 'transcript', 'transcript.jsonl'));
    const chain = verifyChain(text);
    assert.equal(chain.ok, true, JSON.stringify(chain));
    const records = await transcript();
    const byId = new Map(records.map((r) => [r.eventId, r]));
    // Server order = send order (one sender at a time).
    const positions = sent.map((id) => records.findIndex((r) => r.eventId === id));
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => a - b),
    );
    for (const id of sent) {
      const r = byId.get(id)!;
      // matrix-js-sdk sends redactions and reactions in clear (the server must read `redacts`; reactions by choice).
      if (id === redaction || id === reaction) {
        assert.equal(r.decryption, 'plaintext');
        continue;
      }
      assert.equal(r.decryption, 'decrypted', `${id} ${r.type} ${r.decryptionError ?? ''}`);
      assert.ok(r.ciphertext, 'the ciphertext is kept next to the plaintext');
      assert.ok(r.deviceId && r.senderKey && r.sessionId, 'the sender device and Megolm session are recorded');
    }
    assert.equal((byId.get(m1)!.content as { body: string }).body, 'first: the VPN concentrator is compromised');
    assert.equal(byId.get(m1)!.sender, mxid('alice'));
    assert.equal(byId.get(m1)!.deviceId, users.alice!.deviceId);
    assert.equal((byId.get(m2)!.content as { body: string }).body, 'second: rotating the keys now');
    assert.deepEqual(byId.get(edit)!.relatesTo, { rel_type: 'm.replace', event_id: m1 });
    assert.equal(byId.get(redaction)!.type, 'm.room.redaction');
    assert.deepEqual(byId.get(redaction)!.relatesTo, { rel_type: 'm.redaction', event_id: m2 });
    assert.equal(byId.get(reaction)!.type, 'm.reaction');
    assert.equal(byId.get(call)!.type, 'm.call.invite');
    const media = byId.get(fileEvent)!.media;
    assert.equal(media?.length, 1);
    const sha = createHash('sha256').update(file).digest('hex');
    assert.equal(media?.[0]?.sha256, sha);
    assert.deepEqual(await readFile(join(dataDir, 'transcript', media![0]!.file)), file);
    // Memberships, power levels and the rest of the room's state are recorded too.
    const types = new Set(records.filter((r) => r.roomId === ops).map((r) => r.type));
    for (const type of ['m.room.create', 'm.room.member', 'm.room.power_levels', 'm.room.encryption']) {
      assert.ok(types.has(type), `${type} recorded`);
    }
  });

  test('SIGKILL mid-conversation and restart: no gap, no duplicate, everything decrypted', async (t) => {
    const { alice, bob, carol } = users as Record<string, SdkUser>;
    const before = (await status()).deviceId;
    const k1 = await alice!.sendText(ops, 'k1: isolating the segment');
    const k2 = await bob!.sendText(ops, 'k2: ack');
    recorder!.child.kill('SIGKILL');
    for (let i = 0; i < 200 && !recorder!.exited(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(recorder!.exited(), 'SIGKILL ended the recorder');
    outputs.push(recorder!.output());
    // While it is down, the conversation goes on (in the Megolm sessions the recorder already holds).
    const d1 = await carol!.sendText(ops, 'd1: sent while the recorder is down');
    const d2 = await alice!.sendText(ops, 'd2: also while down');
    const d3 = await bob!.sendText(ops, 'd3: and this');
    const restarted = performance.now();
    await startRecorder();
    await waitUntil('recorder ready again', async () => (await fetch(`${api}/readyz`)).ok, recorder!, 90_000);
    t.diagnostic(`restart to ready: ${Math.round(performance.now() - restarted)} ms`);
    const after = await status();
    assert.notEqual(after.deviceId, before, 'a new device');
    const a1 = await alice!.sendText(ops, 'a1: after the restart');
    const ids = [k1, k2, d1, d2, d3, a1];
    sent.push(...ids);
    await waitForEvents(ids, 60_000);

    const records = await transcript();
    assert.equal(verifyChain(await readFile(join(dataDir, 'transcript', 'transcript.jsonl'))).ok, true);
    const eventIds = records.filter((r) => r.kind === 'event').map((r) => r.eventId);
    assert.equal(new Set(eventIds).size, eventIds.length, 'no event recorded twice');
    for (const id of ids) {
      const r = records.find((x) => x.eventId === id)!;
      assert.equal(r.decryption, 'decrypted', `${id}: ${r.decryptionError ?? ''}`);
    }
    // No gap: everything the server has for the room (as alice sees it) is in the transcript.
    const server: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 50; page++) {
      const q = new URLSearchParams({ dir: 'b', limit: '100', ...(from ? { from } : {}) });
      const res = await matrixRequest<{ chunk: Array<{ event_id: string }>; end?: string }>(
        synapse.baseUrl,
        'GET',
        `/_matrix/client/v3/rooms/${encodeURIComponent(ops)}/messages?${q}`,
        { accessToken: alice!.accessToken },
      );
      server.push(...res.chunk.map((e) => e.event_id));
      if (!res.end || res.chunk.length === 0) break;
      from = res.end;
    }
    const recorded = new Set(eventIds);
    assert.deepEqual(
      server.filter((id) => !recorded.has(id)),
      [],
    );
    // The new device carries the SAME identity (no reset: participants see no identity change), and is signed by it;
    // the killed device is gone, so nobody keeps encrypting for it.
    assert.equal(await masterKeyOf(alice!, after.userId), masterKey);
    const verification = await signedByOwnerAsSeenBy(alice!, after.userId, after.deviceId!);
    assert.equal(verification?.signedByOwner, true);
    const devices = await matrixRequest<{ device_keys: Record<string, Record<string, unknown>> }>(
      synapse.baseUrl,
      'POST',
      '/_matrix/client/v3/keys/query',
      { accessToken: alice!.accessToken, body: { device_keys: { [after.userId]: [] } } },
    );
    assert.deepEqual(Object.keys(devices.device_keys[after.userId] ?? {}), [after.deviceId]);
  });

  test('a participant logging in on a new device is announced in #control', async () => {
    // carol's devices are the baseline once she is seen in a room; wait until the recorder has it on disk.
    await waitUntil(
      'carol in the device baseline',
      async () => {
        const state = JSON.parse(await readFile(join(dataDir, 'recorder-state.json'), 'utf8'));
        return Array.isArray(state.devices?.[mxid('carol')]);
      },
      recorder!,
      20_000,
    );
    const carol = PARTICIPANTS.find((p) => p.handle === 'carol')!;
    const second = await startSdkUser(synapse.baseUrl, carol.handle, carol.password);
    extraUsers.push(second);
    const notice = await users.alice!.waitForDecryptedText(control, second.deviceId, 40_000);
    assert.equal(notice.sender, mxid(RECORDER.handle));
    assert.match(notice.body, new RegExp(`^@carol:${SERVER.replace('.', '\\.')} logged in from a new device`));
  });

  test('POST /notices posts an encrypted m.notice that participants decrypt', async () => {
    const text = `TTL warning ${randomBytes(4).toString('hex')}: this room closes in 10 minutes`;
    const res = await fetch(`${api}/notices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    assert.equal(res.status, 202);
    const seen = await users.bob!.waitForDecryptedText(control, text, 30_000);
    assert.equal(seen.sender, mxid(RECORDER.handle));
    const bad = await fetch(`${api}/notices`, { method: 'POST', body: '{"text": 3}' });
    assert.equal(bad.status, 400);
  });

  // The forward cursor is what makes capture gap-free; the seal's backwards completeness check is the independent
  // second line. Prove it catches a gap: stop the recorder, send two messages, move the persisted cursor past them
  // (as a damaged state file might), restart. The forward catch-up misses them; the seal must record them late.
  const skipped: string[] = [];
  test('a cursor moved past events leaves them out of the catch-up (setting up the completeness check)', async () => {
    // Both senders speak first, so the recorder holds their current Megolm sessions (the point here is the
    // completeness check, not the key-loss case the SIGKILL test covers).
    await waitForEvents([
      await users.alice!.sendText(ops, 'before the stop (alice)'),
      await users.bob!.sendText(ops, 'before the stop (bob)'),
    ]);
    await recorder!.stop();
    outputs.push(recorder!.output());
    skipped.push(await users.alice!.sendText(ops, 'skipped-1: sent while the cursor will be moved past it'));
    skipped.push(await users.bob!.sendText(ops, 'skipped-2: likewise'));
    const end = await matrixRequest<{ start: string }>(
      synapse.baseUrl,
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(ops)}/messages?dir=b&limit=1`,
      { accessToken: users.alice!.accessToken },
    );
    const statePath = join(dataDir, 'recorder-state.json');
    const state = JSON.parse(await readFile(statePath, 'utf8'));
    state.cursors[ops] = end.start;
    await writeFile(statePath, JSON.stringify(state));
    await startRecorder();
    await waitUntil('recorder ready again', async () => (await fetch(`${api}/readyz`)).ok, recorder!, 90_000);
    const have = new Set((await transcript()).map((r) => r.eventId));
    assert.deepEqual(
      skipped.filter((id) => have.has(id)),
      [],
    );
  });

  test('POST /seal returns the export tar, ends the transcript with the seal record, and is idempotent', async (t) => {
    assert.equal((await fetch(`${api}/archive`)).status, 404);
    const last = await users.carol!.sendText(ops, 'last words before the seal');
    const started = performance.now();
    const res = await fetch(`${api}/seal`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-tar');
    const tar = new Uint8Array(await res.arrayBuffer());
    t.diagnostic(`seal + export: ${Math.round(performance.now() - started)} ms, ${tar.length} bytes`);
    const records = await transcript();
    assert.equal(records.at(-1)?.kind, 'seal');
    // The completeness check recorded the skipped events late, decrypted, before the seal record, and says so.
    for (const id of skipped) {
      const r = records.find((x) => x.eventId === id);
      assert.equal(r?.decryption, 'decrypted', `${id}: ${r?.decryptionError} ${r?.sessionId}`);
    }
    assert.match(
      String((records.at(-1)?.content as { note?: string } | undefined)?.note),
      /2 event\(s\) recorded late/,
    );
    assert.ok(
      records.some((r) => r.eventId === last),
      'what was sent before the seal is in',
    );
    const { entries } = readTar(tar);
    const names = entries.map((e) => e.name);
    assert.ok(names.includes('transcript.jsonl'), names.join(','));
    assert.ok(names.some((n) => n.startsWith('media/')));
    const report = verifyArchive(tar, { unsigned: true });
    assert.equal(report.ok, true, JSON.stringify(report.checks.filter((c) => !c.ok)));
    assert.equal(report.manifest?.transcript.headHash, (await status()).headHash);
    assert.equal(report.manifest?.channel.caseId, 'IR-1');
    const again = new Uint8Array(await (await fetch(`${api}/seal`, { method: 'POST' })).arrayBuffer());
    assert.deepEqual(again, tar);
    const archived = new Uint8Array(await (await fetch(`${api}/archive`)).arrayBuffer());
    assert.deepEqual(archived, tar);
    const s = await status();
    assert.equal(s.sealed, true);
    assert.equal(s.lines, records.length);
    const metrics = await (await fetch(`${api}/metrics`)).text();
    assert.match(metrics, new RegExp(`warroom_recorder_transcript_head_info\\{head="${s.headHash}"\\} 1`));
    assert.match(metrics, /warroom_recorder_events_total\{decryption="decrypted"\} \d+/);
  });

  test('no secret reaches its log', async () => {
    const output = outputs.join('\n') + (recorder?.output() ?? '');
    assert.ok(output.length > 0);
    for (const secret of SECRETS) assert.equal(output.includes(secret), false, 'a password reached the log');
    for (const user of Object.values(users)) assert.equal(output.includes(user.accessToken), false);
    assert.equal(output.includes('rotating the keys now'), false, 'a message body reached the log');
  });

  test('a broken environment fails with a one-line reason and exit code 1', async () => {
    const err = await promisify(execFile)(NODE, [MAIN, 'recorder'], {
      env: { PATH: process.env.PATH, [RECORDER_ENV.listen]: 'nope' },
    }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    assert.equal(err?.code, 1);
    assert.match(err?.stderr ?? '', /warroom: recorder configuration: WARROOM_RECORDER_HOMESERVER_URL/);
    assert.match(err?.stderr ?? '', /WARROOM_RECORDER_LISTEN: expected host:port/);
  });
});
