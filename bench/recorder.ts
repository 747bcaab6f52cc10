// Recorder throughput and seal time against a real Synapse, with the recorder as the image runs it (a child process
// configured by env). Figures:
//   1. plaintext flood: a raw client sends BENCH_FLOOD (default 2000) messages, 8 in flight; events recorded per
//      second from the first send to the last event in the transcript, and the lag after the last send;
//   2. encrypted: a matrix-js-sdk participant sends BENCH_ENCRYPTED (default 200) E2EE messages; decrypted events
//      recorded per second;
//   3. backlog: the room is topped up to BENCH_SEAL_EVENTS (default 10 000) events while the recorder is paused
//      (SIGSTOP); its catch-up rate after SIGCONT is the recorder's own throughput (paging /messages, fsync'd);
//   4. seal: POST /seal (final catch-up, backwards completeness check of every room, seal record, unsigned export
//      tar with the HTML rendering) with that many events in the room.
// npm run bench -- recorder
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startCluster } from '../hack/cluster/local-cluster.ts';
import { encodePathSegment as enc, matrixRequest } from '../src/matrix/matrix-http.ts';
import { provision } from '../src/matrix/provisioner.ts';
import { loginWithPassword } from '../src/matrix/register.ts';
import { RECORDER_ENV } from '../src/recorder/config.ts';
import type { RecorderStatus } from '../src/recorder/recorder.ts';
import { describeCluster } from '../test/cluster/index.ts';
import { kubectl } from '../test/support/kubectl.ts';
import { freeTcpPort } from '../test/support/matrix-ports.ts';
import { startPeerProcess, waitUntil } from '../test/support/matrix-process.ts';
import { startSdkUser } from '../test/support/matrix-sdk-client.ts';
import { installCrd, startTestOperator, testShard } from '../test/support/operator.ts';
import { startSynapse } from '../test/support/synapse-peer.ts';
import { MAIN, NODE, warRoomAccounts } from '../test/support/war-room-accounts.ts';

const FLOOD = Number(process.env.BENCH_FLOOD ?? 2000);
const ENCRYPTED = Number(process.env.BENCH_ENCRYPTED ?? 200);
const SEAL_EVENTS = Number(process.env.BENCH_SEAL_EVENTS ?? 10_000);
const IN_FLIGHT = 8;
const SERVER = 'inc-bench.invalid';
const {
  admin: ADMIN,
  recorder: RECORDER,
  participants: PARTICIPANTS,
} = warRoomAccounts([
  { handle: 'alice', role: 'lead' },
  { handle: 'bob', role: 'responder' },
]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => (ms / 1000).toFixed(2);

const synapse = await startSynapse({
  serverName: SERVER,
  aliasCreators: [`@${ADMIN.handle}:${SERVER}`],
  turnUris: [],
  turnSharedSecret: randomBytes(32).toString('base64url'),
});
const dir = await mkdtemp(join(tmpdir(), 'warroom-bench-recorder-'));
const port = await freeTcpPort();
const api = `http://127.0.0.1:${port}`;
await writeFile(join(dir, 'password'), RECORDER.password, { mode: 0o400 });
const recorder = startPeerProcess(NODE, [MAIN, 'recorder'], {
  env: {
    PATH: process.env.PATH,
    [RECORDER_ENV.homeserverUrl]: synapse.baseUrl,
    [RECORDER_ENV.user]: RECORDER.handle,
    [RECORDER_ENV.serverName]: SERVER,
    [RECORDER_ENV.passwordFile]: join(dir, 'password'),
    [RECORDER_ENV.dataDir]: join(dir, 'data'),
    [RECORDER_ENV.listen]: `127.0.0.1:${port}`,
    [RECORDER_ENV.controlRoom]: `#control:${SERVER}`,
    [RECORDER_ENV.channel]: JSON.stringify({ name: 'bench', uid: 'u', caseId: 'BENCH-1', namespace: 'wr-bench' }),
    [RECORDER_ENV.logLevel]: 'info',
  },
});
const status = async () => (await (await fetch(`${api}/status`)).json()) as RecorderStatus;

// A local control plane and the operator, pointed at this recorder, for the close → namespace-delete figure.
const local = await startCluster({ log: () => {} });
const cluster = describeCluster(local);
await installCrd(cluster);
const k = kubectl(cluster);
const shard = testShard();
const operatorLog: string[] = [];
const logLines = new Writable({
  write(chunk, _enc, done) {
    operatorLog.push(...String(chunk).split('\n').filter(Boolean));
    done();
  },
});
const operator = await startTestOperator(cluster, {
  selector: shard.selector,
  logTo: logLines,
  args: [
    '--evidence-policy=require',
    `--recorder-status-url=${api}`,
    `--recorder-control-url=${api}`,
    `--evidence-dir=${join(dir, 'archives')}`,
    `--signing-key=${join(dir, 'signing-key.pem')}`,
  ],
});
const channelName = `bench-${randomBytes(3).toString('hex')}`;
await k.apply({
  apiVersion: 'warroom.dev/v1alpha1',
  kind: 'IncidentChannel',
  metadata: { name: channelName, labels: { [shard.label]: shard.value } },
  spec: {
    caseId: channelName,
    ttl: '72h',
    calls: { enabled: false },
    participants: [{ handle: 'alice', role: 'lead' }],
  },
});
/** When the operator logged a line containing `text` (performance.now() clock), waiting for it up to `timeoutMs`. */
const eventuallyLog = async (text: string, timeoutMs: number): Promise<number> => {
  const t0 = performance.now();
  for (;;) {
    if (operatorLog.some((l) => l.includes(text))) return performance.now();
    if (performance.now() - t0 > timeoutMs) throw new Error(`the operator never logged ${text}`);
    await sleep(10);
  }
};
const cleanup = async () => {
  await operator.stop();
  await local.stop();
  await recorder.stop();
  await synapse.stop();
  await rm(dir, { recursive: true, force: true });
};

try {
  await waitUntil('recorder /healthz', async () => (await fetch(`${api}/healthz`)).ok, recorder, 30_000);
  const summary = await provision({
    baseUrl: synapse.baseUrl,
    serverName: SERVER,
    registrationSharedSecret: synapse.secrets.registrationSharedSecret,
    adminBot: ADMIN,
    recorder: RECORDER,
    participants: PARTICIPANTS,
    waitForRecorderJoin: async (roomId) => {
      for (let i = 0; i < 600; i++) {
        if ((await status().catch(() => undefined))?.rooms.some((r) => r.roomId === roomId)) return;
        await sleep(100);
      }
      throw new Error(`recorder did not join ${roomId}`);
    },
  });
  const ops = summary.rooms.find((r) => r.alias.startsWith('#ops'))?.roomId ?? '';
  await waitUntil('recorder ready', async () => (await fetch(`${api}/readyz`)).ok, recorder, 60_000);

  // Participants without rate limits (Synapse's default is 0.2 messages/s after a burst of 10), so the figures are
  // the recorder's and the homeserver's, not the limiter's. The raw client is bob, joined to #ops.
  const admin = await loginWithPassword(synapse.baseUrl, ADMIN.handle, ADMIN.password);
  for (const user of ['alice', 'bob']) {
    await matrixRequest(
      synapse.baseUrl,
      'POST',
      `/_synapse/admin/v1/users/${enc(`@${user}:${SERVER}`)}/override_ratelimit`,
      { accessToken: admin.accessToken, body: { messages_per_second: 0, burst_count: 0 } },
    );
  }
  const bob = await loginWithPassword(synapse.baseUrl, 'bob', PARTICIPANTS[1]!.password);
  await matrixRequest(synapse.baseUrl, 'POST', `/_matrix/client/v3/rooms/${enc(ops)}/join`, {
    accessToken: bob.accessToken,
    body: {},
  });
  let txn = 0;
  const flood = async (count: number): Promise<number> => {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        await matrixRequest(
          synapse.baseUrl,
          'PUT',
          `/_matrix/client/v3/rooms/${enc(ops)}/send/m.room.message/bench-${txn++}`,
          { accessToken: bob.accessToken, body: { msgtype: 'm.text', body: `flood ${i}` } },
        );
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    return performance.now() - t0;
  };
  const waitForEvents = async (target: number, timeoutMs: number): Promise<number> => {
    const t0 = performance.now();
    for (;;) {
      const s = await status();
      if (s.events >= target) return performance.now() - t0;
      if (performance.now() - t0 > timeoutMs || recorder.exited()) {
        throw new Error(`recorder at ${s.events}/${target} events\n${recorder.output().slice(-2000)}`);
      }
      await sleep(50);
    }
  };

  // 1. Plaintext flood.
  const base = (await status()).events;
  const t0 = performance.now();
  const sendMs = await flood(FLOOD);
  const lagMs = await waitForEvents(base + FLOOD, 300_000);
  const totalMs = performance.now() - t0;
  console.log(
    `plaintext flood: ${FLOOD} messages sent in ${seconds(sendMs)} s (${(FLOOD / (sendMs / 1000)).toFixed(0)}/s); ` +
      `all recorded ${seconds(totalMs)} s after the first send: ${(FLOOD / (totalMs / 1000)).toFixed(0)} events/s, ` +
      `lag after the last send ${lagMs.toFixed(0)} ms`,
  );

  // 2. Encrypted messages from a real matrix-js-sdk participant.
  const alice = await startSdkUser(synapse.baseUrl, 'alice', PARTICIPANTS[0]!.password);
  await alice.waitForMembership(ops, 'invite');
  await alice.joinRoom(ops);
  await sleep(500);
  const before = await status();
  const e0 = performance.now();
  await Promise.all(Array.from({ length: ENCRYPTED }, (_, i) => alice.sendText(ops, `encrypted ${i}`)));
  const sentMs = performance.now() - e0;
  await waitForEvents(before.events + ENCRYPTED, 300_000);
  const encMs = performance.now() - e0;
  const after = await status();
  console.log(
    `encrypted: ${ENCRYPTED} messages sent by matrix-js-sdk in ${seconds(sentMs)} s; all recorded ` +
      `${seconds(encMs)} s after the first send (${(ENCRYPTED / (encMs / 1000)).toFixed(0)} events/s), ` +
      `decrypted +${after.decrypted - before.decrypted}, failed +${after.failed - before.failed}`,
  );
  await alice.stop();

  // 3. Seal and export with SEAL_EVENTS events in the room.
  const inRoom = (s: RecorderStatus) => s.rooms.find((r) => r.roomId === ops)?.events ?? 0;
  const beforeTopUp = await status();
  const topUp = Math.max(0, SEAL_EVENTS - inRoom(beforeTopUp));
  // The recorder is paused (SIGSTOP) during the top-up, so its catch-up of the backlog measures the recorder
  // itself rather than the homeserver's ingest rate.
  recorder.child.kill('SIGSTOP');
  const f0 = performance.now();
  try {
    await flood(topUp);
  } finally {
    recorder.child.kill('SIGCONT');
  }
  const floodMs = performance.now() - f0;
  const c0 = performance.now();
  await waitForEvents(beforeTopUp.events + topUp, 600_000);
  const catchUpMs = performance.now() - c0;
  console.log(
    `backlog: ${topUp} messages sent in ${seconds(floodMs)} s while the recorder was paused; caught up ` +
      `${seconds(catchUpMs)} s after it resumed: ${(topUp / (catchUpMs / 1000)).toFixed(0)} events/s`,
  );
  // The seal as teardown does it: the operator (on a local control plane) is asked to close the channel, seals
  // through this recorder, signs, stores and verifies the archive, then calls the namespace delete.
  const s0 = performance.now();
  await k.exec(['patch', 'incidentchannel', channelName, '--type=merge', '-p', '{"spec":{"closed":true}}']);
  const deleteCall = await eventuallyLog('"namespace delete requested"', 900_000);
  const closeToDeleteMs = deleteCall - s0;
  const archived = JSON.parse(operatorLog.find((l) => l.includes('"evidence archived and verified"')) ?? '{}') as {
    ms?: number;
    events?: number;
  };
  const tar = new Uint8Array(await (await fetch(`${api}/archive`)).arrayBuffer());
  const sealed = await status();
  console.log(
    `close → namespace delete call, with ${inRoom(sealed)} events in #ops (${sealed.events} in the transcript): ` +
      `${seconds(closeToDeleteMs)} s (seal, sign, store, verify: ${seconds(archived.ms ?? 0)} s of it), ` +
      `${(tar.length / 1024 / 1024).toFixed(1)} MiB archive`,
  );
  const sealLine = recorder
    .output()
    .split('\n')
    .find((l) => l.includes('"transcript sealed and exported"'));
  if (sealLine) {
    const { catchUpMs, completenessMs, exportMs } = JSON.parse(sealLine) as Record<string, number>;
    console.log(
      `  seal phases: catch-up ${catchUpMs} ms, completeness check ${completenessMs} ms, export ${exportMs} ms`,
    );
  }
  const rss = (await readFile(`/proc/${recorder.child.pid}/status`, 'utf8').catch(() => '')).match(/VmRSS:\s+(\d+)/);
  if (rss) console.log(`  recorder RSS after the seal: ${(Number(rss[1]) / 1024).toFixed(0)} MiB`);
  const r0 = performance.now();
  await (await fetch(`${api}/seal`, { method: 'POST' })).arrayBuffer();
  console.log(`second POST /seal (idempotent, cached export): ${(performance.now() - r0).toFixed(0)} ms`);
} finally {
  await cleanup();
}
