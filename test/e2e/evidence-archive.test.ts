// The whole evidence path with real peers: the operator (on the real local control plane) tears a channel down by
// asking a REAL recorder (the `recorder` entrypoint as a child process, recording a real Synapse provisioned by the
// real provisioner, with matrix-js-sdk participants) to seal, signs the export with its ed25519 key, stores it,
// verifies the stored copy, and only then deletes the namespace. The `warroom verify` CLI accepts the archive and
// names the first broken link once one byte of it changes. kwok runs no pods, so the recorder runs on loopback and
// the operator is pointed at it by its recorder URL settings.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { evidenceArchiveName, namespaceName } from '../../src/controllers/incidentchannel/names.ts';
import { loadOrCreateSigningKey, publicKeyOf } from '../../src/evidence/signing.ts';
import { readTar } from '../../src/evidence/tar.ts';
import type { TranscriptRecord } from '../../src/evidence/transcript.ts';
import { provision } from '../../src/matrix/provisioner.ts';
import type { Operator } from '../../src/operator.ts';
import { RECORDER_ENV } from '../../src/recorder/config.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { freeTcpPorts } from '../support/matrix-ports.ts';
import { type PeerProcess, startPeerProcess, waitUntil } from '../support/matrix-process.ts';
import { type SdkUser, startSdkUser } from '../support/matrix-sdk-client.ts';
import { installCrd, startTestOperator, testShard } from '../support/operator.ts';
import { type SynapsePeer, startSynapse } from '../support/synapse-peer.ts';
import { MAIN, NODE, warRoomAccounts } from '../support/war-room-accounts.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/warroom.mjs', import.meta.url));
const SERVER = 'inc-evidence.invalid';
const {
  admin: ADMIN,
  recorder: RECORDER,
  participants: PARTICIPANTS,
} = warRoomAccounts([
  { handle: 'alice', role: 'lead' },
  { handle: 'bob', role: 'responder' },
]);

const cluster = useCluster();
const shard = testShard();
const k = () => kubectl(cluster());
let operator: Operator;
let synapse: SynapsePeer;
let recorder: PeerProcess | undefined;
let dir: string;
let statusUrl: string;
let controlPort: number;
const users: SdkUser[] = [];

interface Channel {
  metadata: { name: string; uid: string };
  status?: {
    phase?: string;
    namespace?: string;
    recording?: { events?: number; headHash?: string };
    archive?: { location?: string; sha256?: string; verifiedAt?: string };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}
const condition = (c: Channel | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);

before(async () => {
  await installCrd(await cluster.ready());
  dir = await mkdtemp(join(tmpdir(), 'warroom-evidence-e2e-'));
  const [statusPort, freeControlPort] = (await freeTcpPorts(2)) as [number, number];
  controlPort = freeControlPort;
  statusUrl = `http://127.0.0.1:${statusPort}`;
  operator = await startTestOperator(cluster(), {
    selector: shard.selector,
    args: [
      '--evidence-policy=require',
      `--recorder-status-url=${statusUrl}`,
      `--recorder-control-url=http://127.0.0.1:${controlPort}`,
      `--evidence-dir=${join(dir, 'archives')}`,
      `--signing-key=${join(dir, 'signing-key.pem')}`,
    ],
  });
  synapse = await startSynapse({
    serverName: SERVER,
    aliasCreators: [`@${ADMIN.handle}:${SERVER}`],
    turnUris: [],
    turnSharedSecret: randomBytes(32).toString('base64url'),
  });
  await writeFile(join(dir, 'recorder-password'), `${RECORDER.password}\n`, { mode: 0o400 });
});

after(async () => {
  for (const u of users) await u.stop().catch(() => {});
  await recorder?.stop();
  await synapse?.stop();
  await operator?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('close: sealed by the recorder, signed, stored, verified, THEN the namespace goes; verify catches one byte', async (t) => {
  const suffix = randomBytes(3).toString('hex');
  const name = `evidence-${suffix}`;
  // As a ticket system writes it: a `/` and a `#` must reach neither the namespace nor the archive's file name.
  const caseId = `SN/INC#${suffix.toUpperCase()}`;
  await k().apply({
    apiVersion: 'warroom.dev/v1alpha1',
    kind: 'IncidentChannel',
    metadata: { name, labels: { [shard.label]: shard.value } },
    spec: { caseId, ttl: '72h', participants: PARTICIPANTS.map((p) => ({ handle: p.handle, role: p.role })) },
  });
  const created = await eventually('Ready', async () => {
    const c = await k().getJson<Channel>(['incidentchannel', name]);
    return c?.status?.phase === 'Ready' ? c : undefined;
  });
  const namespace = namespaceName(caseId, created.metadata.uid);
  assert.equal(created.status?.namespace, namespace);

  // The recorder as the sidecar runs it, for this channel.
  recorder = startPeerProcess(NODE, [MAIN, 'recorder'], {
    env: {
      PATH: process.env.PATH,
      [RECORDER_ENV.homeserverUrl]: synapse.baseUrl,
      [RECORDER_ENV.user]: RECORDER.handle,
      [RECORDER_ENV.serverName]: SERVER,
      [RECORDER_ENV.passwordFile]: join(dir, 'recorder-password'),
      [RECORDER_ENV.dataDir]: join(dir, 'recorder'),
      [RECORDER_ENV.listen]: new URL(statusUrl).host,
      [RECORDER_ENV.controlListen]: `127.0.0.1:${controlPort}`,
      [RECORDER_ENV.controlRoom]: `#control:${SERVER}`,
      [RECORDER_ENV.channel]: JSON.stringify({ name, uid: created.metadata.uid, caseId, namespace }),
      [RECORDER_ENV.logLevel]: 'warn',
    },
  });
  await waitUntil('recorder /healthz', async () => (await fetch(`${statusUrl}/healthz`)).ok, recorder, 30_000);
  const summary = await provision({
    baseUrl: synapse.baseUrl,
    serverName: SERVER,
    registrationSharedSecret: synapse.secrets.registrationSharedSecret,
    adminBot: ADMIN,
    recorder: RECORDER,
    participants: PARTICIPANTS,
    // As the Job does it: wait, as the admin bot, for the recorder to join by itself with a keyed device.
    recorderJoinsItself: true,
    recorderJoinTimeoutMs: 60_000,
  });
  const ops = summary.rooms.find((r) => r.alias.startsWith('#ops'))?.roomId ?? '';
  for (const p of PARTICIPANTS) {
    const user = await startSdkUser(synapse.baseUrl, p.handle, p.password);
    users.push(user);
    await user.waitForMembership(ops, 'invite');
    await user.joinRoom(ops);
  }
  const [alice, bob] = users as [SdkUser, SdkUser];
  await alice.sendText(ops, 'containment: the jump host is off the network');
  const lastId = await bob.sendText(ops, 'ack, imaging it now');
  await waitUntil(
    'the last message recorded',
    async () => (await readFile(join(dir, 'recorder', 'transcript', 'transcript.jsonl'), 'utf8')).includes(lastId),
    recorder,
    45_000,
  );

  // The operator copies the recorder's figures into status (a metadata change makes it look now).
  await k().exec(['annotate', 'incidentchannel', name, `warroom.dev/poke=${Date.now()}`, '--overwrite']);
  const recording = await eventually('Recording=True with figures', async () => {
    const c = await k().getJson<Channel>(['incidentchannel', name]);
    return condition(c, 'Recording')?.status === 'True' && (c?.status?.recording?.events ?? 0) > 0 ? c : undefined;
  });
  assert.match(recording.status?.recording?.headHash ?? '', /^[0-9a-f]{64}$/);

  const closing = performance.now();
  await k().exec(['patch', 'incidentchannel', name, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  const closed = await eventually(
    'Closed',
    async () => {
      const c = await k().getJson<Channel>(['incidentchannel', name]);
      return c?.status?.phase === 'Closed' ? c : undefined;
    },
    120_000,
  );
  t.diagnostic(`close → Closed (archive verified, namespace gone): ${Math.round(performance.now() - closing)} ms`);
  await eventually('namespace gone', async () => (await k().getJson(['namespace', namespace])) === undefined, 60_000);
  assert.equal(condition(closed, 'EvidenceArchived')?.status, 'True');
  const location = closed.status?.archive?.location ?? '';
  assert.equal(location, join(dir, 'archives', evidenceArchiveName(caseId, created.metadata.uid)));
  assert.match(closed.status?.archive?.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.ok(closed.status?.archive?.verifiedAt);
  // The final figures include the seal record's chain: events at least what was seen while live.
  assert.ok((closed.status?.recording?.events ?? 0) >= (recording.status?.recording?.events ?? 0));

  // `warroom verify` with the operator's public key pinned: valid; one changed byte: invalid, first link named.
  const publicKeyFile = join(dir, 'operator.pub.pem');
  const key = publicKeyOf(await loadOrCreateSigningKey(join(dir, 'signing-key.pem')));
  await writeFile(publicKeyFile, key.export({ type: 'spki', format: 'pem' }).toString());
  const ok = await run(NODE, [BIN, 'verify', location, '--public-key', publicKeyFile]);
  assert.match(ok.stdout, /valid/i);
  assert.ok(ok.stdout.includes(`case ${caseId}`), ok.stdout); // the signed manifest keeps the id as written
  const bytes = new Uint8Array(await readFile(location));
  // The operator's "closing now" notice went through the recorder into #control, and is itself in the transcript.
  const transcriptEntry = readTar(bytes).entries.find((e) => e.name === 'transcript.jsonl');
  const records = Buffer.from(transcriptEntry?.data ?? new Uint8Array())
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TranscriptRecord);
  assert.ok(
    records.some(
      (r) =>
        (r.content as { msgtype?: string; body?: string } | undefined)?.msgtype === 'm.notice' &&
        /closing now/.test((r.content as { body?: string }).body ?? ''),
    ),
    'the closing notice is in the transcript',
  );
  assert.equal(records.at(-1)?.kind, 'seal');
  const text = Buffer.from(bytes).toString('latin1');
  // The transcript line (JSON), not its HTML rendering: the chain must name the line.
  const at = text.indexOf('"body":"ack, imaging it now') + '"body":"'.length;
  assert.ok(at > 10, 'the plaintext is in the archived transcript');
  bytes[at] = bytes[at] === 0x61 ? 0x62 : 0x61;
  const tampered = join(dir, 'tampered.tar');
  await writeFile(tampered, bytes);
  const bad = await run(NODE, [BIN, 'verify', tampered, '--public-key', publicKeyFile]).then(
    () => assert.fail('a tampered archive must not verify'),
    (err: { code?: number; stdout?: string }) => err,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stdout ?? '', /line \d+/i);
});
